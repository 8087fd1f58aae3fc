"""Drafts saved from a phone (EAS 16.0 and later): a Sync ``Add`` of an Email item and
the ``Change`` of a draft, against real EAS and IMAP servers over one store (memory and
SQLite), with our raw client, pyactivesync (which sends the draft as MIME) and imaplib.

What the specifications ask: MS-ASCMD 2.2.3.7.2 (the server answers an Add with the
ClientId, the ServerId it gave and a Status), MS-ASEMAIL 2.2.2.69 (Email2:Send absent:
the item is saved as a draft) and 2.2.2.42 (IsDraft), MS-ASCMD 3.1.5.4 (before 16.0 a
device does not sync Drafts: its Add of mail is refused, Status 6, and nothing stored).
"""

from __future__ import annotations

import email
import email.policy
import functools
import imaplib
import re

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import PASSWORD, USER, RunningServers, client_tls_context, store_fixtures
from tests.protocols.eas.eas_client import AS, data_of, el, ready_device

BASE, EMAIL, EMAIL2 = "AirSyncBase:", "Email:", "Email2:"
DRAFTS_TYPE = 3

memory_servers, sqlite_servers = store_fixtures(
    functools.partial(RunningServers.start, ("eas", "imap"), tls=True),
    names=("memory_servers", "sqlite_servers"))


@pytest.fixture(params=["memory_servers", "sqlite_servers"])
def servers(request):
    return request.getfixturevalue(request.param)


# -- clients ---------------------------------------------------------------------------------


def imap_drafts(servers) -> dict:
    """``{uid: (flags, message)}`` of the Drafts folder, read over IMAP."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", servers.port("imap", tls=True), ssl_context=client_tls_context())
    try:
        imap.login(USER, PASSWORD)
        imap.select("Drafts", readonly=True)
        status, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert status == "OK"
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode()
            uid = int(re.search(r"UID (\d+)", head).group(1))
            flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
            out[uid] = (flags, email.message_from_bytes(item[1], policy=email.policy.default))
        return out
    finally:
        imap.logout()


def imap_append_draft(servers, raw: bytes) -> int:
    imap = imaplib.IMAP4_SSL("127.0.0.1", servers.port("imap", tls=True), ssl_context=client_tls_context())
    try:
        imap.login(USER, PASSWORD)
        status, data = imap.append("Drafts", "(\\Draft)", None, raw)
        assert status == "OK", data
        return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
    finally:
        imap.logout()


# -- requests --------------------------------------------------------------------------------


def body(text: str, kind: int = 1) -> Element:
    return el(BASE, "Body", el(BASE, "Type", text=str(kind)), el(BASE, "Data", text=text))


def add(client_id: str, *fields: Element, send: bool = False) -> Element:
    return el(AS, "Add", el(AS, "ClientId", text=client_id), el(AS, "ApplicationData", *fields),
              *((el(EMAIL2, "Send"),) if send else ()))


def change(server_id: str, *fields: Element) -> Element:
    return el(AS, "Change", el(AS, "ServerId", text=server_id), el(AS, "ApplicationData", *fields))


def responses(collection: Element, tag: str) -> dict:
    """``{ClientId or ServerId: (Status, ServerId)}`` of the answers to the device's
    commands."""
    found = collection.find(AS, "Responses")
    out = {}
    for r in found.children if found is not None else ():
        if r.tag != tag:
            continue
        key = r.find(AS, "ClientId") if tag == "Add" else r.find(AS, "ServerId")
        sid = r.find(AS, "ServerId")
        out[key.text if key is not None else None] = (r.find(AS, "Status").text,
                                                     sid.text if sid is not None else None)
    return out


def commands(collection: Element) -> list:
    found = collection.find(AS, "Commands")
    return list(found.children) if found is not None else []


def of(commands_: list, tag: str) -> dict:
    """``{ServerId: command}`` of the commands of one kind the server sent."""
    return {c.find(AS, "ServerId").text: c for c in commands_ if c.tag == tag}


def field(command: Element, namespace: str, tag: str):
    found = data_of(command).find(namespace, tag)
    return found.text if found is not None else None


# -- the life of a draft ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_draft_saved_on_one_phone_is_seen_by_imap_and_the_other_phone(servers):
    await deferToThread(_draft_life, servers)


def _draft_life(servers):
    a, b = ready_device(servers, "draft-a"), ready_device(servers, "draft-b")
    drafts = a.folder_of_type(DRAFTS_TYPE)
    key_a, _ = a.sync_all(drafts)
    key_b, _ = b.sync_all(drafts)

    # -- A saves a draft.
    answer = a.sync(drafts, key_a, commands=[add(
        "c1", el(EMAIL, "To", text='"Bob Smith" <bob@example.org>'),
        el(EMAIL, "Cc", text="carol@example.org; Dave <dave@example.org>"),
        el(EMAIL2, "Bcc", text="boss@example.org"), el(EMAIL, "Subject", text="Lunch plans"),
        el(EMAIL, "Importance", text="2"), body("<p>Hello <b>Bob</b></p>", 2),
        el(EMAIL, "Read", text="1"),
        el(EMAIL, "Categories", el(EMAIL, "Category", text="Food")))])
    assert answer.find(AS, "Status").text == "1"
    status, sid = responses(answer, "Add")["c1"]
    assert status == "1" and sid and sid.isdigit()
    assert sid not in of(commands(answer), "Add")  # the device's own add is not sent back
    key_a = answer.find(AS, "SyncKey").text

    # -- IMAP sees it in Drafts, a draft, read, with the fields the phone set.
    stored = imap_drafts(servers)
    assert list(stored) == [int(sid)]
    flags, message = stored[int(sid)]
    assert {"\\Draft", "\\Seen", "Food"} <= flags and "\\Flagged" not in flags
    assert message["From"].addresses[0].addr_spec == USER
    assert [(x.display_name, x.addr_spec) for x in message["To"].addresses] == [("Bob Smith", "bob@example.org")]
    assert [x.addr_spec for x in message["Cc"].addresses] == ["carol@example.org", "dave@example.org"]
    assert [x.addr_spec for x in message["Bcc"].addresses] == ["boss@example.org"]
    assert message["Subject"] == "Lunch plans" and message["Importance"] == "high"
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "<p>Hello <b>Bob</b></p>"

    # -- A's next round does not send it back.
    again = a.sync(drafts, key_a)
    assert commands(again) == []
    key_a = again.find(AS, "SyncKey").text

    # -- B gets it as an Add, a draft with its Bcc.
    seen = b.sync(drafts, key_b)
    key_b = seen.find(AS, "SyncKey").text
    (item,) = of(commands(seen), "Add").values()
    assert item.find(AS, "ServerId").text == sid
    assert field(item, EMAIL, "Subject") == "Lunch plans"
    assert field(item, EMAIL, "To") == '"Bob Smith" <bob@example.org>'
    assert field(item, EMAIL2, "Bcc") == "boss@example.org"
    assert field(item, EMAIL2, "IsDraft") == "1"
    assert field(item, EMAIL, "Importance") == "2" and field(item, EMAIL, "Read") == "1"

    # -- A edits the draft: new subject, text and To. The draft is replaced: A is told
    # the old one is gone and gets the new one, under a new ServerId.
    edited = a.sync(drafts, key_a, commands=[change(
        sid, el(EMAIL, "Subject", text="Lunch moved to Friday"), body("See you at one."),
        el(EMAIL, "To", text="erin@example.org"))])
    assert edited.find(AS, "Status").text == "1"
    assert responses(edited, "Change") == {}  # success is not answered (MS-ASCMD 2.2.3.24)
    assert list(of(commands(edited), "Delete")) == [sid]
    ((new_sid, new_item),) = of(commands(edited), "Add").items()
    assert new_sid != sid
    assert field(new_item, EMAIL, "Subject") == "Lunch moved to Friday"
    key_a = edited.find(AS, "SyncKey").text

    stored = imap_drafts(servers)
    assert list(stored) == [int(new_sid)]
    flags, message = stored[int(new_sid)]
    assert {"\\Draft", "\\Seen", "Food"} <= flags
    assert message["Subject"] == "Lunch moved to Friday"
    assert [x.addr_spec for x in message["To"].addresses] == ["erin@example.org"]
    # What the change did not send stays.
    assert [x.addr_spec for x in message["Cc"].addresses] == ["carol@example.org", "dave@example.org"]
    assert message["Importance"] == "high" and message["Bcc"] is not None
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "See you at one."

    # -- B sees the old draft go and the new one come.
    seen = b.sync(drafts, key_b)
    key_b = seen.find(AS, "SyncKey").text
    assert list(of(commands(seen), "Delete")) == [sid]
    assert list(of(commands(seen), "Add")) == [new_sid]

    # -- A marks it unread: a flag change, the same message, not sent back to A.
    unread = a.sync(drafts, key_a, commands=[change(new_sid, el(EMAIL, "Read", text="0"))])
    assert unread.find(AS, "Status").text == "1" and commands(unread) == []
    stored = imap_drafts(servers)
    assert list(stored) == [int(new_sid)] and "\\Seen" not in stored[int(new_sid)][0]
    seen = b.sync(drafts, key_b)
    (changed,) = of(commands(seen), "Change").values()
    assert field(changed, EMAIL, "Read") == "0"


@pytest_twisted.ensureDeferred
async def test_a_lost_answer_does_not_store_the_draft_twice(servers):
    await deferToThread(_lost_answer, servers)


def _lost_answer(servers):
    a = ready_device(servers, "draft-retry")
    drafts = a.folder_of_type(DRAFTS_TYPE)
    key, _ = a.sync_all(drafts)
    batch = [add("r1", el(EMAIL, "Subject", text="once"), body("only once"))]
    first = a.sync(drafts, key, commands=batch)
    again = a.sync(drafts, key, commands=batch)  # the answer was lost: same key, same batch
    assert responses(first, "Add") == responses(again, "Add")
    assert len(imap_drafts(servers)) == 1


# -- versions and refusals -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_before_16_an_add_of_mail_is_refused_and_nothing_stored(servers):
    await deferToThread(_before_16, servers)


def _before_16(servers):
    old = ready_device(servers, "draft-141", version="14.1")
    drafts = old.folder_of_type(DRAFTS_TYPE)
    key, _ = old.sync_all(drafts)
    answer = old.sync(drafts, key, commands=[add(
        "old1", el(EMAIL, "To", text="bob@example.org"), el(EMAIL, "Subject", text="from 14.1"),
        body("text"))])
    assert answer.find(AS, "Status").text == "1"
    assert responses(answer, "Add") == {"old1": ("6", None)}
    assert imap_drafts(servers) == {}
    # A Change of a draft's subject at 14.1 changes its flags only, as it always did.
    uid = imap_append_draft(servers, b"Subject: kept\r\nTo: a@example.org\r\n\r\nbody\r\n")
    key, _ = old.sync_all(drafts)
    answer = old.sync(drafts, key, commands=[change(
        str(uid), el(EMAIL, "Subject", text="not for 14.1"), el(EMAIL, "Read", text="1"))])
    assert responses(answer, "Change") == {}
    stored = imap_drafts(servers)
    assert list(stored) == [uid]
    assert stored[uid][1]["Subject"] == "kept" and "\\Seen" in stored[uid][0]


@pytest_twisted.ensureDeferred
async def test_hostile_drafts_get_a_status_and_store_nothing(servers):
    await deferToThread(_hostile, servers)


def _hostile(servers):
    a = ready_device(servers, "draft-bad")
    drafts = a.folder_of_type(DRAFTS_TYPE)
    key, _ = a.sync_all(drafts)
    batch = [
        add("no-body", el(EMAIL, "Subject", text="no body")),
        add("bad-to", el(EMAIL, "To", text="bob"), body("x")),
        add("bad-cc", el(EMAIL, "Cc", text="a@example.org, <not an address>"), body("x")),
        add("injected", el(EMAIL, "To", text='"x\nBcc: evil@example.net" <a@example.org>'), body("x")),
        add("rtf", body("{\\rtf1 x}", 3)),
        add("no-type", el(BASE, "Body", el(BASE, "Data", text="x"))),
        add("bad-mime", body("this is not a message", 4)),
        add("importance", el(EMAIL, "Importance", text="high"), body("x")),
        add("send", el(EMAIL, "To", text="bob@example.org"), body("x"), send=True),
        el(AS, "Add", el(AS, "ApplicationData", body("no client id"))),
        add("good", el(EMAIL, "Subject", text="the good one"), body("fine")),
    ]
    answer = a.sync(drafts, key, commands=batch)
    assert answer.find(AS, "Status").text == "1"
    got = responses(answer, "Add")
    assert got.pop(None) == ("4", None)
    good_status, good_sid = got.pop("good")
    assert good_status == "1"
    assert got == {cid: ("6", None) for cid in got} and len(got) == 9
    stored = imap_drafts(servers)
    assert list(stored) == [int(good_sid)]
    key = answer.find(AS, "SyncKey").text

    # A Change with a bad address leaves the draft as it was.
    bad = a.sync(drafts, key, commands=[change(good_sid, el(EMAIL, "To", text="nobody"),
                                               el(EMAIL, "Subject", text="changed"))])
    assert responses(bad, "Change") == {good_sid: ("6", good_sid)}
    assert list(imap_drafts(servers)) == [int(good_sid)]
    assert imap_drafts(servers)[int(good_sid)][1]["Subject"] == "the good one"


@pytest_twisted.ensureDeferred
async def test_a_message_that_is_not_a_draft_keeps_its_content(servers):
    """A Change naming a Subject of a received message (no ``\\Draft``) only changes its
    flags: its fields are its sender's."""
    [uid] = await servers.deliver(b"From: x@example.net\r\nSubject: received\r\n\r\nhello\r\n")
    await deferToThread(_not_a_draft, servers, uid)


def _not_a_draft(servers, uid):
    a = ready_device(servers, "draft-inbox")
    inbox = a.folder_of_type(2)
    key, _ = a.sync_all(inbox)
    answer = a.sync(inbox, key, commands=[change(
        str(uid), el(EMAIL, "Subject", text="rewritten"), body("rewritten"), el(EMAIL, "Read", text="1"))])
    assert answer.find(AS, "Status").text == "1" and responses(answer, "Change") == {}
    assert commands(answer) == []  # same message, flags the device set itself

    async def inbox_now():
        box = await servers.mailbox("INBOX")
        return await box.uids(), await box.read_body(uid)

    from tests.protocols.eas.test_eas_endpoint import block
    uids, raw = block(inbox_now())
    assert uids == [uid] and b"Subject: received" in raw


# -- pyactivesync ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_pyactivesync_saves_a_mime_draft(servers, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(servers.directory / "server.pem"))
    await deferToThread(_pyactivesync_draft, servers)


def _pyactivesync_draft(servers):
    from email.message import EmailMessage

    from pyactivesync import Client, FolderType

    message = EmailMessage()
    message["To"] = "Bob <bob@example.org>"
    message["Subject"] = "Written with pyactivesync"
    message.set_content("Draft body.\n")
    with Client(server=f"127.0.0.1:{servers.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyasdraft") as client:
        folder = next(f for f in client.list_folders() if f.type == FolderType.DRAFTS)
        key = client.sync_folder(folder.id).sync_key
        key = client.sync_folder(folder.id, key).sync_key
        result = client.create_email_draft(folder.id, key, message, flagged=True)
        assert result.status == "1" and result.server_id
        after = client.sync_folder(folder.id, result.sync_key)
        assert [i.server_id for i in after.added] == []  # not sent back to the device
    stored = imap_drafts(servers)
    flags, saved = stored[int(result.server_id)]
    assert {"\\Draft", "\\Flagged"} <= flags and "\\Seen" not in flags
    assert saved["Subject"] == "Written with pyactivesync"
    assert saved["From"].addresses[0].addr_spec == USER
    assert saved.get_content().strip() == "Draft body."
