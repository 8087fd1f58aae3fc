"""LMTP and SMTP delivery with real clients (smtplib's SMTP and LMTP classes, raw
sockets), read back over POP3 (poplib) and through the store."""

from __future__ import annotations

import poplib
import smtplib

import pytest
import pytest_twisted
from delivery_harness import OTHER, PASSWORD, USER, Raw, in_thread, message, stored_part

from smsync.model import ChangeKind


@pytest_twisted.ensureDeferred
async def test_lmtp_delivery_seen_over_pop3_and_store(sqlite_mx):
    body = message(1, 4000)
    notified = []
    sqlite_mx.store.notifier.subscribe(USER, notified.append)

    def deliver():
        c = smtplib.LMTP("127.0.0.1", sqlite_mx.port("lmtp"))
        code, features = c.ehlo("relay.example.net")
        refused = c.sendmail("sender@example.net", [USER], body)
        c.quit()
        return code, features, refused

    code, features, refused = await in_thread(deliver)
    assert code == 250 and b"SIZE 52428800" in features and b"PIPELINING" in features
    assert refused == {}
    # Through the store: the message, with Return-Path and Received prepended.
    [stored] = await sqlite_mx.bodies()
    assert stored.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from relay.example.net")
    assert b"with LMTP id" in stored and f"for <{USER}>".encode() in stored
    assert stored_part(stored) == body
    # The store's notifier woke subscribers (IMAP IDLE, EAS Ping listen there).
    assert any(e.kind is ChangeKind.MAIL and e.name == "INBOX" for e in notified)

    def fetch():
        p = poplib.POP3("127.0.0.1", sqlite_mx.port("pop3"), timeout=15)
        p.user(USER)
        p.pass_(PASSWORD)
        lines = p.retr(1)[1]
        p.quit()
        return b"".join(l + b"\r\n" for l in lines)

    assert await in_thread(fetch) == stored


@pytest_twisted.ensureDeferred
async def test_lmtp_per_recipient_replies_and_plus_addressing(mx):
    def session():
        raw = Raw(mx.port("lmtp"))
        raw.send(b"LHLO relay.example.net\r\n")
        raw.reply()
        # Pipelined envelope; DATA waits for its 354 (RFC 2920).
        raw.send(b"MAIL FROM:<s@example.net> SIZE=100 BODY=8BITMIME\r\n"
                 b"RCPT TO:<alice+lists@EXAMPLE.ORG>\r\n"
                 b"RCPT TO:<nobody@example.org>\r\n"
                 b"RCPT TO:<someone@elsewhere.net>\r\n"
                 + f"RCPT TO:<{OTHER}>\r\n".encode()
                 + b"DATA\r\n")
        envelope = [raw.reply() for _ in range(6)]
        raw.send(b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
        after = [raw.reply() for _ in range(3)]
        return envelope, after

    envelope, after = await in_thread(session)
    assert [r[:3] for r in envelope] == [b"250", b"250", b"550", b"550", b"250", b"354"]
    assert envelope[2].startswith(b"550 5.1.1") and envelope[3].startswith(b"550 5.7.1")
    # One answer per accepted recipient, in RCPT order, then QUIT's.
    assert after[0].startswith(b"250 2.0.0 <alice@example.org>")
    assert after[1].startswith(b"250 2.0.0 <bob@example.org>")
    assert after[2].startswith(b"221")
    for user, rcpt in ((USER, b"alice+lists@EXAMPLE.ORG"), (OTHER, OTHER.encode())):
        [stored] = await mx.bodies(user)
        assert stored_part(stored) == b"Subject: hi\r\n\r\n.dot\r\n"
        assert b"for <" + rcpt + b">" in stored


@pytest_twisted.ensureDeferred
async def test_smtp_receiver(mx):
    def send():
        c = smtplib.SMTP("127.0.0.1", mx.port("smtp"), timeout=15)
        c.ehlo("mail.example.net")
        has_size = c.has_extn("size")
        refused = c.sendmail("sender@example.net", [USER, "ghost@example.org", OTHER],
                             message(7))
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail("sender@example.net", ["x@nowhere.example"], message(8))
        c.quit()
        return has_size, refused

    has_size, refused = await in_thread(send)
    assert has_size
    assert list(refused) == ["ghost@example.org"] and refused["ghost@example.org"][0] == 550
    for user in (USER, OTHER):
        [stored] = await mx.bodies(user)
        assert b"with ESMTP id" in stored and stored_part(stored) == message(7)


@pytest_twisted.ensureDeferred
async def test_size_announced_and_enforced(tmp_path):
    from delivery_harness import start

    running = await start("memory:", max_message_size=20000)
    try:
        def session():
            c = smtplib.SMTP("127.0.0.1", running.port("smtp"), timeout=15)
            c.ehlo("x.example")
            announced = int(c.esmtp_features["size"])
            # Declared too big: refused at MAIL.
            declared = c.mail("s@example.net", ["SIZE=20001"])
            c.rset()
            # Not declared, but too big: refused after DATA, connection still usable.
            # (smtplib's sendmail would declare SIZE; mail/rcpt/data do not.)
            c.mail("s@example.net")
            c.rcpt(USER)
            code = c.data(message(1, 30000))[0]
            ok = c.sendmail("s@example.net", [USER], message(2, 10000))
            c.quit()
            return announced, declared, code, ok

        announced, declared, code, ok = await in_thread(session)
        assert announced == 20000
        assert declared[0] == 552
        assert code == 552 and ok == {}
        assert [stored_part(b) for b in await running.bodies()] == [message(2, 10000)]
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_large_message_spooled_to_disk(sqlite_mx):
    big = message(1, 6 * 1024 * 1024)

    def send():
        c = smtplib.LMTP("127.0.0.1", sqlite_mx.port("lmtp"))
        c.ehlo("x.example")
        c.sendmail("s@example.net", [USER], big)
        c.quit()

    await in_thread(send)
    [stored] = await sqlite_mx.bodies()
    assert stored_part(stored) == big


@pytest_twisted.ensureDeferred
async def test_protocol_errors_are_answered(mx):
    def session():
        raw = Raw(mx.port("lmtp"))
        out = []
        for line in [b"EHLO x", b"MAIL FROM:<a@b.c>", b"LHLO", b"LHLO x", b"RCPT TO:<a@b.c>",
                     b"DATA", b"MAIL FROM:a@b.c", b"MAIL FROM:<a@b.c> FOO=1",
                     b"MAIL FROM:<a@b.c>", b"MAIL FROM:<a@b.c>", b"RCPT TO:<>",
                     b"RCPT TO:<not an address>", b"DATA", b"\xff\xfe", b"BOGUS", b"NOOP",
                     b"RSET", b"VRFY alice", b"QUIT"]:
            raw.send(line + b"\r\n")
            out.append(raw.reply())
        return out

    out = await in_thread(session)
    codes = [int(l[:3]) for l in out]
    assert codes == [500, 503, 501, 250, 503, 503, 501, 555, 250, 503, 501, 501, 503, 500,
                     500, 250, 250, 252, 221]


def _lmtp_session(port: int, recipients: list[str], text: bytes) -> list[bytes]:
    """One pipelined LMTP transaction; the answers after the text, one per recipient."""
    raw = Raw(port)
    raw.send(b"LHLO relay.example.net\r\n")
    raw.reply()
    raw.send(b"MAIL FROM:<s@example.net>\r\n"
             + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients) + b"DATA\r\n")
    envelope = [raw.reply() for _ in range(len(recipients) + 2)]
    assert all(r.startswith(b"250") for r in envelope[:-1]) and envelope[-1][:3] == b"354"
    raw.send(text.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    return [raw.reply() for _ in recipients]


@pytest_twisted.ensureDeferred
async def test_lmtp_many_recipients_share_store_rounds(sqlite_mx):
    # 20 recipients: their appends are in flight together, so the store makes them
    # durable in shared transactions rather than in 20 rounds one after the other.
    users = [f"user{i}@example.org" for i in range(20)]
    for user in users:
        await sqlite_mx.store.accounts.add(user, "x")
    text = message(7, 5000)
    before = sqlite_mx.store.db.commits
    answers = await in_thread(_lmtp_session, sqlite_mx.port("lmtp"), users, text)
    rounds = sqlite_mx.store.db.commits - before
    assert [a.split()[2] for a in answers] == [f"<{u}>".encode() for u in users]
    assert all(a.startswith(b"250 2.0.0") for a in answers)
    assert rounds < len(users), f"{rounds} store rounds for {len(users)} recipients"
    for user in users:
        [stored] = await sqlite_mx.bodies(user)
        assert stored_part(stored) == text
        assert b"for <" + user.encode() + b">" in stored


@pytest_twisted.ensureDeferred
async def test_lmtp_spooled_message_to_several_recipients(sqlite_mx):
    # Larger than what stays in memory: every recipient's append reads the one spool
    # file, at once, and each stores the whole text under its own trace fields.
    text = message(8, 1536 * 1024)
    answers = await in_thread(_lmtp_session, sqlite_mx.port("lmtp"),
                              [USER, "alice+copy@example.org", OTHER], text)
    assert all(a.startswith(b"250 2.0.0") for a in answers)
    alice = await sqlite_mx.bodies(USER)
    assert len(alice) == 2 and all(stored_part(s) == text for s in alice)
    # The two copies were appended at once: either may have the lower UID.
    assert sorted(s.split(b"for <", 1)[1].split(b">", 1)[0] for s in alice) == [
        b"alice+copy@example.org", USER.encode()]
    [bob] = await sqlite_mx.bodies(OTHER)
    assert stored_part(bob) == text
