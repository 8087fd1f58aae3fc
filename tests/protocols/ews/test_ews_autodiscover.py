"""Autodiscover for EWS clients: POX ("outlook" schema) beside EAS's mobile one on the
same URL, SOAP GetUserSettings, and exchangelib finding the server by autodiscover."""

from __future__ import annotations

import base64
import http.client

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.edge.autodiscover import requested_schema
from smsync.protocols.eas import autodiscover as eas_autodiscover
from smsync.protocols.ews import autodiscover
from smsync.testing.servers import OTHER, PASSWORD, USER, in_thread
from tests.protocols.ews.ews_support import start, stop

local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=30)
emails = st.builds(lambda a, b: f"{a}@{b}.example", local, local)


@given(emails)
def test_pox_request_round_trip(email):
    assert autodiscover.parse_pox_request(autodiscover.pox_request(email)) == email
    assert requested_schema(autodiscover.pox_request(email)) == autodiscover.RESPONSE_NS
    assert requested_schema(eas_autodiscover.request_body(email)) == eas_autodiscover.RESPONSE_NS


@pytest.mark.parametrize("body", [b"", b"<x", b"<!DOCTYPE a><a/>", b"<a>" * 30000])
def test_a_bad_body_names_no_schema(body):
    assert requested_schema(body) is None


@pytest.fixture
def both():
    running = start(("eas", "ews"))
    yield running
    stop(running)


def post(port, path, body, user=USER, password=PASSWORD):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "text/xml", "Host": "mail.example.org"}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, response.getheader("WWW-Authenticate"), payload


def texts(payload, namespace, tag):
    return [e.text for e in etree.fromstring(payload).iter(f"{{{namespace}}}{tag}")]


@pytest_twisted.ensureDeferred
async def test_one_url_answers_phones_and_outlook_by_schema(both):
    port = both.port("http")
    status, _, payload = await in_thread(post, port, "/autodiscover/autodiscover.xml",
                                         autodiscover.pox_request(USER))
    assert status == 200
    assert set(texts(payload, autodiscover.RESPONSE_NS, "EwsUrl")) == {"http://mail.example.org/EWS/Exchange.asmx"}
    status, _, payload = await in_thread(post, port, "/Autodiscover/Autodiscover.xml",
                                         eas_autodiscover.request_body(USER))
    assert status == 200
    assert texts(payload, eas_autodiscover.RESPONSE_NS, "Url") == [
        "http://mail.example.org/Microsoft-Server-ActiveSync"]
    # Anonymous: the Basic challenge; someone else's address: an error, no URL.
    status, challenge, _ = await in_thread(post, port, "/autodiscover/autodiscover.xml",
                                           autodiscover.pox_request(USER), user=None)
    assert status == 401 and challenge.startswith("Basic")
    status, _, payload = await in_thread(post, port, "/autodiscover/autodiscover.xml",
                                         autodiscover.pox_request(OTHER))
    assert status == 200 and texts(payload, autodiscover.ERROR_NS, "ErrorCode") == ["600"]
    assert not texts(payload, autodiscover.RESPONSE_NS, "EwsUrl")


@pytest_twisted.ensureDeferred
async def test_ews_alone_answers_pox_and_soap(server):
    port = server.port("http")
    status, _, payload = await in_thread(post, port, "/autodiscover/autodiscover.xml",
                                         autodiscover.pox_request(USER))
    assert status == 200 and texts(payload, autodiscover.RESPONSE_NS, "EwsUrl")
    # A phone's request reaches EWS's endpoint when EAS is not served: a schema error.
    status, _, payload = await in_thread(post, port, "/autodiscover/autodiscover.xml",
                                         eas_autodiscover.request_body(USER))
    assert status == 200 and texts(payload, autodiscover.ERROR_NS, "ErrorCode") == ["601"]


@pytest_twisted.ensureDeferred
async def test_exchangelib_finds_the_server_by_autodiscover(server):
    url = server.url + "/autodiscover/autodiscover.svc"

    def client():
        from exchangelib import DELEGATE, Account, Configuration, Credentials
        from exchangelib.autodiscover import clear_cache
        from exchangelib.autodiscover.cache import autodiscover_cache
        from exchangelib.autodiscover.protocol import AutodiscoverProtocol

        credentials = Credentials(USER, PASSWORD)
        # exchangelib looks for https://example.org/autodiscover/autodiscover.svc (DNS,
        # port 443): what it found is taken from its cache, so it asks this server.
        autodiscover_cache[("example.org", credentials)] = AutodiscoverProtocol(
            config=Configuration(service_endpoint=url, credentials=credentials))
        try:
            acc = Account(USER, credentials=credentials, autodiscover=True, access_type=DELEGATE)
            return (acc.protocol.service_endpoint, acc.ad_response.autodiscover_smtp_address,
                    acc.version.api_version, acc.inbox.total_count)
        finally:
            clear_cache()

    endpoint, address, version, count = await in_thread(client)
    assert endpoint == server.url + "/EWS/Exchange.asmx"
    assert address == USER and version == "Exchange2016" and count == 0
