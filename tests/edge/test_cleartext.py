"""Passwords are not taken in clear from other hosts (issue 11, item 5; RFC 8314).

The server listens on every interface; clients connect to this machine's own
non-loopback address, so the server sees a peer that is not on the loopback interface.
Over such a connection a password is refused until TLS is on (IMAP LOGINDISABLED and
PRIVACYREQUIRED, POP3 -ERR, SMTP AUTH not offered, HTTP 403), unless the config allows
cleartext passwords; from 127.0.0.1 it is taken as before."""

from __future__ import annotations

import base64
import http.client
import imaplib
import poplib
import smtplib
import socket

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.testing.servers import (PASSWORD, USER, RunningServers, client_tls_context,
                                    config_with)


def outside_address() -> str:
    """An address of this machine not on the loopback interface (none: skip)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = s.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    return address


async def start(allow: bool):
    config = config_with(tls={"allow_cleartext_passwords": allow},
                         delivery={"hostname": "mx.test"})
    running = await RunningServers.start(("imap", "pop3", "submission", "caldav"), tls=True,
                                         config=config, interface="0.0.0.0")
    return running


def imap_plain(address, port):
    client = imaplib.IMAP4(address, port)
    try:
        caps = client.capabilities
        try:
            client.login(USER, PASSWORD)
            result = "OK"
        except imaplib.IMAP4.error as e:
            result = str(e)
        return caps, result
    finally:
        client.shutdown()


def imap_starttls(address, port):
    client = imaplib.IMAP4(address, port)
    try:
        client.starttls(client_tls_context())
        return client.login(USER, PASSWORD)[0]
    finally:
        client.shutdown()


def pop3_plain(address, port):
    client = poplib.POP3(address, port)
    try:
        client.user(USER)
        return client.pass_(PASSWORD).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        client.close()


def smtp_features(address, port, tls: bool):
    client = smtplib.SMTP(address, port)
    try:
        client.ehlo()
        if tls:
            client.starttls(context=client_tls_context())
            client.ehlo()
        return client.has_extn("auth")
    finally:
        client.close()


def dav_status(address, port):
    conn = http.client.HTTPConnection(address, port)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("PROPFIND", "/dav/", headers={"Authorization": f"Basic {token}", "Depth": "0"})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest_twisted.ensureDeferred
async def test_passwords_from_other_hosts_need_tls():
    address = outside_address()
    running = await start(allow=False)
    try:
        caps, result = await deferToThread(imap_plain, address, running.port("imap"))
        assert "LOGINDISABLED" in caps and "PRIVACYREQUIRED" in result
        assert await deferToThread(imap_starttls, address, running.port("imap")) == "OK"
        assert "plaintext authentication disallowed" in await deferToThread(
            pop3_plain, address, running.port("pop3"))
        assert not await deferToThread(smtp_features, address, running.port("submission"), False)
        assert await deferToThread(smtp_features, address, running.port("submission"), True)
        assert await deferToThread(dav_status, address, running.port("caldav")) == 403
        # From the loopback interface nothing changes.
        caps, result = await deferToThread(imap_plain, "127.0.0.1", running.port("imap"))
        assert result == "OK"
        assert (await deferToThread(pop3_plain, "127.0.0.1", running.port("pop3"))).startswith("+OK")
        assert await deferToThread(dav_status, "127.0.0.1", running.port("caldav")) == 207
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_the_config_can_allow_cleartext_passwords():
    address = outside_address()
    running = await start(allow=True)
    try:
        caps, result = await deferToThread(imap_plain, address, running.port("imap"))
        assert "LOGINDISABLED" not in caps and result == "OK"
        assert (await deferToThread(pop3_plain, address, running.port("pop3"))).startswith("+OK")
        assert await deferToThread(dav_status, address, running.port("caldav")) == 207
    finally:
        await running.stop()
