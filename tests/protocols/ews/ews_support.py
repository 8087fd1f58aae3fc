"""What the EWS tests share: a server over a fresh SQLite store, exchangelib accounts on
it, and a raw SOAP client for what exchangelib does not send."""

from __future__ import annotations

import base64
import http.client
from typing import Optional

import pytest_twisted
from lxml import etree
from twisted.internet.defer import ensureDeferred

from smsync.protocols.ews import soap
from smsync.testing.servers import PASSWORD, SQLITE, USER, RunningServers

EWS_PATH = "/EWS/Exchange.asmx"


def start(protocols=("ews",), **kwargs) -> RunningServers:
    return pytest_twisted.blockon(ensureDeferred(RunningServers.start(protocols, SQLITE, **kwargs)))


def stop(running) -> None:
    pytest_twisted.blockon(ensureDeferred(running.stop()))


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
