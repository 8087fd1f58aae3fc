"""The SOAP codec: requests and answers read back as written (hypothesis), faults carry
their ResponseCode, and nothing but ``SoapFault`` comes of bad input (XML bombs and
external entities included)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.protocols.ews import soap

names = st.sampled_from(["GetFolder", "FindItem", "GetItem", "SyncFolderItems", "ConvertId"])
versions = st.sampled_from(sorted(soap.VERSIONS))
# Text an XML element can hold (XML 1.0 characters, no surrogates).
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=80).map(soap.text)
codes = st.sampled_from(["ErrorItemNotFound", "ErrorAccessDenied", "ErrorInvalidIdMalformed",
                         "ErrorSchemaValidation", "ErrorInvalidSyncStateData"])


@given(names, versions, xml_text)
def test_a_request_reads_back_as_written(name, version, value):
    op = etree.Element(soap.m(name))
    etree.SubElement(op, soap.t("Value")).text = value
    parsed = soap.parse_request(soap.request_envelope(op, version))
    assert parsed.operation == name and parsed.version == version
    assert (parsed.body.findtext(soap.t("Value")) or "") == value


@given(names)
def test_no_requested_version_is_the_schema_default(name):
    parsed = soap.parse_request(soap.request_envelope(etree.Element(soap.m(name)), None))
    assert parsed.version == soap.DEFAULT_VERSION == "Exchange2007_SP1"


@given(names, versions, st.lists(st.tuples(codes, xml_text), max_size=5))
def test_an_answer_reads_back_with_its_messages_and_server_version(name, version, items):
    messages = [soap.response_message(name)] + [soap.response_message(name, c, text) for c, text in items]
    answer = soap.read_response(soap.envelope(soap.response(name, messages), version))
    assert answer.server_version["Version"] == version
    major, minor = soap.VERSIONS[version][:2]
    assert (int(answer.server_version["MajorVersion"]), int(answer.server_version["MinorVersion"])) == (major, minor)
    got = soap.messages_of(answer.payload)
    assert [g.get("ResponseClass") for g in got] == ["Success"] + ["Error"] * len(items)
    assert [g.findtext(soap.m("ResponseCode")) for g in got] == ["NoError"] + [c for c, _ in items]
    assert [g.findtext(soap.m("MessageText")) or "" for g in got[1:]] == [text for _, text in items]


@given(codes, xml_text, st.booleans())
def test_a_fault_reads_back(code, message, client):
    answer = soap.read_response(soap.fault_envelope(soap.SoapFault(code, message, client)))
    assert answer.payload is None and answer.response_code == code
    assert answer.fault_code == ("s:Client" if client else "s:Server")
    assert (answer.fault_string or "") == message


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol2;</s:Body></s:Envelope>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&x;</s:Body></s:Envelope>')
LATE_DOCTYPE = b"<!--" + b"x" * 5000 + b"-->" + XXE[21:]


@pytest.mark.parametrize("body, code", [
    (b"", soap.SCHEMA_VALIDATION), (b"not xml", soap.SCHEMA_VALIDATION),
    (BOMB, soap.SCHEMA_VALIDATION), (XXE, soap.SCHEMA_VALIDATION),
    (LATE_DOCTYPE, soap.SCHEMA_VALIDATION),
    (b"<a/>", soap.SCHEMA_VALIDATION),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>', soap.SCHEMA_VALIDATION),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
     soap.SCHEMA_VALIDATION),
    (soap.request_envelope(etree.Element(soap.m("GetFolder")), "Exchange1999"), soap.INVALID_VERSION),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
     + b"<a>" * 5000 + b"</a>" * 5000 + b"</s:Body></s:Envelope>", soap.SCHEMA_VALIDATION),
])
def test_bad_requests_are_faults(body, code):
    with pytest.raises(soap.SoapFault) as info:
        soap.parse_request(body)
    assert info.value.code == code


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_is_only_ever_a_fault(body):
    try:
        soap.parse_request(body)
    except soap.SoapFault:
        pass
