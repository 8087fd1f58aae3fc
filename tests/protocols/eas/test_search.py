"""EAS Search, Find and ResolveRecipients against a real server: mail found by free
text, folder, date and conversation, paged by Range with the right Total; accounts found
in the GAL; recipients resolved against the accounts and the account's address book;
bad queries answered with their Status, never a crash."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.model import CollectionKind
from smsync.protocols.eas.mailquery import conversation_id, parse_free_text, parse_long_id, Term
from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import OTHER, USER
from tests.protocols.eas import test_eas_endpoint as endpoint
from tests.protocols.eas.test_eas_endpoint import block, post, provision

# The endpoint tests' fixture: a TLS server serving EAS.
server = endpoint.server

S = "Search:"
AS = "AirSync:"
EMAIL = "Email:"
BASE = "AirSyncBase:"
F = "Find:"
RR = "ResolveRecipients:"
GAL = "Gal:"


def e(ns, tag, *children, text=None, opaque=None):
    return Element(ns, tag, children, text, opaque)


def message(subject: str, body: str, sender: str = "carol@example.net", to: str = USER,
            extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"
            f"Message-ID: <{abs(hash((subject, body)))}@example.net>\r\n\r\n{body}\r\n").encode()


def mail_search(*query, options=(), store="Mailbox"):
    return e(S, "Search", e(S, "Store", e(S, "Name", text=store), e(S, "Query", *query),
                            *((e(S, "Options", *options),) if options else ())))


def store_of(tree):
    assert tree.find(S, "Status").text == "1"
    return tree.find(S, "Response").find(S, "Store")


def results(store):
    return [r for r in store.children if r.tag == "Result" and r.children]


def subjects(store):
    return [r.find(S, "Properties").find(EMAIL, "Subject").text for r in results(store)]


async def deliver_at(server, folder, *items):
    """Append ``(body, received)`` pairs to ``folder`` of USER."""
    box = await server.mailbox(folder)
    return [(await box.append(body, internal_date=when)).uid for body, when in items]


def day(n: int) -> datetime:
    return datetime(2024, 1, n, 12, 0, tzinfo=timezone.utc)


# -- pure parts --------------------------------------------------------------------------


def test_free_text_terms():
    assert parse_free_text('Budget  "Q3 plan" from:Carol subject:Hi x:y sent:2024') == (
        Term("budget"), Term("q3 plan"), Term("carol", "from"), Term("hi", "subject"),
        Term("x:y"))
    assert parse_free_text("") == () and parse_free_text(None) == ()
    assert parse_long_id("abc:12") == ("abc", 12) and parse_long_id("abc") is None
    assert parse_long_id("a:b:7") == ("a:b", 7) and parse_long_id(":7") is None


# -- Search Mailbox ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_search_mail_by_text_folder_and_date(server):
    mail = await server.store.mail(USER)
    await mail.create_mailbox("Projects/Old")
    await deliver_at(server, "INBOX",
                     (message("Budget review", "numbers inside"), day(1)),
                     (message("Lunch", "the budget is fine", sender="dave@example.net"), day(2)),
                     (message("Holiday", "nothing here"), day(3)))
    await deliver_at(server, "Projects/Old", (message("Old budget", "archived"), day(4)))
    inbox = (await mail.mailbox("INBOX")).id
    projects = (await mail.mailbox("Projects")).id
    await deferToThread(_search_mail, server, inbox, projects)


def _search_mail(server, inbox, projects):
    port = server.port("eas", tls=True)
    key = provision(port)

    def run(*query, options=()):
        status, _, tree = post(port, "Search", mail_search(*query, options=options), policy_key=key)
        assert status == 200
        return store_of(tree)

    # Free text in subject or body, every folder, newest first.
    store = run(e(S, "And", e(AS, "Class", text="Email"), e(S, "FreeText", text="BUDGET")))
    assert store.find(S, "Status").text == "1"
    assert subjects(store) == ["Old budget", "Lunch", "Budget review"]
    assert store.find(S, "Total").text == "3" and store.find(S, "Range").text == "0-2"
    first = results(store)[0]
    assert first.find(AS, "Class").text == "Email"
    assert first.find(AS, "CollectionId").text != inbox
    assert parse_long_id(first.find(S, "LongId").text)[0] == first.find(AS, "CollectionId").text
    props = first.find(S, "Properties")
    assert props.find(EMAIL, "From").text == "carol@example.net"
    assert props.find(BASE, "Body").find(BASE, "Data").text.strip() == "archived"

    # One folder; a field restriction; words that must all occur.
    store = run(e(S, "And", e(AS, "CollectionId", text=inbox), e(S, "FreeText", text="budget")))
    assert subjects(store) == ["Lunch", "Budget review"]
    assert subjects(run(e(S, "FreeText", text="budget from:dave"))) == ["Lunch"]
    assert subjects(run(e(S, "FreeText", text="budget holiday"))) == []

    # The parent folder alone holds nothing; with DeepTraversal its subfolder is searched.
    assert subjects(run(e(S, "And", e(AS, "CollectionId", text=projects),
                          e(S, "FreeText", text="budget")))) == []
    assert subjects(run(e(S, "And", e(AS, "CollectionId", text=projects),
                          e(S, "FreeText", text="budget")),
                        options=(e(S, "DeepTraversal"),))) == ["Old budget"]

    # DateReceived window.
    window = e(S, "And", e(S, "FreeText", text="budget"),
               e(S, "GreaterThan", e(EMAIL, "DateReceived"), e(S, "Value", text="2024-01-01T18:00:00.000Z")),
               e(S, "LessThan", e(EMAIL, "DateReceived"), e(S, "Value", text="2024-01-03T00:00:00.000Z")))
    assert subjects(run(window)) == ["Lunch"]

    # Body preference: the body cut to the truncation asked.
    store = run(e(S, "FreeText", text="lunch"), options=(
        e(BASE, "BodyPreference", e(BASE, "Type", text="1"), e(BASE, "TruncationSize", text="3")),))
    body = results(store)[0].find(S, "Properties").find(BASE, "Body")
    assert body.find(BASE, "Data").text == "the" and body.find(BASE, "Truncated").text == "1"

    # Other classes are not searched; nothing found still answers Status 1 and Total 0.
    store = run(e(S, "And", e(AS, "Class", text="Contacts"), e(S, "FreeText", text="budget")))
    assert store.find(S, "Status").text == "1" and store.find(S, "Total").text == "0"
    assert store.find(S, "Range") is None


@pytest_twisted.ensureDeferred
async def test_search_paging_range_and_total(server):
    await deliver_at(server, "INBOX", *((message(f"report {n:02}", "weekly"), day(n)) for n in range(1, 24)))
    await deferToThread(_paging, server)


def _paging(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    seen = []
    for first in (0, 10, 20):
        status, _, tree = post(port, "Search", mail_search(
            e(S, "FreeText", text="weekly"), options=(e(S, "Range", text=f"{first}-{first + 9}"),
                                                      e(S, "RebuildResults"))), policy_key=key)
        store = store_of(tree)
        assert store.find(S, "Total").text == "23"
        got = subjects(store)
        assert store.find(S, "Range").text == f"{first}-{first + len(got) - 1}"
        seen += got
    assert len(seen) == 23 and seen == [f"report {n:02}" for n in range(23, 0, -1)]
    # A window past the end: no results, the Total still told.
    _, _, tree = post(port, "Search", mail_search(
        e(S, "FreeText", text="weekly"), options=(e(S, "Range", text="50-59"),)), policy_key=key)
    store = store_of(tree)
    assert results(store) == [] and store.find(S, "Total").text == "23"


@pytest_twisted.ensureDeferred
async def test_search_by_conversation(server):
    root = message("Plan", "first", extra="")
    uids = await server.deliver(root, message("Re: Plan", "second", extra="In-Reply-To: <r@x>\r\nReferences: <r@x>\r\n"),
                                message("Re: Plan", "third", extra="References: <r@x> <s@x>\r\n"),
                                message("Other", "fourth"))
    box = await server.mailbox()
    structure = (await box.structures([uids[1]]))[uids[1]]
    await deferToThread(_conversation, server, conversation_id(structure))


def _conversation(server, conversation):
    port = server.port("eas", tls=True)
    key = provision(port)
    status, _, tree = post(port, "Search", mail_search(
        e(S, "And", e(AS, "Class", text="Email"), e(S, "ConversationId", opaque=conversation))),
        policy_key=key)
    assert sorted(r.find(S, "Properties").find(EMAIL, "Subject").text
                  for r in results(store_of(tree))) == ["Re: Plan", "Re: Plan"]


@pytest_twisted.ensureDeferred
async def test_bad_searches_get_their_status(server):
    await server.deliver(message("hello", "world"))
    await deferToThread(_bad_searches, server)


def _bad_searches(server):
    port = server.port("eas", tls=True)
    key = provision(port)

    def status_of(body):
        status, _, tree = post(port, "Search", body, policy_key=key)
        assert status == 200
        assert tree.find(S, "Status").text == "1"
        return tree.find(S, "Response").find(S, "Store").find(S, "Status").text

    date = lambda text: e(S, "GreaterThan", e(EMAIL, "DateReceived"), e(S, "Value", text=text))  # noqa: E731
    assert status_of(mail_search(e(S, "Or", e(S, "FreeText", text="a"), e(S, "FreeText", text="b")))) == "8"
    assert status_of(mail_search(e(S, "EqualTo", e(EMAIL, "Subject"), e(S, "Value", text="x")))) == "8"
    assert status_of(mail_search(e(S, "GreaterThan", e(EMAIL, "Subject"), e(S, "Value", text="x")))) == "8"
    assert status_of(mail_search(date("yesterday"))) == "2"
    assert status_of(mail_search(e(S, "FreeText", text="x"), options=(e(S, "Range", text="9-2"),))) == "2"
    assert status_of(mail_search(e(S, "FreeText", text="x"), options=(e(S, "Range", text="a-b"),))) == "2"
    assert status_of(mail_search(e(AS, "CollectionId", text="no-such-folder"))) == "2"
    assert status_of(mail_search(e(AS, "Class", text="Spaceship"))) == "2"
    assert status_of(mail_search(e(S, "FreeText", text="x"), options=(e(S, "DeepTraversal"),))) == "2"
    assert status_of(e(S, "Search", e(S, "Store", e(S, "Name", text="Mailbox")))) == "2"
    assert status_of(mail_search()) == "2"
    assert status_of(mail_search(e(S, "FreeText", text="x"), store="DocumentLibrary")) == "2"
    assert status_of(e(S, "Search")) == "2"
    assert post(port, "Search", e(S, "Store"), policy_key=key)[0] == 400
    # The server still answers a good search afterwards.
    status, _, tree = post(port, "Search", mail_search(e(S, "FreeText", text="world")), policy_key=key)
    assert subjects(store_of(tree)) == ["hello"]
    log = block(server.store.devices.get_log(USER, "eas-raw01"))
    assert any("too complex" in entry.message for entry in log)
    assert any("invalid request" in entry.message for entry in log)


@pytest_twisted.ensureDeferred
async def test_a_search_past_its_deadline_times_out(server, monkeypatch):
    from smsync.protocols.eas.commands import search as search_command

    await server.deliver(message("hello", "world"))
    monkeypatch.setattr(search_command, "SEARCH_SECONDS", -1.0)
    await deferToThread(_times_out, server)


def _times_out(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    status, _, tree = post(port, "Search", mail_search(e(S, "FreeText", text="world")), policy_key=key)
    assert store_of(tree).find(S, "Status").text == "10"


# -- GAL ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_search_gal_and_find(server):
    from smsync.testing.servers import password_hash

    await server.store.accounts.add("bobby.tables@example.org", password_hash())
    await server.deliver(message("Find me", "needle in a haystack"), message("Other", "hay"))
    await deferToThread(_gal_and_find, server)


def _gal_and_find(server):
    port = server.port("eas", tls=True)
    key = provision(port)

    def gal(text, options=()):
        status, _, tree = post(port, "Search", e(S, "Search", e(S, "Store", e(S, "Name", text="GAL"),
                                                                e(S, "Query", text=text), *options)),
                               policy_key=key)
        return store_of(tree)

    store = gal("bob")
    found = [r.find(S, "Properties") for r in results(store)]
    assert [p.find(GAL, "EmailAddress").text for p in found] == [OTHER, "bobby.tables@example.org"]
    assert found[0].find(GAL, "DisplayName").text == "bob" and found[0].find(GAL, "Alias").text == "bob"
    assert store.find(S, "Total").text == "2" and store.find(S, "Range").text == "0-1"
    paged = gal("bob", (e(S, "Options", e(S, "Range", text="1-1")),))
    assert [r.find(S, "Properties").find(GAL, "EmailAddress").text for r in results(paged)] == \
        ["bobby.tables@example.org"]
    assert paged.find(S, "Total").text == "2" and paged.find(S, "Range").text == "1-1"
    assert gal("ALICE@").find(S, "Total").text == "1"
    assert gal("zed").find(S, "Total").text == "0"
    assert gal("").find(S, "Status").text == "2"

    # Find (16.1): the same mail search, ServerIds as Sync gives them.
    def find(criterion):
        status, _, tree = post(port, "Find", e(F, "Find", e(F, "SearchId", text="s1"),
                                               e(F, "ExecuteSearch", criterion)), policy_key=key)
        assert status == 200 and tree.find(F, "Status").text == "1"
        return tree.find(F, "Response")

    response = find(e(F, "MailBoxSearchCriterion", e(F, "Query", e(AS, "Class", text="Email"),
                                                     e(F, "FreeText", text="needle")),
                      e(F, "Options", e(F, "Range", text="0-9"))))
    assert response.find(F, "Status").text == "1"
    assert response.find("ItemOperations:", "Store").text == "Mailbox"
    (result,) = [r for r in response.children if r.tag == "Result"]
    assert result.find(AS, "ServerId").text.isdigit()
    props = result.find(F, "Properties")
    assert props.find(EMAIL, "Subject").text == "Find me"
    assert props.find(F, "Preview").text == "needle in a haystack"
    assert response.find(F, "Total").text == "1" and response.find(F, "Range").text == "0-0"
    later = find(e(F, "MailBoxSearchCriterion", e(F, "Query", e(F, "FreeText", text="hay")),
                   e(F, "Options", e(F, "Range", text="5-9"))))
    assert later.find(F, "Status").text == "4"
    bad = find(e(F, "MailBoxSearchCriterion", e(F, "Query", e(AS, "Class", text="Nope"))))
    assert bad.find(F, "Status").text == "2"
    people = find(e(F, "GalSearchCriterion", e(F, "Query", e(F, "FreeText", text="bob"))))
    assert people.find(F, "Total").text == "2"
    status, _, tree = post(port, "Find", e(F, "Find", e(F, "SearchId", text="s1")), policy_key=key)
    assert status == 200 and tree.find(F, "Status").text == "2"


# -- ResolveRecipients --------------------------------------------------------------------


CARD = b"""BEGIN:VCARD\r
VERSION:3.0\r
UID:dora-1\r
FN:Dora Explorer\r
N:Explorer;Dora;;;\r
EMAIL;TYPE=work:dora@maps.example\r
EMAIL;TYPE=home:dora.home@maps.example\r
END:VCARD\r
"""


BUSY = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:busy-1\r
DTSTAMP:20231201T000000Z\r
DTSTART:20240101T100000Z\r
DTEND:20240101T110000Z\r
SUMMARY:Busy\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest_twisted.ensureDeferred
async def test_resolve_recipients(server):
    from smsync.testing.servers import password_hash

    await server.store.accounts.add("bobby@example.org", password_hash())
    collections = await server.collections()
    (book,) = await collections.list_collections(CollectionKind.ADDRESSBOOK)
    await (await collections.collection_by_id(book.id)).put("dora.vcf", CARD)
    theirs = await server.collections(OTHER)
    (calendar,) = await theirs.list_collections(CollectionKind.CALENDAR)
    await (await theirs.collection_by_id(calendar.id)).put("busy.ics", BUSY)
    await deferToThread(_resolve, server)


def _resolve(server):
    port = server.port("eas", tls=True)
    key = provision(port)

    def resolve(*tos, options=None):
        body = e(RR, "ResolveRecipients", *(e(RR, "To", text=t) for t in tos),
                 *((options,) if options is not None else ()))
        status, _, tree = post(port, "ResolveRecipients", body, policy_key=key)
        assert status == 200
        return tree

    tree = resolve(OTHER, "Dora Explorer <dora@maps.example>", "bob", "nobody@nowhere.example",
                   "dora")
    assert tree.find(RR, "Status").text == "1"
    responses = [r for r in tree.children if r.tag == "Response"]
    exact, contact, ambiguous, unknown, two_addresses = responses

    assert exact.find(RR, "To").text == OTHER and exact.find(RR, "Status").text == "1"
    recipient = exact.find(RR, "Recipient")
    assert (recipient.find(RR, "Type").text, recipient.find(RR, "EmailAddress").text,
            recipient.find(RR, "DisplayName").text) == ("1", OTHER, "bob")

    recipient = contact.find(RR, "Recipient")
    assert contact.find(RR, "Status").text == "1"
    assert (recipient.find(RR, "Type").text, recipient.find(RR, "DisplayName").text) == ("2", "Dora Explorer")

    assert ambiguous.find(RR, "Status").text == "2"
    assert ambiguous.find(RR, "RecipientCount").text == "2"
    assert sorted(r.find(RR, "EmailAddress").text for r in ambiguous.children if r.tag == "Recipient") == \
        [OTHER, "bobby@example.org"]

    assert unknown.find(RR, "Status").text == "4" and unknown.find(RR, "Recipient") is None
    assert two_addresses.find(RR, "Status").text == "2"

    # Fewer suggestions than matches: a partial list.
    tree = resolve("bob", options=e(RR, "Options", e(RR, "MaxAmbiguousRecipients", text="1")))
    (response,) = [r for r in tree.children if r.tag == "Response"]
    assert response.find(RR, "Status").text == "3" and response.find(RR, "RecipientCount").text == "2"
    assert len([r for r in response.children if r.tag == "Recipient"]) == 1

    # Certificates are not kept: their own status, the recipient resolved. An account's
    # free/busy is its calendars' (busy 10:00-11:00 that day), a contact's is not known.
    day = e(RR, "Availability", e(RR, "StartTime", text="2024-01-01T00:00:00.000Z"),
            e(RR, "EndTime", text="2024-01-02T00:00:00.000Z"))
    tree = resolve(OTHER, "dora@maps.example",
                   options=e(RR, "Options", e(RR, "CertificateRetrieval", text="2"), day))
    account, contact = (r.find(RR, "Recipient") for r in tree.children if r.tag == "Response")
    assert account.find(RR, "Availability").find(RR, "Status").text == "1"
    assert account.find(RR, "Availability").find(RR, "MergedFreeBusy").text == "0" * 20 + "22" + "0" * 26
    assert contact.find(RR, "Availability").find(RR, "Status").text == "162"
    assert account.find(RR, "Certificates").find(RR, "Status").text == "7"

    # Protocol errors.
    assert resolve().find(RR, "Status").text == "5"
    assert resolve(*["x"] * 101).find(RR, "Status").text == "5"
    assert resolve("x", options=e(RR, "Options", e(RR, "CertificateRetrieval", text="9"))).find(RR, "Status").text == "5"
    assert resolve("x", options=e(RR, "Options", e(RR, "Availability", e(RR, "StartTime", text="soon")))) \
        .find(RR, "Status").text == "5"
