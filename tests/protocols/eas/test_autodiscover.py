"""Autodiscover (mobilesync schemas): requests read back, answers a phone can follow,
and nothing but ``AutodiscoverError`` for bad input (XXE included)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.protocols.eas.autodiscover import (
    ENVELOPE_NS,
    RESPONSE_NS,
    SCHEMA_NOT_SUPPORTED,
    AutodiscoverError,
    error_response,
    parse_request,
    request_body,
    settings_response,
)

local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=30)
emails = st.builds(lambda a, b: f"{a}@{b}.example", local, local)


@given(emails)
def test_request_round_trip(email):
    assert parse_request(request_body(email)).email == email


@given(emails)
def test_the_settings_answer_names_the_url(email):
    url = "https://mail.example.org/Microsoft-Server-ActiveSync"
    root = etree.fromstring(settings_response(email, url))
    assert root.tag == f"{{{ENVELOPE_NS}}}Autodiscover"
    ns = {"r": RESPONSE_NS}
    assert root.findtext("r:Response/r:User/r:EMailAddress", namespaces=ns) == email
    server = root.find("r:Response/r:Action/r:Settings/r:Server", namespaces=ns)
    assert server.findtext("r:Type", namespaces=ns) == "MobileSync"
    assert server.findtext("r:Url", namespaces=ns) == url


def test_an_error_answer_carries_its_code():
    root = etree.fromstring(error_response(SCHEMA_NOT_SUPPORTED, "no"))
    ns = {"r": RESPONSE_NS}
    assert root.findtext("r:Response/r:Action/r:Error/r:ErrorCode", namespaces=ns) == "601"


XXE = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/'
       b'requestschema/2006"><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>')


@pytest.mark.parametrize("body, code", [
    (b"", 600), (b"not xml", 600), (XXE, 600), (b"<a/>", 600),
    (request_body("alice@example.org").replace(b"mobilesync/responseschema", b"outlook/responseschema"), 601),
    (request_body("not-an-address"), 600),
    (b"<x>" * 20000, 600),
])
def test_bad_requests(body, code):
    with pytest.raises(AutodiscoverError) as info:
        parse_request(body)
    assert info.value.code == code


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_is_only_ever_an_autodiscover_error(body):
    try:
        parse_request(body)
    except AutodiscoverError:
        pass


# -- over HTTP ------------------------------------------------------------------------

import base64  # noqa: E402
import http.client  # noqa: E402

import pytest_twisted  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402
from twisted.internet.threads import deferToThread  # noqa: E402

from smsync.testing.servers import OTHER, PASSWORD, USER, RunningServers, client_tls_context  # noqa: E402


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def discover(port, body: bytes, user=USER, password=PASSWORD, method="POST", path=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls_context(), timeout=30)
    headers = {"Content-Type": "text/xml", "Host": "mail.example.org"}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request(method, path or "/Autodiscover/Autodiscover.xml", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def _texts(payload: bytes, tag: str) -> list:
    return [e.text for e in etree.fromstring(payload).iter(f"{{{RESPONSE_NS}}}{tag}")]


@pytest_twisted.ensureDeferred
async def test_a_phone_finds_the_eas_url_from_its_address(server):
    port = server.port("http", tls=True)
    status, payload = await deferToThread(discover, port, request_body(USER))
    assert status == 200
    assert _texts(payload, "Url") == ["https://mail.example.org/Microsoft-Server-ActiveSync"]
    assert _texts(payload, "Type") == ["MobileSync"]
    assert _texts(payload, "EMailAddress") == [USER]
    # The same lower-case path phones also use.
    status, payload = await deferToThread(discover, port, request_body(USER), path="/autodiscover/autodiscover.xml")
    assert status == 200 and _texts(payload, "Url")


@pytest_twisted.ensureDeferred
async def test_autodiscover_needs_the_password_and_answers_only_for_oneself(server):
    port = server.port("http", tls=True)
    status, _ = await deferToThread(discover, port, request_body(USER), user=None)
    assert status == 401
    status, _ = await deferToThread(discover, port, request_body(USER), password="wrong")
    assert status == 401
    status, payload = await deferToThread(discover, port, request_body(OTHER))
    assert status == 200 and _texts(payload, "ErrorCode") == ["600"] and not _texts(payload, "Url")
    status, payload = await deferToThread(discover, port, b"<not xml")
    assert status == 200 and _texts(payload, "ErrorCode") == ["600"]
    status, _ = await deferToThread(discover, port, b"", method="DELETE")
    assert status == 405
