"""NOTIFY (RFC 5465) checked against the RFC's own words: a session told, without
asking, what other sessions (and other processes on the same store) change.

Each test drives two real clients on 127.0.0.1 over raw sockets; the watching one reads
what arrives between its commands.
"""

from __future__ import annotations

import re
import socket

import pytest_twisted
from imap_harness import FAST_LOGIN_FAILURES, PASSWORD, USER, Running, in_thread

MSG = b"From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody\r\n"


def _msg(subject: bytes) -> bytes:
    return MSG % (subject, subject)


def _login(raw) -> None:
    assert raw.command(b"L", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")


def _client(server):
    raw = server.raw()
    _login(raw)
    return raw


def _append(raw, tag: bytes, mailbox: bytes, body: bytes, flags: bytes = b"") -> list[bytes]:
    raw.send(tag + b" APPEND " + mailbox + b" " + flags + b"{%d}\r\n" % len(body))
    assert raw.line().startswith(b"+")
    raw.send(body + b"\r\n")
    return raw.until(tag)


def _unsolicited(raw, until, timeout: float = 5.0) -> list[bytes]:
    """Lines the server sends with no command of ours running, up to and including the
    first one ``until`` accepts."""
    raw.sock.settimeout(timeout)
    lines = []
    try:
        while True:
            line = raw.line()
            if re.match(rb"\* \d+ FETCH .*\{(\d+)\}$", line):
                size = int(re.search(rb"\{(\d+)\}$", line).group(1))
                while len(raw.buf) < size:
                    raw.buf += raw.sock.recv(65536)
                line += b"\r\n" + raw.buf[:size]
                raw.buf = raw.buf[size:]
                line += raw.line()
            lines.append(line)
            if until(line):
                return lines
    finally:
        raw.sock.settimeout(10)


def _silent(raw, wait: float = 0.4) -> bytes:
    """What arrives within ``wait`` seconds unasked (nothing, when all is well)."""
    raw.sock.settimeout(wait)
    got = raw.buf
    try:
        while True:
            chunk = raw.sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    finally:
        raw.sock.settimeout(10)
    raw.buf = b""
    return got


def _status(line: bytes) -> dict[bytes, int]:
    m = re.match(rb"\* STATUS (\S+) \((.*)\)$", line)
    assert m, line
    items = m.group(2).split()
    return {b"name": m.group(1), **{items[i]: int(items[i + 1]) for i in range(0, len(items), 2)}}


@pytest_twisted.ensureDeferred
async def test_notify_is_announced_and_its_rules_are_enforced(server):
    """RFC 5465 3: "the NOTIFY extension [...] indicated by the "NOTIFY" capability".
    5: "If one of MessageNew or MessageExpunge is specified, then both events MUST be
    specified. Otherwise, the server MUST respond with the tagged BAD response." "If the
    FlagChange and/or AnnotationChange events are specified, MessageNew and
    MessageExpunge MUST also be specified by the client. Otherwise, the server MUST
    respond with the tagged BAD response." 6.1: "Only one of the mailbox specifiers
    affecting the currently selected mailbox can be specified in any NOTIFY command";
    "It is an error to specify other types of events with either the SELECTED or the
    SELECTED-DELAYED selector." 3.1: "If the client requests information for events of
    an unsupported type, the server MUST refuse the command with a tagged NO response
    (not a BAD). This response SHOULD contain the BADEVENT response code, which MUST
    list names of all events supported by the server." Without ANNOTATE (RFC 5257) and
    METADATA (RFC 5464), AnnotationChange and the metadata events are unsupported."""

    def run():
        raw = _client(server)
        caps = raw.command(b"c", b"CAPABILITY")[0].split()
        answers = {
            cmd: raw.command(b"n", cmd)[-1]
            for cmd in (
                b"NOTIFY SET (personal (MessageNew))",
                b"NOTIFY SET (personal (MessageExpunge))",
                b"NOTIFY SET (personal (FlagChange))",
                b"NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))",
                b"NOTIFY SET (selected (MailboxName))",
                b"NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
                b"NOTIFY SET (personal (MailboxMetadataChange))",
                b"NOTIFY SET (inboxes (SomethingElse))",
                b"NOTIFY SET (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))",
                b"NOTIFY NONE",
            )
        }
        raw.close()
        return caps, answers

    caps, answers = await in_thread(run)
    assert b"NOTIFY" in caps
    results = list(answers.values())
    for line in results[:5]:
        assert line.startswith(b"n BAD"), line
    supported = {b"MessageNew", b"MessageExpunge", b"FlagChange", b"MailboxName", b"SubscriptionChange"}
    for line in results[5:8]:
        m = re.match(rb"n NO \[BADEVENT \(([^)]*)\)\]", line)
        assert m, line
        assert set(m.group(1).split()) == supported
    assert results[8].startswith(b"n OK") and results[9].startswith(b"n OK")


@pytest_twisted.ensureDeferred
async def test_other_mailboxes_are_told_by_status_as_they_change(server):
    """RFC 5465 5.2: "If the new/appended message is in another mailbox, the server
    sends an unsolicited STATUS (UIDNEXT MESSAGES) response for the relevant mailbox."
    5.3, MessageExpunge: "If the expunged message or messages are in another mailbox,
    the server sends an unsolicited STATUS (UIDNEXT MESSAGES) response". 5.1,
    FlagChange: "If the flag and/or message annotation change happens in a non-selected
    mailbox, the server sends an unsolicited STATUS response that includes at least
    HIGHESTMODSEQ and UIDVALIDITY status data items." Only for the mailboxes and the
    events asked for (6.6 "mailboxes": "Each mailbox name is interpreted as a single
    mailbox"; 6.5 "subtree": "the specified mailbox names and all selectable mailboxes
    subordinate to them"), and the notifications come "even when no command is in
    progress" (1)."""
    mail = await server.store.mail(USER)
    for name in ("Lists", "Lists/ietf", "Other", "Flags"):
        await mail.create_mailbox(name)

    def run():
        a, b = _client(server), _client(server)
        a.command(b"s", b"SELECT INBOX")
        ok = a.command(b"n", b"NOTIFY SET (selected (MessageNew MessageExpunge)) "
                             b"(subtree Lists (MessageNew MessageExpunge)) "
                             b"(mailboxes Flags (MessageNew MessageExpunge FlagChange))")[-1]
        _append(b, b"a1", b"Other", _msg(b"o"))
        _append(b, b"a2", b"Lists/ietf", _msg(b"l1"))
        new = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        b.command(b"s", b"SELECT Lists/ietf")
        b.command(b"f", b"STORE 1 +FLAGS (\\Seen)")  # a flag change nobody asked about
        _append(b, b"a3", b"Lists/ietf", _msg(b"l2"))
        second = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        b.command(b"d", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.command(b"x", b"EXPUNGE")
        gone = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        _append(b, b"a4", b"Flags", _msg(b"f1"))
        flags_new = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        b.command(b"s2", b"SELECT Flags")
        b.command(b"f2", b"STORE 1 +FLAGS (\\Seen)")
        flagged = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        quiet = _silent(a)
        noop = a.command(b"n2", b"NOOP")
        a.close()
        b.close()
        return ok, new, second, gone, flags_new, flagged, quiet, noop

    ok, new, second, gone, flags_new, flagged, quiet, noop = await in_thread(run)
    assert ok.startswith(b"n OK")
    assert [_status(l) for l in new] == [
        {b"name": b"Lists/ietf", b"MESSAGES": 1, b"UIDNEXT": 2, b"UIDVALIDITY": _status(new[0])[b"UIDVALIDITY"],
         b"UNSEEN": 1}]
    (st,) = [_status(l) for l in second]
    assert (st[b"name"], st[b"MESSAGES"], st[b"UIDNEXT"]) == (b"Lists/ietf", 2, 3)
    (st,) = [_status(l) for l in gone]
    assert (st[b"name"], st[b"MESSAGES"], st[b"UIDNEXT"]) == (b"Lists/ietf", 1, 3)
    (st,) = [_status(l) for l in flags_new]
    assert (st[b"name"], st[b"MESSAGES"], st[b"UNSEEN"]) == (b"Flags", 1, 1)
    (st,) = [_status(l) for l in flagged]
    assert (st[b"name"], st[b"MESSAGES"], st[b"UNSEEN"]) == (b"Flags", 1, 0)
    assert st[b"HIGHESTMODSEQ"] > _status(flags_new[0]).get(b"HIGHESTMODSEQ", 0)
    assert b"UIDVALIDITY" in flagged[0]
    assert quiet == b""
    assert not any(b"Other" in l for l in new + second + gone + flags_new + flagged + noop)


@pytest_twisted.ensureDeferred
async def test_notify_set_status_sends_status_of_each_watched_mailbox(server):
    """RFC 5465 3.1: "If the NOTIFY command enables MessageNew, MessageExpunge,
    AnnotationChange, or FlagChange notifications for a mailbox other than the currently
    selected mailbox, and the client has specified the STATUS indicator parameter, then
    the server MUST send a STATUS response for that mailbox before NOTIFY's tagged OK."
    6.3, inboxes: "all selectable mailboxes in the user's personal namespace(s) to which
    messages may be delivered by a Message Delivery Agent" -- here, INBOX."""
    await server.deliver(_msg(b"i1"), _msg(b"i2"))
    mail = await server.store.mail(USER)
    await mail.create_mailbox("Work")
    await server.deliver(_msg(b"w1"), folder="Work")

    def run():
        raw = _client(server)
        personal = raw.command(b"n1", b"NOTIFY SET STATUS (personal (MessageNew MessageExpunge))")
        raw.command(b"s", b"SELECT Work")
        selected = raw.command(b"n2", b"NOTIFY SET STATUS (selected (MessageNew MessageExpunge)) "
                                      b"(personal (MessageNew MessageExpunge))")
        inboxes = raw.command(b"n3", b"NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))")
        names = raw.command(b"n4", b"NOTIFY SET STATUS (personal (MailboxName))")
        raw.close()
        return personal, selected, inboxes, names

    personal, selected, inboxes, names = await in_thread(run)
    statuses = {_status(l)[b"name"]: _status(l) for l in personal if l.startswith(b"* STATUS")}
    assert set(statuses) >= {b"INBOX", b"Work"}
    assert statuses[b"INBOX"][b"MESSAGES"] == 2 and statuses[b"Work"][b"MESSAGES"] == 1
    assert personal[-1].startswith(b"n1 OK")
    sent = [_status(l)[b"name"] for l in selected if l.startswith(b"* STATUS")]
    assert b"INBOX" in sent and b"Work" not in sent
    assert [_status(l)[b"name"] for l in inboxes if l.startswith(b"* STATUS")] == [b"INBOX"]
    assert not any(l.startswith(b"* STATUS") for l in names)


@pytest_twisted.ensureDeferred
async def test_selected_mailbox_events_arrive_between_commands(server):
    """RFC 5465 5.2: "If the new/appended message is in the selected mailbox, the server
    notifies the client by sending an unsolicited EXISTS response, followed by an
    unsolicited FETCH response containing the information requested by the client."
    5.3: "If the expunged message or messages are in the selected mailbox, the server
    notifies the client using EXPUNGE". 5.1: "If the flag and/or message annotation
    change happens in the selected mailbox, the server MUST notify the client by sending
    an unsolicited FETCH response, which MUST include UID and FLAGS/ANNOTATION FETCH data
    items." 5.2: the server "SHOULD NOT" send the FETCH for the client's own APPEND.
    3.1: "A successful NOTIFY SET command MUST cause the server to immediately return
    any accumulated changes to the currently selected mailbox"."""
    await server.deliver(_msg(b"first"))

    def run():
        a, b = _client(server), _client(server)
        a.command(b"s", b"SELECT INBOX")
        _append(b, b"a0", b"INBOX", _msg(b"before"))
        accumulated = a.command(b"n", b"NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) "
                                      b"MessageExpunge FlagChange))")
        _append(b, b"a1", b"INBOX", _msg(b"news"))
        new = _unsolicited(a, lambda l: l.startswith(b"* 3 FETCH"))
        b.command(b"s", b"SELECT INBOX")
        b.command(b"f", b"UID STORE 1 +FLAGS (\\Flagged)")
        flags = _unsolicited(a, lambda l: b"FETCH" in l)
        b.command(b"d", b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        b.command(b"x", b"EXPUNGE")
        expunge = _unsolicited(a, lambda l: l.endswith(b"EXPUNGE"))
        own = _append(a, b"a2", b"INBOX", _msg(b"mine"))
        a.close()
        b.close()
        return accumulated, new, flags, expunge, own

    accumulated, new, flags, expunge, own = await in_thread(run)
    assert accumulated.index(b"* 2 EXISTS") < len(accumulated) - 1
    assert accumulated[-1].startswith(b"n OK")
    assert new[0] == b"* 3 EXISTS"
    assert new[-1].startswith(b"* 3 FETCH (UID 3 BODY[HEADER.FIELDS (SUBJECT)] {")
    assert b"Subject: news" in new[-1]
    (line,) = [l for l in flags if b"FETCH" in l]
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(.*\\Flagged.*\)\)", line), line
    assert expunge[-1] == b"* 2 EXPUNGE"
    assert b"* 3 EXISTS" in own and not any(b"FETCH" in l for l in own)


@pytest_twisted.ensureDeferred
async def test_selected_delayed_holds_expunges_until_a_command_allows_them(server):
    """RFC 5465 6.1.2, SELECTED-DELAYED: "the server MUST delay notifications about
    message expunges [...] until the client issues a command that allows returning
    information about expunged messages (see Section 7.4.1 of [RFC3501] for more
    details), for example, till a NOOP or an IDLE command has been issued." Other events
    come at once, as with SELECTED."""
    await server.deliver(_msg(b"one"), _msg(b"two"))

    def run():
        a, b = _client(server), _client(server)
        a.command(b"s", b"SELECT INBOX")
        a.command(b"n", b"NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
        b.command(b"s", b"SELECT INBOX")
        b.command(b"d", b"UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.command(b"x", b"EXPUNGE")
        _append(b, b"a1", b"INBOX", _msg(b"three"))
        exists = _unsolicited(a, lambda l: l.endswith(b"EXISTS"))
        held = _silent(a)
        fetch = a.command(b"f", b"FETCH 1:* (UID)")
        noop = a.command(b"n2", b"NOOP")
        a.close()
        b.close()
        return exists, held, fetch, noop

    exists, held, fetch, noop = await in_thread(run)
    # The expunged message keeps its number until the client may be told.
    assert exists[-1] == b"* 3 EXISTS"
    assert b"EXPUNGE" not in held
    assert not any(l.endswith(b"EXPUNGE") for l in fetch)
    assert b"* 1 EXPUNGE" in noop


@pytest_twisted.ensureDeferred
async def test_mailbox_names_and_subscriptions_are_told_by_list(server):
    """RFC 5465 5.4, MailboxName: "The server notifies the client by sending an
    unsolicited LIST response for each affected mailbox name. If, after the event, the
    mailbox name does not refer to a mailbox accessible to the client, the \\Nonexistent
    flag MUST be included." "For each LISTable mailbox renamed, the server sends an
    extended LIST response [RFC5258] for the new mailbox name, containing the OLDNAME
    extended data item with the old mailbox name." 5.5, SubscriptionChange: "The server
    notifies the client by sending an unsolicited LIST response for each affected
    mailbox name. If and only if the mailbox is subscribed after the event, the
    \\Subscribed attribute (see [RFC5258]) is included." 5: "The server SHOULD omit
    notifying the client if the event is caused by this client."""

    def run():
        a, b = _client(server), _client(server)
        a.command(b"n", b"NOTIFY SET (personal (MailboxName SubscriptionChange))")
        b.command(b"c", b"CREATE Projects")
        # The new folder is subscribed by the store, then unsubscribed by CREATE (it is the
        # IMAP client's to subscribe): over a store that tells each change apart, a
        # second LIST may follow the first.
        created = _unsolicited(a, lambda l: b" Projects" in l)
        created += _silent(a).splitlines()
        b.command(b"u", b"SUBSCRIBE Projects")
        subscribed = _unsolicited(a, lambda l: b" Projects" in l)
        b.command(b"u2", b"UNSUBSCRIBE Projects")
        unsubscribed = _unsolicited(a, lambda l: b" Projects" in l)
        b.command(b"r", b"RENAME Projects Archive2024")
        renamed = _unsolicited(a, lambda l: b"Archive2024" in l)
        b.command(b"d", b"DELETE Archive2024")
        deleted = _unsolicited(a, lambda l: b"Archive2024" in l)
        own = a.command(b"c2", b"CREATE Mine")
        later = _silent(a)
        a.close()
        b.close()
        return created, subscribed, unsubscribed, renamed, deleted, own, later

    created, subscribed, unsubscribed, renamed, deleted, own, later = await in_thread(run)
    assert re.match(rb'\* LIST \([^)]*\) "/" Projects$', created[0]) and b"NonExistent" not in created[0]
    assert b"Subscribed" not in created[-1]
    assert re.match(rb'\* LIST \([^)]*\\Subscribed[^)]*\) "/" Projects$', subscribed[-1])
    assert re.match(rb'\* LIST \([^)]*\) "/" Projects$', unsubscribed[-1]) and b"Subscribed" not in unsubscribed[-1]
    assert re.match(rb'\* LIST \([^)]*\) "/" Archive2024 \("OLDNAME" \(Projects\)\)$', renamed[-1])
    assert deleted[-1] == b'* LIST (\\NonExistent) "/" Archive2024'
    assert not any(b"Mine" in l for l in own[:-1]) and b"Mine" not in later


@pytest_twisted.ensureDeferred
async def test_notify_none_and_idle(server):
    """RFC 5465 3.1: "NOTIFY NONE specifies that the client is not interested in any kind
    of event happening on the server." 4: "If the client issues an IDLE command while
    NOTIFY is active, the server MUST send exactly the same events as instructed by the
    client using the NOTIFY command." """
    mail = await server.store.mail(USER)
    await mail.create_mailbox("Lists")

    def run():
        a, b = _client(server), _client(server)
        a.command(b"n", b"NOTIFY SET (mailboxes Lists (MessageNew MessageExpunge))")
        a.send(b"i IDLE\r\n")
        assert a.line().startswith(b"+")
        _append(b, b"a1", b"Lists", _msg(b"l1"))
        idling = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
        a.send(b"DONE\r\n")
        done = a.until(b"i")
        a.command(b"n0", b"NOTIFY NONE")
        _append(b, b"a2", b"Lists", _msg(b"l2"))
        after = _silent(a)
        noop = a.command(b"n2", b"NOOP")
        a.close()
        b.close()
        return idling, done, after, noop

    idling, done, after, noop = await in_thread(run)
    assert _status(idling[-1])[b"MESSAGES"] == 1
    assert done[-1].startswith(b"i OK")
    assert after == b"" and not any(l.startswith(b"* STATUS") for l in noop)


@pytest_twisted.ensureDeferred
async def test_notify_sees_changes_another_process_makes(sqlite_server):
    """RFC 5465 1: the client is told of "events happening on the server" -- whichever
    process of it makes them. Two servers over one SQLite store stand for two
    processes; the store's change notifier carries one's changes to the other."""
    server = sqlite_server
    other = await Running.start("imap", server.store_uri, accounts=(),
                                knobs={"imap": dict(FAST_LOGIN_FAILURES)})
    try:
        mail = await server.store.mail(USER)
        await mail.create_mailbox("Lists")
        await server.deliver(_msg(b"first"))

        def run():
            a, b = _client(server), _client(other)
            a.command(b"s", b"SELECT INBOX")
            a.command(b"n", b"NOTIFY SET (selected (MessageNew MessageExpunge)) "
                            b"(mailboxes Lists (MessageNew MessageExpunge)) (personal (MailboxName))")
            _append(b, b"a1", b"Lists", _msg(b"l1"))
            status = _unsolicited(a, lambda l: l.startswith(b"* STATUS"))
            _append(b, b"a2", b"INBOX", _msg(b"second"))
            exists = _unsolicited(a, lambda l: l.endswith(b"EXISTS"))
            b.command(b"c", b"CREATE Elsewhere")
            listed = _unsolicited(a, lambda l: b"Elsewhere" in l)
            a.close()
            b.close()
            return status, exists, listed

        status, exists, listed = await in_thread(run)
    finally:
        await other.stop()
    assert (_status(status[-1])[b"name"], _status(status[-1])[b"MESSAGES"]) == (b"Lists", 1)
    assert exists[-1] == b"* 2 EXISTS"
    assert re.match(rb'\* LIST \([^)]*\) "/" Elsewhere$', listed[-1])
