"""EAS Notes <-> VJOURNAL: round trips and a phone's edit keeping what EAS cannot carry."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.formats.contentlines import format_line, parse_components
from smsync.formats.icalendar import summarize_calendar
from smsync.protocols.eas import notes
from smsync.protocols.eas.convert import ConversionError, eas_date
from smsync.protocols.eas.notes import N
from smsync.protocols.eas.wbxml import Element
from tests.protocols.eas import pim_support
from tests.protocols.eas.pim_support import fields

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def app_of(values: dict) -> Element:
    return pim_support.app_of(values, N)


text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"), min_size=1, max_size=20)
word = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=10)


@st.composite
def device_note(draw) -> dict:
    values = {}
    if draw(st.booleans()):
        values["Subject"] = draw(text)
    if draw(st.booleans()):
        values["Body"] = draw(text)
    if draw(st.booleans()):
        values["Categories"] = draw(st.lists(word.filter(lambda w: w.strip() == w), min_size=1, max_size=3))
    values["MessageClass"] = draw(st.sampled_from(["IPM.StickyNote", "IPM.StickyNote.Custom"]))
    moment = draw(st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)))
    values["LastModifiedDate"] = eas_date(moment.replace(microsecond=0))
    return values


@SETTINGS
@given(device_note())
def test_device_note_survives_storage(values):
    stored = notes.from_application_data(app_of(values), "14.1")
    assert summarize_calendar(stored).component == "VJOURNAL"
    assert fields(notes.to_application_data(stored, "14.1")) == values


extra = st.sampled_from(["X-TEST-ONE:1", "ATTENDEE;CN=Bob:mailto:bob@example.org", "DTSTART;VALUE=DATE:20260101",
                         "RELATED-TO:other", "URL:https://example.org/n", "CLASS:PRIVATE", "STATUS:FINAL"])


@SETTINGS
@given(device_note(), device_note(), st.lists(extra, min_size=1, max_size=4, unique=True))
def test_phone_edit_keeps_what_eas_cannot_carry(before, after, extras):
    stored = notes.from_application_data(app_of(before), "14.1").decode()
    stored = stored.replace("END:VJOURNAL", "".join(e + "\r\n" for e in extras) + "END:VJOURNAL").encode()
    uid = parse_components(stored)[0].components[0].value("UID")
    edited = notes.from_application_data(app_of(after), "14.1", stored)
    journal = parse_components(edited)[0].components[0]
    lines = {format_line(p) for p in journal.properties}
    assert all(line in lines for line in extras) and journal.value("UID") == uid
    want = dict(after)
    if "Body" not in after and "Body" in before:
        want["Body"] = before["Body"]
    assert fields(notes.to_application_data(edited, "14.1")) == want


def test_stored_journal_shows_as_a_sticky_note():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:j\r\n"
            b"DTSTAMP:20260101T101010Z\r\nSUMMARY:Idea\r\nDESCRIPTION:one\r\nDESCRIPTION:two\r\n"
            b"CATEGORIES:a,b\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n")
    assert fields(notes.to_application_data(data, "14.1")) == {
        "Body": "one\n\ntwo", "Subject": "Idea", "MessageClass": "IPM.StickyNote",
        "LastModifiedDate": "2026-01-01T10:10:10.000Z", "Categories": ["a", "b"]}


@pytest.mark.parametrize("call", [
    lambda: notes.to_application_data(b"nope", "14.1"),
    lambda: notes.to_application_data(b"BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "14.1"),
    lambda: notes.from_application_data(app_of({"LastModifiedDate": "now"}), "14.1"),
    lambda: notes.from_application_data(app_of({}), "14.1", b"BEGIN:VCARD\r\nEND:VCARD\r\n"),
])
def test_bad_input_is_a_conversion_error(call):
    with pytest.raises(ConversionError):
        call()
