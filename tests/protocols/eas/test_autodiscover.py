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
