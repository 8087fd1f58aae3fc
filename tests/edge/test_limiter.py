"""The login limiter (issue 11, item 3): per address and per account, across connections
and protocols, with growing delays, a lock-out, and bounded memory.

The unit tests drive ``LoginLimiter`` on a ``Clock``; the end-to-end ones hammer a real
server with imaplib, poplib and smtplib from two loopback addresses (127.0.0.1 and
127.0.0.2: Linux routes all of 127/8 to the loopback interface)."""

from __future__ import annotations

import imaplib
import poplib
import socket
import time

import pytest
import pytest_twisted
from twisted.internet.defer import DeferredList, ensureDeferred
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.config import Config, LoginsConfig
from smsync.edge.limiter import LimiterSettings, LoginLimiter
from smsync.edge.logins import LoginUnavailable
from smsync.tap.service import Plan, SmsyncService

SETTINGS = LimiterSettings(initial_delay=1.0, max_delay=8.0, max_failures=5, lockout=60.0,
                           forget_after=120.0, max_entries=1000)


def start(limiter, user, host):
    """``before`` as a Deferred, and whether it has fired (with what)."""
    d = ensureDeferred(limiter.before("imap", user, host))
    out = []
    d.addBoth(out.append)
    return d, out


def test_no_failures_no_wait():
    limiter = LoginLimiter(SETTINGS, Clock())
    _, out = start(limiter, "a@x", "192.0.2.1")
    assert out == [None]


def test_delay_grows_and_parallel_attempts_queue_up():
    clock = Clock()
    limiter = LoginLimiter(SETTINGS, clock)
    for _ in range(3):
        limiter.failed("imap", "a@x", "192.0.2.1")
    # Three failures: 4 s between attempts. Three parallel attempts take three slots.
    started = [start(limiter, f"other{i}@x", "192.0.2.1") for i in range(3)]
    waits = []
    for t in range(0, 13):
        for i, (_, out) in enumerate(started):
            if out and i not in [w[0] for w in waits]:
                waits.append((i, t))
        clock.advance(1)
    assert [t for _, t in sorted(waits)] == [4, 8, 12]


def test_lockout_after_max_failures_and_it_ends():
    clock = Clock()
    limiter = LoginLimiter(SETTINGS, clock)
    for _ in range(5):
        limiter.failed("pop3", "a@x", "192.0.2.1")
    _, out = start(limiter, "b@x", "192.0.2.1")
    assert len(out) == 1 and out[0].check(LoginUnavailable)
    clock.advance(61)
    d, out = start(limiter, "b@x", "192.0.2.1")
    clock.advance(10)
    assert out == [None]


def test_account_lockout_spares_its_owners_address():
    clock = Clock()
    limiter = LoginLimiter(SETTINGS, clock)
    limiter.succeeded("imap", "Owner@X", "198.51.100.7")
    for i in range(5):  # guesses from five addresses
        limiter.failed("imap", "owner@x", f"192.0.2.{i}")
    _, attacker = start(limiter, "owner@x", "192.0.2.99")
    assert attacker[0].check(LoginUnavailable)
    _, owner = start(limiter, "OWNER@x", "198.51.100.7")
    assert owner == [None]


def test_success_clears_the_account_not_the_address():
    clock = Clock()
    limiter = LoginLimiter(SETTINGS, clock)
    for _ in range(4):
        limiter.failed("imap", "a@x", "192.0.2.1")
    limiter.succeeded("imap", "a@x", "192.0.2.1")
    _, out = start(limiter, "a@x", "192.0.2.1")
    assert out == []  # the address still waits for its slot
    clock.advance(8)
    assert out == [None]


def test_failures_are_forgotten_and_memory_is_bounded():
    clock = Clock()
    limiter = LoginLimiter(SETTINGS, clock)
    limiter.failed("imap", "a@x", "192.0.2.1")
    clock.advance(121)
    _, out = start(limiter, "a@x", "192.0.2.1")
    assert out == [None]
    for i in range(5000):
        limiter.failed("imap", f"u{i}@x", f"10.0.{i // 250}.{i % 250}")
    assert len(limiter) <= SETTINGS.max_entries


def test_exempt_addresses_are_never_limited():
    limiter = LoginLimiter(LimiterSettings(max_failures=1, exempt=("127.0.0.1",)), Clock())
    for _ in range(5):
        limiter.failed("imap", "a@x", "127.0.0.1")
    _, out = start(limiter, "a@x", "127.0.0.1")
    assert out == [None]


def test_settings_come_from_the_config():
    config = Config(logins=LoginsConfig(initial_delay_ms=250, max_delay_ms=4000, max_failures=3,
                                        lockout_seconds=30, forget_after_seconds=40,
                                        exempt=("10.1.2.3",)))
    s = LimiterSettings.from_config(config)
    assert (s.initial_delay, s.max_delay, s.max_failures, s.lockout, s.forget_after, s.exempt) \
        == (0.25, 4.0, 3, 30.0, 40.0, ("10.1.2.3",))


# -- end to end -------------------------------------------------------------------------

USER, VICTIM, PASSWORD = "alice@example.org", "victim@example.org", "right password"
LOCAL = "tcp:0:interface=127.0.0.1"


@pytest.fixture
def server():
    config = Config(logins=LoginsConfig(initial_delay_ms=300, max_delay_ms=300, max_failures=6,
                                        lockout_seconds=600))
    plan = Plan(store_uri="memory:", config=config, streams={"imap": [LOCAL], "pop3": [LOCAL]})
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    pytest_twisted.blockon(service.ready)
    assert service.failures == []
    # The protocols' own answer delay is not what is measured here.
    for name in ("imap", "pop3"):
        service.listeners[name].factory.config.failed_login_delay = 0
    digest = hash_password(PASSWORD)
    for account in (USER, VICTIM):
        pytest_twisted.blockon(service.store.accounts.add(account, digest))
    yield service
    pytest_twisted.blockon(service.stopService())


def port(service, name):
    return service.listeners[name].ports[0].getHost().port


class _FromSource:
    """A stdlib client connecting from a chosen loopback address."""

    def __init__(self, port_no, source):
        self.source = source
        super().__init__("127.0.0.1", port_no, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))


class IMAPFrom(_FromSource, imaplib.IMAP4):
    pass


class POP3From(_FromSource, poplib.POP3):
    pass


def imap_try(port_no, user, password, source):
    client = IMAPFrom(port_no, source)
    try:
        client.login(user, password)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        client.shutdown()


def pop3_try(port_no, user, password, source):
    client = POP3From(port_no, source)
    try:
        client.user(user)
        client.pass_(password)
        return "OK"
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_parallel_connections_do_not_bypass_the_delay(server):
    imap = port(server, "imap")
    assert "AUTHENTICATIONFAILED" in await deferToThread(imap_try, imap, VICTIM, "guess", "127.0.0.2")
    begun = time.monotonic()
    answers = await DeferredList([deferToThread(imap_try, imap, VICTIM, f"guess{i}", "127.0.0.2")
                                  for i in range(4)])
    elapsed = time.monotonic() - begun
    assert all(ok and "AUTHENTICATIONFAILED" in text for ok, text in answers)
    # Four attempts, one 0.3 s slot each: at least 1.2 s together (parallel sleeps
    # would have taken 0.3 s).
    assert elapsed >= 1.1, elapsed


@pytest_twisted.ensureDeferred
async def test_lockout_holds_across_protocols_and_spares_other_addresses(server, log_capture):
    imap, pop3 = port(server, "imap"), port(server, "pop3")
    for i in range(6):
        protocol_try = imap_try if i % 2 else pop3_try
        await deferToThread(protocol_try, imap if i % 2 else pop3, VICTIM, f"g{i}", "127.0.0.2")
    # Locked: even the right password is not checked, in either protocol.
    locked_imap = await deferToThread(imap_try, imap, VICTIM, PASSWORD, "127.0.0.2")
    assert "UNAVAILABLE" in locked_imap
    locked_pop3 = await deferToThread(pop3_try, pop3, USER, PASSWORD, "127.0.0.2")
    assert locked_pop3.startswith("-ERR [SYS/TEMP]")
    # Another address logs in at once.
    begun = time.monotonic()
    assert await deferToThread(imap_try, imap, USER, PASSWORD, "127.0.0.1") == "OK"
    assert time.monotonic() - begun < 1.0
    lines = log_capture.lines("smsync.client")
    assert any("locked out" in line and "127.0.0.2" in line for line in lines)
