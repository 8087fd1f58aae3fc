"""What the EWS tests share: a server over a fresh SQLite store (one relaying iMIP mail
to an SMTP sink for the meeting tests), exchangelib accounts on it, a raw SOAP client for
what exchangelib does not send, and reading what the store and the sink got."""

from __future__ import annotations

import base64
import email
import http.client
from typing import Optional

import pytest_twisted
from lxml import etree
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from smsync.protocols.ews import soap
from smsync.testing.servers import PASSWORD, SQLITE, USER, RunningServers, config_with

EWS_PATH = "/EWS/Exchange.asmx"


def start(protocols=("ews",), **kwargs) -> RunningServers:
    return pytest_twisted.blockon(ensureDeferred(RunningServers.start(protocols, SQLITE, **kwargs)))


def stop(running) -> None:
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def serving(protocols=("ews",), **kwargs):
    """For a fixture to ``yield from``: servers of ``protocols`` for one test."""
    running = start(protocols, **kwargs)
    yield running
    stop(running)


def dav(running, method: str, path: str, body: bytes = b"", headers=None):
    """``(status, body)`` of one WebDAV request (CalDAV, CardDAV) as USER."""
    conn = http.client.HTTPConnection(running.host, running.port("http"), timeout=30)
    sent = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    sent.update(headers or {})
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def relaying(tmp_path, protocols=("ews",)):
    """For a fixture to ``yield from``: servers whose mail to other domains (iMIP
    invitations, replies) goes through the relay to an SMTP sink, ``running.sink``."""
    from tests.protocols.delivery.delivery_harness import Sink

    sink = Sink()
    sink.listen()
    config = config_with(delivery={
        "hostname": "mx.example.org", "smarthost": f"127.0.0.1:{sink.portno}",
        "queue_dir": str(tmp_path / "queue"), "retry_initial": 0.2, "retry_max": 0.4})
    running = start(protocols, config=config, directory=tmp_path)
    running.sink = sink
    yield running
    stop(running)
    pytest_twisted.blockon(ensureDeferred(sink.stop()))


async def stored_items(server, user: str, kind: str = "calendar") -> list:
    """``user``'s stored items of every collection of ``kind`` ("calendar", "schedule-inbox")."""
    cstore = await server.collections(user)
    out = []
    for info in await cstore.list_collections():
        if info.kind.value == kind:
            handle = await cstore.collection_by_id(info.id)
            out += await handle.get([i.name for i in await handle.items()])
    return out


async def wait_until(predicate, timeout: float = 10.0) -> None:
    """Let the reactor run until ``predicate()`` holds (AssertionError after ``timeout`` s)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError("condition not met in time")


def calendar_part(raw: bytes) -> str:
    """The text/calendar part of a mail, decoded."""
    for part in email.message_from_bytes(raw).walk():
        if part.get_content_type() == "text/calendar":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text/calendar part")


def account(running, user: str = USER, password: str = PASSWORD, version=None):
    """An exchangelib ``Account`` of ``user`` on ``running`` (autodiscover off). Blocking:
    call from a thread."""
    from exchangelib import DELEGATE, Account, Configuration, Credentials

    kwargs = {}
    if version is not None:
        from exchangelib import Build, Version

        kwargs["version"] = Version(build=Build(*version))
    config = Configuration(service_endpoint=running.url + EWS_PATH,
                           credentials=Credentials(user, password), **kwargs)
    return Account(user, config=config, autodiscover=False, access_type=DELEGATE)


def post(port: int, body: bytes, user: Optional[str] = USER, password: str = PASSWORD,
         path: str = EWS_PATH, method: str = "POST", headers=None):
    """``(status, headers, payload)`` of one raw request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Content-Type": "text/xml; charset=utf-8"}
    if user is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    sent.update(headers or {})
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def operation(name: str, xml: str = "") -> etree._Element:
    """``<m:{name}>`` holding ``xml`` (written with the m: and t: prefixes)."""
    text = (f'<m:{name} xmlns:m="{soap.M}" xmlns:t="{soap.T}">{xml}</m:{name}>')
    return etree.fromstring(text)


def call(port: int, name: str, xml: str = "", version: str = soap.LATEST, **kwargs) -> soap.Answer:
    status, _headers, payload = post(port, soap.request_envelope(operation(name, xml), version), **kwargs)
    answer = soap.read_response(payload)
    assert (status == 200) == (answer.fault_code is None), (status, payload[:500])
    return answer


def codes(answer: soap.Answer) -> list:
    return [msg.findtext(soap.m("ResponseCode")) for msg in soap.messages_of(answer.payload)]
