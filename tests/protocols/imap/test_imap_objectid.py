"""OBJECTID (RFC 8474): MAILBOXID, EMAILID, THREADID, checked against the RFC's words on a
real server over a raw socket (no library client speaks the extension).

Section 7's grammar, which every answer here is read by::

    objectid = 1*255(ALPHA / DIGIT / "_" / "-")
    resp-text-code =/ "MAILBOXID" SP "(" objectid ")"
    fetch-emailid-resp = "EMAILID" SP "(" objectid ")"
    fetch-threadid-resp = "THREADID" SP ( "(" objectid ")" / nil )
    status-att-value =/ "MAILBOXID" SP "(" objectid ")"
    search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid
"""

from __future__ import annotations

import re

import attrs
import pytest
import pytest_twisted
from imap_harness import in_thread, start_server
from imap_wire import fetch_items, lit, login, send, tagged

from smsync.formats.message import content_digest
from smsync.protocols.imap import objectid
from smsync.protocols.imap.parser import parse_command
from smsync.testing.servers import SQLITE, serving

OBJECTID = re.compile(rb"[A-Za-z0-9_-]{1,255}")


@pytest.fixture(params=["memory:", SQLITE])
def any_server(request):
    yield from serving(start_server(request.param))


def _objectid(value: bytes) -> bytes:
    """The objectid inside ``(...)``, checked against the grammar."""
    assert value.startswith(b"(") and value.endswith(b")"), value
    inner = value[1:-1]
    assert OBJECTID.fullmatch(inner), inner
    return inner


def _code(answer: bytes, name: bytes) -> bytes:
    m = re.search(rb"\[" + name + rb" (\([^)]*\))\]", answer)
    assert m, answer
    return _objectid(m.group(1))


def _status_id(raw, mailbox: bytes) -> bytes:
    answer = send(raw, b"st", b"STATUS " + mailbox + b" (MAILBOXID MESSAGES)")
    m = re.search(rb"\* STATUS \S+ \(.*MAILBOXID (\([^)]*\))", answer)
    assert m, answer
    return _objectid(m.group(1))


def _message(mid: str = None, irt: str = None, refs: str = None, subject: str = "s", body: str = "hi") -> bytes:
    head = "From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\n" % subject
    if mid:
        head += "Message-ID: %s\r\n" % mid
    if irt:
        head += "In-Reply-To: %s\r\n" % irt
    if refs:
        head += "References: %s\r\n" % refs
    return (head + "\r\n" + body + "\r\n").encode()


ROOT = _message("<root@example.org>", subject="plan")
REPLY = _message("<r1@example.org>", "<root@example.org>", "<root@example.org>", "Re: plan")
REPLY2 = _message("<r2@example.org>", "<r1@example.org>", "<root@example.org> <r1@example.org>", "Re: plan")
#: A reply whose client wrote In-Reply-To only.
REPLY_IRT = _message("<r3@example.org>", "<root@example.org>", None, "Re: plan")
OTHER = _message("<other@example.org>", subject="lunch")
NO_ID = _message(None, subject="anonymous")


@pytest_twisted.ensureDeferred
async def test_objectid_capability(server):
    """RFC 8474 3: a server with the extension announces "OBJECTID"."""

    def run():
        raw = server.raw()
        login(raw)
        caps = send(raw, b"c", b"CAPABILITY")
        raw.close()
        return caps

    caps = await in_thread(run)
    assert b" OBJECTID" in caps.split(b"\r\n")[0]


@pytest_twisted.ensureDeferred
async def test_mailboxid_on_create_select_examine_status(any_server):
    """RFC 8474 4.1: "A server advertising the OBJECTID capability MUST include the
    MAILBOXID response code in the tagged OK response to all successful CREATE
    commands." 4.2: it "MUST return an untagged OK response with the MAILBOXID response
    code on all successful SELECT and EXAMINE commands." 4.3: the STATUS item MAILBOXID.
    Section 4: one mailbox (same name and UIDVALIDITY) has one MAILBOXID, and no two
    mailboxes share one."""
    running = any_server

    def run():
        raw = running.raw()
        login(raw)
        created = send(raw, b"c", b"CREATE Projects")
        selected = send(raw, b"s", b"SELECT Projects")
        examined = send(raw, b"e", b"EXAMINE Projects")
        status = _status_id(raw, b"Projects")
        inbox = _status_id(raw, b"INBOX")
        listed = send(raw, b"l", b'LIST "" "*" RETURN (STATUS (MAILBOXID))')
        raw.close()
        return created, selected, examined, status, inbox, listed

    created, selected, examined, status, inbox, listed = await in_thread(run)
    assert tagged(created, b"c").startswith(b"c OK [MAILBOXID (")
    made = _code(tagged(created, b"c"), b"MAILBOXID")
    assert re.search(rb"^\* OK \[MAILBOXID \(", selected, re.M), selected
    assert _code(selected, b"MAILBOXID") == made
    assert _code(examined, b"MAILBOXID") == made
    assert status == made
    assert inbox != made
    # LIST-STATUS answers the same item.
    ids = re.findall(rb"\* STATUS \S+ \(MAILBOXID (\([^)]*\))\)", listed)
    assert len(ids) == len(set(ids)) >= 7
    assert b"(" + made + b")" in ids


@pytest_twisted.ensureDeferred
async def test_mailboxid_survives_rename_but_not_delete_and_create(server):
    """RFC 8474 4: a RENAME that keeps the messages keeps the MAILBOXID; a mailbox
    deleted and created again under its name is another mailbox, with another one."""

    def run():
        raw = server.raw()
        login(raw)
        first = _code(tagged(send(raw, b"c", b"CREATE Old"), b"c"), b"MAILBOXID")
        send(raw, b"a", b"APPEND Old " + lit(ROOT))
        send(raw, b"r", b"RENAME Old New")
        renamed = _status_id(raw, b"New")
        send(raw, b"d", b"DELETE New")
        again = _code(tagged(send(raw, b"c2", b"CREATE New"), b"c2"), b"MAILBOXID")
        raw.close()
        return first, renamed, again

    first, renamed, again = await in_thread(run)
    assert renamed == first
    assert again != first


@pytest_twisted.ensureDeferred
async def test_emailid_is_kept_by_copy_and_move_and_differs_between_messages(server):
    """RFC 8474 5.1: "The EMAILID data item is an ObjectID that uniquely identifies the
    content of a single message"; it does not change for the life of the message, and
    the source and destination messages of a COPY or MOVE (the pairs COPYUID names)
    have the same one."""
    await server.deliver(ROOT, OTHER)

    def run():
        raw = server.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        before = send(raw, b"f", b"FETCH 1:2 (EMAILID)")
        send(raw, b"fl", b"STORE 1 +FLAGS (\\Flagged $Work)")
        after_store = send(raw, b"f2", b"FETCH 1 (EMAILID)")
        copied = send(raw, b"cp", b"UID COPY 1 Archive")
        moved = send(raw, b"mv", b"UID MOVE 2 Trash")
        send(raw, b"s2", b"SELECT Archive")
        in_archive = send(raw, b"f3", b"UID FETCH 1:* (EMAILID)")
        send(raw, b"s3", b"SELECT Trash")
        in_trash = send(raw, b"f4", b"UID FETCH 1:* (EMAILID)")
        raw.close()
        return before, after_store, copied, moved, in_archive, in_trash

    before, after_store, copied, moved, in_archive, in_trash = await in_thread(run)
    ids = {seq: _objectid(v) for seq, v in fetch_items(before, b"EMAILID").items()}
    assert len(ids) == 2 and ids[1] != ids[2]
    assert _objectid(fetch_items(after_store, b"EMAILID")[1]) == ids[1]
    assert b"COPYUID" in copied and b"COPYUID" in moved
    assert [_objectid(v) for v in fetch_items(in_archive, b"EMAILID").values()] == [ids[1]]
    assert [_objectid(v) for v in fetch_items(in_trash, b"EMAILID").values()] == [ids[2]]


@pytest_twisted.ensureDeferred
async def test_threadid_groups_a_thread_and_searches_find_by_id(any_server):
    """RFC 8474 5.3: "The THREADID response data item contains the server-assigned
    ObjectID for the set of related messages to which this message belongs." Section
    5.2: messages with the same EMAILID have the same THREADID, and related messages
    should have it in whatever mailbox they are; no value is both an EMAILID and a
    THREADID. Section 6: SEARCH EMAILID and THREADID find the messages with that id."""
    running = any_server
    await running.deliver(ROOT, REPLY, REPLY2, OTHER, NO_ID)
    await running.deliver(REPLY_IRT, ROOT, folder="Archive")

    def run():
        raw = running.raw()
        login(raw)
        send(raw, b"s", b"SELECT INBOX")
        inbox = send(raw, b"f", b"FETCH 1:* (EMAILID THREADID)")
        send(raw, b"s2", b"SELECT Archive")
        archive = send(raw, b"f2", b"FETCH 1:* (EMAILID THREADID)")
        send(raw, b"s3", b"SELECT INBOX")
        threads = fetch_items(inbox, b"THREADID")
        emails = fetch_items(inbox, b"EMAILID")
        by_thread = send(raw, b"t", b"UID SEARCH THREADID " + _objectid(threads[1]))
        by_email = send(raw, b"m", b"SEARCH EMAILID " + _objectid(emails[4]))
        by_unknown = send(raw, b"u", b"SEARCH OR EMAILID Mnosuchid THREADID Tnosuchid")
        # A search key names an EMAILID, not a THREADID, and the other way round.
        crossed = send(raw, b"x", b"SEARCH EMAILID " + _objectid(threads[1]))
        raw.close()
        return inbox, archive, by_thread, by_email, by_unknown, crossed

    inbox, archive, by_thread, by_email, by_unknown, crossed = await in_thread(run)
    threads = {s: _objectid(v) for s, v in fetch_items(inbox, b"THREADID").items()}
    emails = {s: _objectid(v) for s, v in fetch_items(inbox, b"EMAILID").items()}
    assert threads[1] == threads[2] == threads[3]
    assert len({threads[1], threads[4], threads[5]}) == 3
    a_threads = {s: _objectid(v) for s, v in fetch_items(archive, b"THREADID").items()}
    a_emails = {s: _objectid(v) for s, v in fetch_items(archive, b"EMAILID").items()}
    # Related messages in another mailbox, and the same message there, share it.
    assert a_threads[1] == a_threads[2] == threads[1]
    assert a_emails[2] == emails[1]
    assert not set(threads.values()) & set(emails.values())
    assert re.search(rb"^\* SEARCH 1 2 3\r\n", by_thread, re.M), by_thread
    assert re.search(rb"^\* SEARCH 4\r\n", by_email, re.M), by_email
    assert re.search(rb"^\* SEARCH\r\n", by_unknown, re.M), by_unknown
    assert re.search(rb"^\* SEARCH\r\n", crossed, re.M), crossed


@pytest_twisted.ensureDeferred
async def test_a_structure_stored_without_digest_gets_the_same_ids(server):
    """Structures stored before their digest was kept are completed from the message's
    bytes: the ids are those a new copy of the message gets."""
    box = await server.mailbox()
    big = ROOT + b"x" * (3 << 20) + b"\r\n"
    uids = [(await box.append(body)).uid for body in (ROOT, big)]
    stored = await box.structures(uids)
    legacy = {uid: attrs.evolve(st, digest=None) for uid, st in stored.items()}
    completed = await objectid.with_digests(box, legacy)
    assert completed == stored
    assert stored[uids[1]].digest == content_digest(big)
    assert objectid.email_id(stored[uids[0]]) != objectid.email_id(stored[uids[1]])
    assert objectid.thread_id(stored[uids[0]]) == objectid.thread_id(stored[uids[1]])


def test_mailboxid_of_ids_that_are_no_objectids():
    """Section 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"); section 8.1 advises
    against ids starting with a digit. A store id that is no objectid still gives one,
    and different ids give different MAILBOXIDs."""
    ids = ["0f3a9c", "x" * 254, "x" * 255, "Lists/dev", "a b", "ü"]
    made = [objectid.mailbox_id(i) for i in ids]
    for m in made:
        assert OBJECTID.fullmatch(m.encode()) and not m[0].isdigit()
    assert len(set(made)) == len(made)


def test_search_keys_parse():
    """Section 6: search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid."""
    key = parse_command(b"a SEARCH OR EMAILID M1a-_Z THREADID T9").args.key
    assert key.op == "OR"
    assert [(k.op, k.args) for k in key.args] == [("EMAILID", ("M1a-_Z",)), ("THREADID", ("T9",))]
    assert parse_command(b"a STATUS INBOX (MAILBOXID)").args.items == ("MAILBOXID",)


def test_threadid_takes_message_ids_only():
    """Old mailers write a phrase in In-Reply-To ("your message of ..."): it names no
    thread, so two such messages are not put in one; a msg-id among other words (RFC
    5322 3.6.4) is still found."""
    from smsync.formats.message import parse_message

    def tid(headers: bytes) -> str:
        return objectid.thread_id(parse_message(b"From: a@example.org\r\n" + headers + b"\r\nbody\r\n"))

    assert tid(b"In-Reply-To: your message of Tuesday\r\n") != tid(b"In-Reply-To: your note\r\n")
    assert tid(b"References: junk <root@example.org>\r\n") == tid(b"Message-ID: <root@example.org>\r\n")
    assert tid(b"In-Reply-To: <root@example.org> (sent Tuesday)\r\n") == tid(b"Message-ID: <root@example.org>\r\n")
