"""Storage quotas where mail enters: LMTP refuses a message over the account's quota
(452 4.2.2, or 552 5.2.2 for one larger than the quota itself), IMAP APPEND answers
NO [OVERQUOTA], IMAP GETQUOTAROOT reports the account's limit -- with the limit set
through ``smsync.admin.accounts`` as the CLI and the web pages set it."""

from __future__ import annotations

import imaplib
import smtplib

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.admin import accounts
from smsync.edge.quota import OverQuota, Quotas
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread


@pytest.fixture
def servers():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("lmtp", "imap"), SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def message(size: int) -> bytes:
    return b"Subject: quota\r\n\r\n" + b"x" * size + b"\r\n"


def lmtp_send(running, body: bytes, to=(USER,)):
    """The per-recipient replies of one LMTP transaction."""
    client = smtplib.LMTP(running.host, running.port("lmtp"))
    try:
        client.ehlo()
        client.mail("sender@example.net")
        for address in to:
            client.rcpt(address)
        client.putcmd("data")
        client.getreply()
        client.send(body.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        return [client.getreply() for _ in to]
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_delivery_append_and_getquota_keep_the_quota(servers):
    store = servers.store
    await accounts.set_quota(store, USER, 3000)
    servers.service.edge.quotas.forget()
    # Fits: delivered. Another that would pass the limit: 452 4.2.2 for USER, while
    # OTHER (no quota) gets it.
    replies = await in_thread(lmtp_send, servers, message(2000))
    assert replies[0][0] == 250
    replies = await in_thread(lmtp_send, servers, message(2000), (USER, OTHER))
    assert replies[0][0] == 452 and replies[0][1].startswith(b"4.2.2")
    assert replies[1][0] == 250
    # Larger than the quota itself: 552 5.2.2 (it would never fit).
    replies = await in_thread(lmtp_send, servers, message(5000))
    assert replies[0][0] == 552 and replies[0][1].startswith(b"5.2.2")
    assert len(await servers.bodies()) == 1

    def imap():
        c = imaplib.IMAP4(servers.host, servers.port("imap"))
        c.login(USER, PASSWORD)
        root = c.getquotaroot("INBOX")
        refused = c.append("INBOX", None, None, message(2000))
        fits = c.append("INBOX", None, None, message(100))
        c.logout()
        return root, refused, fits

    root, refused, fits = await in_thread(imap)
    assert root[0] == "OK" and b'(STORAGE 3 3)' in b" ".join(x for x in root[1][1] if x)
    assert refused[0] == "NO" and b"[OVERQUOTA]" in refused[1][0]
    assert fits[0] == "OK"
    # Full to the last octet: refused at RCPT already, the other recipient served.
    await accounts.set_quota(store, USER, (await accounts.usage(store, USER)))
    servers.service.edge.quotas.forget()

    def rcpt():
        client = smtplib.LMTP(servers.host, servers.port("lmtp"))
        try:
            client.ehlo()
            client.mail("sender@example.net")
            return client.rcpt(USER), client.rcpt(OTHER)
        finally:
            client.close()

    full, fine = await in_thread(rcpt)
    assert full[0] == 452 and full[1].startswith(b"4.2.2") and fine[0] == 250
    # No quota: everything goes again.
    await accounts.set_quota(store, USER, None)
    servers.service.edge.quotas.forget()
    replies = await in_thread(lmtp_send, servers, message(5000))
    assert replies[0][0] == 250


@pytest_twisted.ensureDeferred
async def test_quotas_remember_limits_briefly():
    from smsync.store.registry import open_store
    from smsync.testing.base import HASH_1

    store = await open_store("memory:")
    try:
        await store.accounts.add(USER, HASH_1)
        now = [0.0]
        quotas = Quotas(store, ttl=5, clock=lambda: now[0])
        assert not quotas.known_unlimited(USER)
        await quotas.check(USER, 10 ** 9)
        assert quotas.known_unlimited(USER)
        await accounts.set_quota(store, USER, 100)
        await quotas.check(USER, 10 ** 9)  # remembered: no read yet
        now[0] = 6
        with pytest.raises(OverQuota) as caught:
            await quotas.check(USER, 101)
        assert caught.value.permanent
        await (await (await store.mail(USER)).mailbox("INBOX")).append(message(60))
        with pytest.raises(OverQuota) as caught:
            await quotas.check(USER, 50)
        assert not caught.value.permanent
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_exceeded_reads_sizes_only_for_limited_accounts_and_logs_refusals():
    from twisted.logger import globalLogPublisher

    from smsync.edge.quota import exceeded, require
    from smsync.store.registry import open_store
    from smsync.testing.base import HASH_1

    store = await open_store("memory:")
    seen = []
    observer = seen.append
    globalLogPublisher.addObserver(observer)
    try:
        await store.accounts.add(USER, HASH_1)
        quotas = Quotas(store)

        async def never():
            raise AssertionError("sizes read for an account without a quota")

        assert await exceeded(quotas, USER, never, "COPY") is None
        assert await exceeded(None, USER, 10 ** 9, "COPY") is None
        await accounts.set_quota(store, USER, 100)
        quotas.forget()

        async def big():
            return 101

        refused = await exceeded(quotas, USER, big, "IMAP COPY")
        assert isinstance(refused, OverQuota) and refused.permanent
        assert await exceeded(quotas, USER, 0, "a rewrite making nothing bigger") is None
        with pytest.raises(OverQuota):
            await require(quotas, USER, 101, "EWS CopyItem")
        lines = [e for e in seen if e.get("log_namespace") == "smsync.quota"]
        assert [e["what"] for e in lines] == ["IMAP COPY", "EWS CopyItem"]
    finally:
        globalLogPublisher.removeObserver(observer)
        await store.close()
