"""Timeouts, failed-login slowdown, and what a vanished client leaves behind."""

from __future__ import annotations

import time

import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread, start_server
from twisted.internet import reactor
from twisted.internet.task import deferLater


@pytest_twisted.ensureDeferred
async def test_idle_connections_time_out():
    running = await start_server(unauth_timeout=0.3, auth_timeout=0.6)
    try:

        def client():
            quiet = running.raw()
            started = time.monotonic()
            assert quiet.line().startswith(b"* BYE")
            assert quiet.closed()
            waited = time.monotonic() - started
            authed = running.raw()
            authed.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
            started = time.monotonic()
            # Activity keeps the session alive past the unauthenticated limit...
            for _ in range(3):
                time.sleep(0.2)
                assert authed.command(b"n", b"NOOP")[-1].startswith(b"n OK")
            # ...and silence past the authenticated one ends it.
            assert authed.line().startswith(b"* BYE")
            return waited, time.monotonic() - started

        waited, authed_life = await in_thread(client)
        assert 0.25 < waited < 3
        assert authed_life > 0.9
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_a_failed_login_is_answered_after_a_delay():
    """Each NO waits ``failed_login_delay`` (growing delays and lock-outs across
    connections are the edge's login limiter: tests/edge/test_limiter.py)."""
    running = await start_server(failed_login_delay=0.25)
    try:

        def client():
            raw = running.raw()
            started = time.monotonic()
            line = raw.command(b"t1", b"LOGIN " + USER.encode() + b" nope")[-1]
            assert b"NO [AUTHENTICATIONFAILED]" in line
            assert time.monotonic() - started >= 0.25
            line = raw.command(b"ok", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1]
            assert line.startswith(b"ok OK")
            raw.close()

        await in_thread(client)
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_disconnect_mid_append_leaves_nothing(server):
    def client():
        raw = server.raw()
        raw.command(b"a", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        raw.send(b"b APPEND INBOX {100000}\r\n")
        assert raw.line().startswith(b"+")
        raw.send(b"Subject: half\r\n\r\n" + b"x" * 50000)
        raw.close()

    await in_thread(client)
    await deferLater(reactor, 0.2, lambda: None)
    box = await server.mailbox()
    assert await box.uids() == []
    assert not server.factory.connections


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_answer_in_order(server):
    def client():
        raw = server.raw()
        login = b"a LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"\r\n'
        raw.send(login + b"b SELECT INBOX\r\nc APPEND INBOX {3+}\r\nabc\r\nd NOOP\r\ne LOGOUT\r\n")
        tags = []
        while True:
            try:
                line = raw.line()
            except ConnectionError:
                break
            if not line.startswith(b"*"):
                tags.append(line.split()[0])
        return tags

    assert await in_thread(client) == [b"a", b"b", b"c", b"d", b"e"]
