"""The safe XML reader the SOAP protocols share: plain XML is read, DTDs, entities,
oversize and overdeep documents are refused with ``UnsafeXML``, nothing else."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.safexml import UnsafeXML, parse


def test_plain_xml_is_read():
    assert parse(b"<a><b>x</b></a>", 100).find("b").text == "x"


@pytest.mark.parametrize("body, why", [
    (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "document type"),
    (b"<a>" + b" " * 5000 + b"</a><!-- -->", "too large"),
    (b"<a>" * 70 + b"</a>" * 70, "nested too deeply"),
    (b"<a>", "not well-formed"),
    (b"", "not well-formed"),
    ("<a/>", "not bytes"),
])
def test_what_is_not_plain_xml_is_refused(body, why):
    with pytest.raises(UnsafeXML) as info:
        parse(body, 1000)
    assert why in str(info.value)


def test_a_doctype_after_a_long_prolog_is_refused():
    body = b"<?xml version='1.0'?>" + b" " * 5000 + b"<!DOCTYPE a><a/>"
    with pytest.raises(UnsafeXML, match="document type"):
        parse(body, 10000)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused(body):
    try:
        parse(body, 1000)
    except UnsafeXML:
        pass
