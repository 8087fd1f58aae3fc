"""The note converter: a note (``<t:Message>`` of class IPM.StickyNote) stored as a
VJOURNAL reads back as it was sent, and an edit through EWS keeps every line of the
VJOURNAL it has no field for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import serialize
from smsync.protocols.ews import notes
from smsync.protocols.ews.shapes import ALL, Shape
from smsync.protocols.ews.soap import t

words = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,;\\-'."),
                min_size=1, max_size=20).map(str.strip).filter(bool)
bodies = st.lists(words, min_size=1, max_size=3).map("\n".join)
categories = st.lists(st.text("abcdefghij", min_size=1, max_size=8), min_size=1, max_size=3)
fields = st.fixed_dictionaries({"Subject": words}, optional={"Body": bodies, "Categories": categories})


def note_xml(values: dict, body_type: str = "Text"):
    node = etree.Element(t("Message"))
    etree.SubElement(node, t("ItemClass")).text = notes.STICKY_NOTE
    for key, value in values.items():
        if key == "Categories":
            holder = etree.SubElement(node, t("Categories"))
            for category in value:
                etree.SubElement(holder, t("String")).text = category
        elif key == "Body":
            etree.SubElement(node, t("Body"), BodyType=body_type).text = value
        else:
            etree.SubElement(node, t(key)).text = value
    return node


@given(fields)
def test_note_vjournal_note_round_trip(values):
    _uid, content = notes.new_note(notes.read_fields(note_xml(values)))
    assert b"BEGIN:VJOURNAL" in content
    node = notes.note_element("a@example.org", "c1", "x.ics", 1, content, Shape(ALL))
    assert node.findtext(t("ItemClass")) == "IPM.StickyNote"
    got = notes.read_fields(node)
    for key, value in values.items():
        assert got[key] == value, key
    assert "Categories" in got or "Categories" not in values


STORED = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VJOURNAL\r\nUID:j1\r\n"
          b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T090000Z\r\nSUMMARY:Old\r\n"
          b"DESCRIPTION:one\r\nDESCRIPTION:two\r\nATTACH:https://example.org/a.png\r\n"
          b"X-KEEP;X-P=1:me\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n")


@given(fields)
def test_an_edit_keeps_what_ews_cannot_carry(values):
    calendar = notes.load(STORED)
    # Several DESCRIPTIONs read as one text.
    assert notes.fields_of(calendar)["Body"] == "one\n\ntwo"
    notes.apply(calendar, notes.read_fields(note_xml(values)), frozenset({"Categories"} - set(values)))
    content = serialize(calendar)
    for kept in (b"UID:j1", b"DTSTART:20260101T090000Z", b"ATTACH:https://example.org/a.png", b"X-KEEP;X-P=1:me"):
        assert kept in content
    got = notes.fields_of(notes.load(content))
    assert got["Subject"] == values["Subject"]
    assert got.get("Body") == values.get("Body", "one\n\ntwo")
    assert content.count(b"DESCRIPTION") == (1 if "Body" in values else 2)


def test_an_html_body_is_kept_as_its_text():
    node = note_xml({"Subject": "s", "Body": "<html><body><p>eggs &amp; milk</p><p>bread<br>jam</p>"
                                             "<script>x()</script></body></html>"}, "HTML")
    assert notes.read_fields(node)["Body"] == "eggs & milk\nbread\njam"
