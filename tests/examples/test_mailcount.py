"""The example protocol (examples/mailcount_protocol): built by the builder contract over a
real store, driven by a socket client; its login goes through the front door (policy,
log line, device list); hostile input leaves it serving."""

from __future__ import annotations

import base64
import socket

import pytest
import pytest_twisted
from mailcount_protocol.mailcount import PROTOCOL, build_service
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password, make_portal
from smsync.edge import make_edge
from smsync.store.registry import open_store
from smsync.tap.service import as_service

USER = "alice@example.com"
PASSWORD = "secret"


@pytest.fixture
def served():
    async def start():
        store = await open_store("memory:")
        await store.accounts.add(USER, hash_password(PASSWORD))
        inbox = await (await store.mail(USER)).mailbox("INBOX")
        for n in range(3):
            await inbox.append(b"Subject: %d\r\n\r\nbody\r\n" % n)
        service = as_service(PROTOCOL, build_service(make_edge(store, make_portal(store)), []),
                             ["tcp:0:interface=127.0.0.1"])
        service.startService()
        await service.listening
        return store, service

    store, service = pytest_twisted.blockon(Deferred.fromCoroutine(start()))
    yield store, service.ports[0].getHost().port
    pytest_twisted.blockon(service.stopService())
    pytest_twisted.blockon(store.close())


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode())


def talk(port, *lines: bytes) -> list[str]:
    """Send ``lines`` and QUIT at once (pipelined), and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(line + b"\r\n" for line in (*lines, b"QUIT")))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode().splitlines()


@pytest_twisted.ensureDeferred
async def test_count_after_login_and_the_device_is_recorded(served):
    store, port = served
    answer = await deferToThread(talk, port, b"AUTH PLAIN " + plain(USER, PASSWORD), b"COUNT")
    assert answer[:3] == ["+OK mailcount ready", "+OK logged in", "* Archive 0"]
    assert "* INBOX 3" in answer and answer[-1] == "+OK bye"
    [device] = await store.devices.list(USER)
    assert device.device_id == "mailcount-127.0.0.1" and device.protocol == "mailcount"


@pytest_twisted.ensureDeferred
async def test_wrong_password_and_policy_are_refused_and_logged(served, log_capture):
    store, port = served
    wrong = await deferToThread(talk, port, b"AUTH PLAIN " + plain(USER, "nope"), b"COUNT")
    assert wrong[1:] == ["-ERR invalid credentials", "-ERR log in first", "+OK bye"]
    await store.policy.set("example.com", {"imap"})
    refused = await deferToThread(talk, port, b"AUTH PLAIN " + plain(USER, PASSWORD))
    assert refused[1] == "-ERR mailcount is not enabled for this account"
    lines = log_capture.lines("smsync.client")
    assert f"smsync: mailcount: authentication failed for {USER} from 127.0.0.1" in lines
    assert f"smsync: mailcount: protocol not allowed for {USER} from 127.0.0.1" in lines


@pytest_twisted.ensureDeferred
async def test_hostile_input_is_answered_and_the_service_keeps_serving(served):
    store, port = served
    garbage = [b"\xff\xfe\x00", b"AUTH PLAIN !!!", b"AUTH", b"COUNT", b"x" * 5000]
    answer = await deferToThread(talk, port, *garbage)
    assert answer[1:5] == ["-ERR unknown command", "-ERR not base64", "-ERR use AUTH PLAIN <base64>",
                           "-ERR log in first"]
    assert answer[-1] == "-ERR line too long"
    again = await deferToThread(talk, port, b"AUTH PLAIN " + plain(USER, PASSWORD), b"COUNT")
    assert "* INBOX 3" in again
