"""Property tests of the WebDAV core's pure parts: sync tokens, entity-tag lists, paths,
request bodies, collations."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.protocols.dav.collation import COLLATIONS, TextMatch, fold, match_text
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.methods import etag_list
from smsync.protocols.dav.resources import quote_segment, split_path
from smsync.protocols.dav.synctoken import make_token, parse_token
from smsync.protocols.dav.xml import dead_store, dead_value, parse_body

ids = st.text("0123456789abcdef", min_size=1, max_size=32)


@given(ids, st.integers(min_value=0, max_value=10**15))
def test_sync_token_round_trip(cid, revision):
    assert parse_token(make_token(cid, revision), cid) == revision


@given(ids, ids, st.integers(min_value=0, max_value=10**6))
def test_sync_token_of_another_collection_is_refused(a, b, revision):
    if a != b:
        assert parse_token(make_token(a, revision), b) is None


@given(st.text(max_size=80), ids)
def test_sync_token_garbage_never_raises(text, cid):
    result = parse_token(text, cid)
    assert result is None or (isinstance(result, int) and result >= 0)
    if not text.strip():
        assert result == 0


etags = st.text("abcdefABCDEF0123456789-_", min_size=1, max_size=20).map(lambda s: f'"{s}"')


@given(st.lists(etags, min_size=1, max_size=5), st.booleans())
def test_etag_list_round_trip(tags, weak):
    header = ", ".join(("W/" if weak else "") + t for t in tags)
    assert etag_list(header) == tags


@given(st.text(max_size=60))
def test_etag_list_never_raises(header):
    result = etag_list(header)
    assert isinstance(result, list)


def test_etag_list_star_and_absent():
    assert etag_list("*") == ["*"] and etag_list(None) is None


segments = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))


@given(st.lists(segments, max_size=4))
def test_paths_round_trip(parts):
    path = "/dav/" + "/".join(quote_segment(p) for p in parts)
    assert split_path(path.encode("ascii"), "/dav/") == parts


@given(st.binary(max_size=60))
def test_split_path_refuses_cleanly(raw):
    try:
        split_path(b"/dav/" + raw, "/dav/")
    except DavError as e:
        assert e.status in (400, 404)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_parse_body_never_crashes(data):
    try:
        parse_body(data)
    except DavError as e:
        assert e.status == 400


def test_parse_body_refuses_entities():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>'
            b"<propfind xmlns='DAV:'>&a;</propfind>")
    with pytest.raises(DavError):
        parse_body(bomb)


@given(st.text(max_size=30), st.text(max_size=10))
def test_dead_properties_round_trip(text, attr):
    from lxml import etree

    el = etree.Element("{http://example.org/}p", nsmap={"x": "http://example.org/"})
    clean = "".join(c for c in text if c.isprintable())
    el.text = clean
    el.set("a", "".join(c for c in attr if c.isprintable()))
    back = dead_value(dead_store(el), el.tag)
    assert back.tag == el.tag and (back.text or "") == clean and back.get("a") == el.get("a")


@given(st.text(max_size=20), st.text(max_size=40), st.sampled_from(COLLATIONS),
       st.sampled_from(["equals", "contains", "starts-with", "ends-with"]), st.booleans())
def test_text_match_agrees_with_a_reference(needle, hay, collation, match_type, negate):
    tm = TextMatch(needle, collation, negate, match_type)
    n, h = fold(needle, collation), fold(hay, collation)
    expected = {"equals": h == n, "contains": n in h, "starts-with": h.startswith(n),
                "ends-with": h.endswith(n)}[match_type]
    assert match_text(tm, hay) == (expected != negate)


def test_collations():
    assert match_text(TextMatch("ÄB", "i;unicode-casemap"), "xäbx")
    assert not match_text(TextMatch("ÄB", "i;ascii-casemap"), "xäbx")
    assert match_text(TextMatch("AB", "i;ascii-casemap"), "xabx")
    assert not match_text(TextMatch("AB", "i;octet"), "xabx")


@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")))
def test_escape_utf8_agrees_with_escape_text(text):
    from smsync.protocols.dav.xml import escape_text, escape_utf8

    assert escape_utf8(text.encode("utf-8")) == escape_text(text).encode("utf-8")


@given(st.binary(max_size=200))
def test_escape_utf8_of_any_bytes_is_well_formed_xml(data):
    from lxml import etree

    from smsync.protocols.dav.xml import escape_utf8

    doc = etree.fromstring(b"<x>" + escape_utf8(data) + b"</x>")
    assert doc.text in (None, data.decode("utf-8", "replace").replace("\ufffe", "").replace("\uffff", "")
                        .translate({c: None for c in range(32) if c not in (9, 10, 13)}))
