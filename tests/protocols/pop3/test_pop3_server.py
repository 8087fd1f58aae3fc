"""The POP3 server with real clients: stdlib poplib and a raw socket for pipelining,
STLS and malformed input."""

from __future__ import annotations

import base64
import poplib

import pytest
import pytest_twisted
from pop3_harness import OTHER, PASSWORD, USER, in_thread, message, start_server

from smsync.model import UIDSet
from smsync.testing.servers import SQLITE, client_tls_context


def _whole(lines: list[bytes]) -> bytes:
    return b"".join(l + b"\r\n" for l in lines)


@pytest_twisted.ensureDeferred
async def test_stat_list_uidl_retr_top(server):
    bodies = [message(1), message(2, 5000), message(3)]
    uids = await server.deliver(*bodies)
    info = await (await server.mailbox()).info()

    def client():
        c = server.poplib()
        stat = c.stat()
        listing = c.list()[1]
        uidl = c.uidl()[1]
        one = c.uidl(2)
        retr = [c.retr(i)[1] for i in (1, 2, 3)]
        top = c.top(2, 1)[1]
        c.quit()
        return stat, listing, uidl, one, retr, top

    stat, listing, uidl, one, retr, top = await in_thread(client)
    assert stat == (3, sum(len(b) for b in bodies))
    assert listing == [b"%d %d" % (i, len(b)) for i, b in enumerate(bodies, 1)]
    assert uidl == [f"{i} {info.uidvalidity}.{uid}".encode() for i, uid in enumerate(uids, 1)]
    assert one == f"+OK 2 {info.uidvalidity}.{uids[1]}".encode()
    # poplib undoes the dot-stuffing: what it got is exactly what was stored.
    assert [_whole(r) for r in retr] == bodies
    header, _, body = bodies[1].partition(b"\r\n\r\n")
    assert _whole(top) == header + b"\r\n\r\n" + body.split(b"\r\n")[0] + b"\r\n"


@pytest_twisted.ensureDeferred
async def test_dele_takes_effect_only_at_quit(server):
    uids = await server.deliver(message(1), message(2), message(3))
    inbox = await server.mailbox()

    def dele_then_drop():
        c = server.poplib()
        c.dele(1)
        c.dele(3)
        assert c.stat()[0] == 1
        with pytest.raises(poplib.error_proto, match="no such message"):
            c.retr(1)
        c.sock.close()  # dropped connection: no UPDATE state

    await in_thread(dele_then_drop)
    # Let the server see the close and release its lock.
    await _settle()
    assert await inbox.uids() == uids

    def dele_rset_dele_quit():
        c = server.poplib()
        c.dele(1)
        c.rset()
        assert c.stat()[0] == 3
        c.dele(2)
        before = None
        return c, before

    c, _ = await in_thread(dele_rset_dele_quit)
    assert await inbox.uids() == uids  # not yet: no QUIT
    await in_thread(c.quit)
    assert await inbox.uids() == [uids[0], uids[2]]


async def _settle(delay: float = 0.05):
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await deferLater(reactor, delay, lambda: None)


@pytest_twisted.ensureDeferred
async def test_uidls_stable_across_sessions_and_never_reused(server):
    uids = await server.deliver(message(1), message(2))

    def session(delete_first: bool):
        c = server.poplib()
        listing = dict(l.split() for l in c.uidl()[1])
        if delete_first:
            c.dele(1)
        c.quit()
        return listing

    first = await in_thread(session, False)
    second = await in_thread(session, True)
    assert first == second
    gone = first[b"1"]
    await server.deliver(message(3))
    third = await in_thread(session, False)
    assert gone not in third.values()
    assert third[b"1"] == first[b"2"]
    assert len(set(third.values())) == 2


@pytest_twisted.ensureDeferred
async def test_second_session_gets_in_use(server):
    await server.deliver(message(1))

    def clash():
        a = server.poplib()
        b = server.poplib(login=False)
        b.user(USER)
        with pytest.raises(poplib.error_proto) as info:
            b.pass_(PASSWORD)
        # Another account is not affected by the lock.
        other = server.poplib(user=OTHER)
        other.quit()
        a.quit()
        # After QUIT the maildrop is free again.
        c = server.poplib()
        c.quit()
        b.close()
        return info.value.args[0]

    answer = await in_thread(clash)
    assert answer.startswith(b"-ERR [IN-USE]")


@pytest_twisted.ensureDeferred
async def test_wrong_password_and_capa(server):
    def client():
        c = server.poplib(login=False)
        caps = c.capa()
        c.user(USER)
        with pytest.raises(poplib.error_proto) as info:
            c.pass_("wrong")
        c.close()
        return caps, info.value.args[0]

    caps, answer = await in_thread(client)
    for cap in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        assert cap in caps
    assert caps["SASL"] == ["PLAIN"]
    assert "STLS" not in caps  # no certificate configured
    assert answer.startswith(b"-ERR [AUTH]")


@pytest_twisted.ensureDeferred
async def test_auth_plain_initial_and_continued(server):
    await server.deliver(message(1))
    token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())

    def client():
        raw = server.raw()
        raw.send(b"AUTH PLAIN " + token + b"\r\n")
        first = raw.line()
        raw.send(b"QUIT\r\n")
        raw.line()
        raw.close()
        raw = server.raw()
        raw.send(b"AUTH PLAIN\r\n")
        prompt = raw.line()
        raw.send(token + b"\r\n")
        second = raw.line()
        raw.send(b"STAT\r\nQUIT\r\n")
        stat = raw.line()
        raw.line()
        raw.close()
        raw = server.raw()
        raw.send(b"AUTH PLAIN\r\n*\r\nAUTH PLAIN bm90IHBsYWlu\r\nAUTH CRAM-MD5\r\n")
        assert raw.line() == b"+ "
        cancelled, bad, unsupported = raw.line(), raw.line(), raw.line()
        raw.close()
        return first, prompt, second, stat, cancelled, bad, unsupported

    first, prompt, second, stat, cancelled, bad, unsupported = await in_thread(client)
    assert first.startswith(b"+OK maildrop has 1 messages")
    assert prompt == b"+ "
    assert second.startswith(b"+OK")
    assert stat.startswith(b"+OK 1 ")
    assert cancelled.startswith(b"-ERR")
    assert bad.startswith(b"-ERR [AUTH]")
    assert unsupported.startswith(b"-ERR [AUTH]")


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_answered_in_order(server):
    bodies = [message(i, 3000) for i in range(1, 6)]
    await server.deliver(*bodies)

    def client():
        raw = server.raw()
        batch = [f"USER {USER}", f"PASS {PASSWORD}", "STAT"]
        batch += [f"RETR {i}" for i in range(1, 6)]
        batch += ["DELE 5", "LIST", "NOOP", "BOGUS", "QUIT"]
        raw.send("".join(l + "\r\n" for l in batch).encode())
        out = {"user": raw.line(), "pass": raw.line(), "stat": raw.line()}
        out["retr"] = []
        for _ in range(5):
            assert raw.line().startswith(b"+OK")
            out["retr"].append(raw.multiline())
        out["dele"] = raw.line()
        assert raw.line().startswith(b"+OK")
        out["list"] = raw.multiline()
        out["noop"], out["bogus"], out["quit"] = raw.line(), raw.line(), raw.line()
        raw.close()
        return out

    out = await in_thread(client)
    assert out["pass"].startswith(b"+OK")
    assert out["stat"] == b"+OK 5 %d" % sum(len(b) for b in bodies)
    # Dot-stuffed on the wire: unstuff and compare.
    for lines, body in zip(out["retr"], bodies):
        assert b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines) == body
    assert out["list"] == [b"%d %d" % (i, len(bodies[i - 1])) for i in range(1, 5)]
    assert out["noop"] == b"+OK" and out["bogus"].startswith(b"-ERR")
    assert out["quit"].startswith(b"+OK")
    assert len(await (await server.mailbox()).uids()) == 4


@pytest_twisted.ensureDeferred
async def test_bad_input_never_crashes(server):
    def client():
        raw = server.raw()
        answers = []
        for line in [b"", b"\xff\xfe", b"STAT", b"RETR 1", b"USER", b"PASS x", b"X" * 300,
                     b"LIST", f"USER {USER}".encode(), f"PASS {PASSWORD}".encode(),
                     b"RETR", b"RETR 0", b"RETR -1", b"RETR 99999999999", b"TOP 1",
                     b"TOP 1 x", b"LIST 7", b"DELE 1 2", b"USER x", b"STLS", b"NOOP"]:
            raw.send(line + b"\r\n")
            answers.append(raw.line())
        raw.close()
        return answers

    answers = await in_thread(client)
    assert answers[-1] == b"+OK"
    assert answers[9].startswith(b"+OK maildrop has 0")
    assert all(a.startswith(b"-ERR") for a in answers[:8] + answers[10:-1])


@pytest_twisted.ensureDeferred
async def test_records_device(server):
    def client():
        server.poplib().quit()

    await in_thread(client)
    devices = await server.store.devices.list(USER)
    assert [d.protocol for d in devices] == ["pop3"]
    assert devices[0].device_id == "pop3-127.0.0.1" and devices[0].last_sync is not None


@pytest_twisted.ensureDeferred
async def test_deleted_elsewhere_during_session(server):
    uids = await server.deliver(message(1), message(2))
    inbox = await server.mailbox()

    c = await in_thread(server.poplib)
    await inbox.remove(UIDSet.of([uids[0]]))
    with pytest.raises(poplib.error_proto, match="SYS/PERM"):
        await in_thread(c.retr, 1)
    assert (await in_thread(c.retr, 2))[0].startswith(b"+OK")
    await in_thread(c.dele, 1)
    await in_thread(c.quit)
    assert await inbox.uids() == [uids[1]]


@pytest_twisted.ensureDeferred
async def test_large_message_streams_in_ranges():
    running = await start_server(SQLITE, chunk_size=64 * 1024)
    try:
        big = message(1, 3 * 1024 * 1024 + 17)
        await running.deliver(big)
        inbox = await running.mailbox()
        calls = []
        real = inbox.read_body

        # Count the ranges the server asks for through a handle that wraps the real one.
        class Counting:
            def __getattr__(self, name):
                return getattr(inbox, name)

            def read_body(self, uid, offset=0, length=None):
                calls.append((offset, length))
                return real(uid, offset, length)

        def client():
            c = running.poplib()
            return c

        c = await in_thread(client)
        session = next(iter(running.factory.connections))
        session.maildrop.mailbox = Counting()
        lines = (await in_thread(c.retr, 1))[1]
        await in_thread(c.quit)
        assert _whole(lines) == big
        assert len(calls) == -(-len(big) // (64 * 1024))
        assert all(length == 64 * 1024 for _, length in calls)
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_stls():
    running = await start_server("memory:", tls=True, require_tls_for_auth=True)
    try:
        await running.deliver(message(1))

        def client():
            c = running.poplib(login=False)
            before = c.capa()
            c.user(USER) if False else None
            raw_err = None
            try:
                c.user(USER)
            except poplib.error_proto as e:
                raw_err = e.args[0]
            ctx = client_tls_context()
            c.stls(ctx)
            after = c.capa()
            c.user(USER)
            c.pass_(PASSWORD)
            stat = c.stat()
            c.quit()
            return before, raw_err, after, stat

        before, refused, after, stat = await in_thread(client)
        assert "STLS" in before and "USER" not in before
        assert refused.startswith(b"-ERR [AUTH]")
        assert "STLS" not in after and "USER" in after
        assert stat[0] == 1
    finally:
        await running.stop()
