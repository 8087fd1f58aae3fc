"""Every extension issue 3 lists, exercised at least once with imapclient (or a raw
socket where no library speaks it)."""

from __future__ import annotations

import base64
import imaplib
import time
import zlib

import pytest_twisted
from imap_harness import OTHER, PASSWORD, USER, in_thread, start_server

from smsync.model import FlagMode, UIDSet
from smsync.testing.servers import client_tls_context

MSG = (
    b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: %s\r\n"
    b"Date: %s\r\nMessage-ID: <%s@example.org>\r\n%s\r\nbody of %s\r\n"
)


def message(subject: str, date: str = "Mon, 01 Jan 2024 10:00:00 +0000", msgid: str = None, refs: str = None) -> bytes:
    msgid = msgid or subject.replace(" ", "-").replace(":", "")
    extra = f"References: <{refs}@example.org>\r\nIn-Reply-To: <{refs}@example.org>\r\n" if refs else ""
    return MSG % (subject.encode(), date.encode(), msgid.encode(), extra.encode(), subject.encode())


@pytest_twisted.ensureDeferred
async def test_idle_woken_by_other_connection_and_by_store(server):
    box = await server.mailbox()
    await box.append(message("first"))

    def start_idle():
        c = server.imapclient()
        c.select_folder("INBOX")
        c.idle()
        return c

    idler = await in_thread(start_idle)

    def other_append():
        c = server.imapclient()
        c.append("INBOX", message("from another connection"))
        c.logout()

    await in_thread(other_append)
    responses = await in_thread(idler.idle_check, 5)
    assert (2, b"EXISTS") in responses

    started = time.monotonic()
    await box.append(message("direct store append"))
    responses = await in_thread(idler.idle_check, 5)
    assert (3, b"EXISTS") in responses
    assert time.monotonic() - started < 2

    await box.store_flags(UIDSet.of([1]), FlagMode.ADD, ("\\Flagged",))
    responses = await in_thread(idler.idle_check, 5)
    assert any(r[0] == 1 and r[1] == b"FETCH" for r in responses)

    def finish():
        idler.idle_done()
        idler.logout()

    await in_thread(finish)


@pytest_twisted.ensureDeferred
async def test_condstore_qresync_enable(server):
    box = await server.mailbox()
    for i in range(4):
        await box.append(message(f"m{i}"))

    def client():
        c = server.imapclient()
        assert c.enable("QRESYNC") == [b"QRESYNC"]
        info = c.select_folder("INBOX")
        modseq = info[b"HIGHESTMODSEQ"]
        uidvalidity = info[b"UIDVALIDITY"]
        c.add_flags([2], [b"$Seen2"])
        changed = c.fetch([1, 2, 3, 4], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}"])
        assert list(changed) == [2] and changed[2][b"MODSEQ"][0] > modseq
        newer = changed[2][b"MODSEQ"][0]
        # UNCHANGEDSINCE fails for a message changed after the given modseq.
        typ, data = c._imap._simple_command("UID", "STORE", "2", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Seen)")
        assert typ == "OK" and b"[MODIFIED 2]" in data[0]
        c.logout()
        return uidvalidity, modseq, newer

    uidvalidity, modseq, newer = await in_thread(client)
    await box.store_flags(UIDSet.of([3]), FlagMode.ADD, ("\\Deleted",))
    await box.expunge()

    def resync():
        raw = server.raw()
        raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        assert raw.command(b"b", b"ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC"
        lines = raw.command(b"c", b"SELECT INBOX (QRESYNC (%d %d 1:4))" % (uidvalidity, modseq))
        assert b"* VANISHED (EARLIER) 3" in lines
        assert any(l.startswith(b"* 2 FETCH (UID 2 FLAGS") and b"MODSEQ" in l for l in lines)
        lines = raw.command(b"d", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
        assert b"* VANISHED (EARLIER) 3" in lines
        lines = raw.command(b"e", b"SEARCH MODSEQ %d" % newer)
        assert lines[0].startswith(b"* SEARCH 2 (MODSEQ ")
        raw.close()

    await in_thread(resync)


@pytest_twisted.ensureDeferred
async def test_namespace_id_records_device(server):
    def client():
        c = server.imapclient()
        ns = c.namespace()
        assert ns.personal[0][0] == "" and ns.personal[0][1] == "/"
        server_id = c.id_({"name": "TestMailer", "version": "4.2"})
        (pairs,) = server_id
        assert dict(zip(pairs[::2], pairs[1::2]))[b"name"] == b"smsync"
        c.select_folder("INBOX")
        c.logout()

    await in_thread(client)
    devices = await server.store.devices.list(USER)
    assert [d.protocol for d in devices] == ["imap"]
    assert devices[0].user_agent == "TestMailer/4.2" and devices[0].last_sync is not None


@pytest_twisted.ensureDeferred
async def test_uidplus_move_unselect_expunge(server):
    def client():
        c = server.imapclient()
        uids = [int(c.append("INBOX", message(f"u{i}")).split()[2].rstrip(b"]")) for i in range(3)]
        c.select_folder("INBOX")
        c.move([uids[0]], "Archive")
        assert c.search("ALL") == uids[1:]
        c.add_flags(uids[1:], [b"\\Deleted"])
        c.uid_expunge([uids[1]])
        assert c.search("ALL") == [uids[2]]
        c.unselect_folder()
        assert len(c.select_folder("INBOX", readonly=True)[b"EXISTS"] and [1]) == 1
        c.logout()

    await in_thread(client)
    inbox = await server.mailbox()
    assert len(await inbox.uids()) == 1  # UNSELECT does not expunge the \Deleted one
    assert len(await (await server.mailbox("Archive")).uids()) == 1


@pytest_twisted.ensureDeferred
async def test_special_use_list_extended_status(server):
    def client():
        c = server.imapclient()
        assert c.find_special_folder(b"\\Sent") == "Sent"
        raw = server.raw()
        raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        assert raw.command(b"b", b"CREATE Lists/Rust (USE (\\Flagged))")[-1].startswith(b"b NO [USEATTR]")
        raw.command(b"c", b"DELETE Archive")
        assert raw.command(b"d", b"CREATE Old (USE (\\Archive))")[-1].startswith(b"d OK")
        lines = raw.command(b"e", b'LIST (SPECIAL-USE) "" *')
        assert b'* LIST (\\HasNoChildren \\Archive) "/" Old' in lines
        raw.command(b"f", b"UNSUBSCRIBE Junk")
        lines = raw.command(b"g", b'LIST "" (INBOX Junk) RETURN (SUBSCRIBED STATUS (MESSAGES UNSEEN SIZE))')
        assert lines[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX'
        assert lines[1].startswith(b"* STATUS INBOX (MESSAGES 0 UNSEEN 0 SIZE 0)")
        assert lines[2] == b'* LIST (\\HasNoChildren \\Junk) "/" Junk'
        lines = raw.command(b"h", b'LIST (SUBSCRIBED) "" *')
        assert not any(b"Junk" in l for l in lines)
        raw.close()
        status = c.folder_status("INBOX", [b"MESSAGES", b"SIZE", b"UIDNEXT"])
        assert status[b"SIZE"] == 0 and status[b"UIDNEXT"] >= 1
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_esearch_searchres_sort_thread(server):
    box = await server.mailbox()
    await box.append(message("beta", "Wed, 03 Jan 2024 10:00:00 +0000", "b"))
    await box.append(message("Re: alpha", "Tue, 02 Jan 2024 10:00:00 +0000", "r", refs="a"))
    await box.append(message("alpha", "Mon, 01 Jan 2024 10:00:00 +0000", "a"))
    await box.append(message("Fwd: beta", "Thu, 04 Jan 2024 10:00:00 +0000", "f"))

    def client():
        c = server.imapclient()
        c.select_folder("INBOX")
        assert c.sort(["SUBJECT", "DATE"]) == [3, 2, 1, 4]
        assert c.sort(["REVERSE", "DATE"]) == [4, 1, 2, 3]
        assert c.thread("ORDEREDSUBJECT") == ((3, 2), (1, 4))
        assert c.thread("REFERENCES") == ((3, 2), (1, 4))
        raw = server.raw()
        raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        raw.command(b"b", b"SELECT INBOX")
        lines = raw.command(b"c", b"SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT beta")
        assert lines[0] == b'* ESEARCH (TAG "c") MIN 1 MAX 4 ALL 1,4 COUNT 2'
        raw.command(b"d", b"UID SEARCH RETURN (SAVE) SENTSINCE 2-Jan-2024")
        lines = raw.command(b"e", b"UID FETCH $ (UID)")
        assert [l.split()[1] for l in lines[:-1]] == [b"1", b"2", b"4"]
        assert raw.command(b"f", b"SEARCH $ SUBJECT alpha")[0] == b"* SEARCH 2"
        raw.close()
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_literal_plus_sasl_ir_auth_login(server):
    def client():
        raw = server.raw()
        creds = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
        assert raw.command(b"a", b"AUTHENTICATE PLAIN " + creds)[-1].startswith(b"a OK [CAPABILITY")
        raw.send(b"b APPEND INBOX {5+}\r\nhello\r\n")
        assert raw.until(b"b")[-1].startswith(b"b OK [APPENDUID")
        raw.close()
        c = imaplib.IMAP4(server.host, server.portno)
        answers = iter([USER.encode(), PASSWORD.encode()])
        typ, _ = c.authenticate("LOGIN", lambda challenge: next(answers))
        assert typ == "OK"
        c.logout()
        raw = server.raw()
        raw.send(b"c AUTHENTICATE PLAIN\r\n")
        assert raw.line() == b"+ "
        raw.send(base64.b64encode(b"\0" + USER.encode() + b"\0wrong") + b"\r\n")
        assert raw.line().startswith(b"c NO [AUTHENTICATIONFAILED]")
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_starttls_then_login():
    running = await start_server(tls=True, require_tls_for_auth=True)
    try:

        def client():
            c = running.imapclient(login=False)
            assert b"LOGINDISABLED" in c.capabilities() and b"STARTTLS" in c.capabilities()
            ctx = client_tls_context()
            c.starttls(ctx)
            c.login(USER, PASSWORD)
            assert c.select_folder("INBOX")[b"EXISTS"] == 0
            c.logout()

        await in_thread(client)
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_compress_deflate(server):
    def client():
        raw = server.raw()
        raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        assert raw.command(b"b", b"COMPRESS DEFLATE")[-1] == b"b OK DEFLATE active"
        deflate = zlib.compressobj(wbits=-15)
        inflate = zlib.decompressobj(wbits=-15)
        raw.send(deflate.compress(b"c SELECT INBOX\r\nd NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
        text = b""
        while b"d OK" not in text:
            text += inflate.decompress(raw.sock.recv(65536))
        assert b"c OK [READ-WRITE]" in text
        raw.close()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_appendlimit_quota_binary_rev2():
    running = await start_server(append_limit=1000, quota_storage_kb=2048)
    try:
        box = await running.mailbox()
        await box.append(message("x" * 3000))

        def client():
            raw = running.raw()
            raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
            # Refused before the literal is read: no "+" continuation comes first.
            raw.send(b"b APPEND INBOX {5000}\r\n")
            assert raw.line().startswith(b"b NO [TOOBIG]")
            raw.send(b"c APPEND INBOX {2000+}\r\n" + b"x" * 2000 + b"\r\n")
            assert raw.line().startswith(b"c NO [TOOBIG]")
            assert raw.command(b"d", b"NOOP")[-1].startswith(b"d OK")
            lines = raw.command(b"e", b"STATUS INBOX (APPENDLIMIT MESSAGES)")
            assert lines[0] == b"* STATUS INBOX (APPENDLIMIT 1000 MESSAGES 1)"
            raw.send(b"f APPEND INBOX ~{3}\r\na\x00b\r\n")
            assert raw.until(b"f")[-1].startswith(b"f OK")
            raw.command(b"g", b"SELECT INBOX")
            lines = raw.command(b"h", b"FETCH 2 (BINARY.PEEK[1])")
            assert lines[:2] == [b"* 2 FETCH (BINARY[1] ~{3}", b"a\x00b)"]
            raw.close()
            c = running.imapclient()
            roots, quotas = c.get_quota_root("INBOX")
            assert roots.quota_roots == [""]
            assert quotas[0].resource == "STORAGE" and quotas[0].limit == 2048 and quotas[0].usage >= 3
            c.select_folder("INBOX")
            c.append("INBOX", b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n")
            data = c.fetch([3], ["BINARY.PEEK[1]", "BINARY.SIZE[1]"])
            assert data[3][b"BINARY[1]"] == b"hello" and data[3][b"BINARY.SIZE[1]"] == 5
            c.logout()
            raw = running.raw()
            raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
            raw.command(b"b", b"ENABLE IMAP4rev2")
            lines = raw.command(b"c", b"SELECT INBOX")
            assert not any(b"RECENT" in l for l in lines)
            assert raw.command(b"d", b"SEARCH ALL")[0] == b'* ESEARCH (TAG "d") ALL 1:3'
            raw.close()

        await in_thread(client)
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_two_users_are_separate(server):
    def client():
        a = server.imapclient()
        a.append("INBOX", message("private"))
        b = server.imapclient(user=OTHER)
        assert b.select_folder("INBOX")[b"EXISTS"] == 0
        a.logout()
        b.logout()

    await in_thread(client)
