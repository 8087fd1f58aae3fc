"""Tasks list rows <-> stored VTODO (smsync.protocols.lists.fields_tasks)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.formats.icalendar import summarize_calendar
from smsync.protocols.lists import fields_tasks as tasks

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FF)
                | st.sampled_from(list(",;\\:\n\"")), max_size=30).map(str.strip)
_when = st.one_of(
    st.just(""),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)).map(
        lambda d: d.strftime("%Y-%m-%dT00:00:00Z")),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31)).map(
        lambda d: d.replace(microsecond=0, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")).filter(
        lambda s: not s.endswith("T00:00:00Z")),
)
_people = st.one_of(st.just(""), st.sampled_from(["Jane Doe", "jane@example.com", "Ünal Ö"]))


@st.composite
def rows(draw):
    return {
        "Title": draw(_text.filter(bool)),
        "Body": draw(_text),
        "Status": draw(st.sampled_from(tasks.STATUSES)),
        "Priority": draw(st.sampled_from(tasks.PRIORITIES)),
        "PercentComplete": tasks.format_percent(draw(st.integers(0, 100))),
        "StartDate": draw(_when),
        "DueDate": draw(_when),
        "AssignedTo": draw(_people),
    }


@given(rows())
@SETTINGS
def test_row_item_row(row):
    stored = tasks.from_row(row, None)
    summarize_calendar(stored)  # a valid calendar object
    assert tasks.to_row(stored) == row


STORED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VTODO\r\nUID:task-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY;LANGUAGE=de:Steuer\r\n"
    "DTSTART;TZID=Europe/Berlin:20260301T090000\r\nDUE;TZID=Europe/Berlin:20260315T170000\r\n"
    "STATUS:IN-PROCESS\r\nPERCENT-COMPLETE:40\r\nPRIORITY:3\r\nCATEGORIES:Home,Money\r\n"
    "X-APPLE-SORT-ORDER:12\r\nRELATED-TO:parent-1\r\nATTENDEE;CN=Bob:mailto:bob@example.com\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
    "END:VTODO\r\nEND:VCALENDAR\r\n").encode()


def _todo(data: bytes):
    cal = parse_components(data)[0]
    return next(c for c in cal.components if c.name == "VTODO")


def test_stored_as_row():
    row = tasks.to_row(STORED)
    assert row == {"Title": "Steuer", "Body": "", "Status": "In Progress", "Priority": "(1) High",
                   "PercentComplete": "0.4", "StartDate": "2026-03-01T08:00:00Z",
                   "DueDate": "2026-03-15T16:00:00Z", "AssignedTo": "Bob"}


def test_unchanged_row_keeps_the_item_byte_for_byte():
    assert tasks.from_row(tasks.to_row(STORED), STORED) == STORED
    assert tasks.from_row({}, STORED) == STORED


def test_edit_keeps_what_the_list_cannot_carry():
    row = dict(tasks.to_row(STORED), Title="Steuererklärung", PercentComplete="0.75",
               DueDate="2026-03-20T16:00:00Z")
    stored = tasks.from_row(row, STORED)
    todo = _todo(stored)
    assert todo.value("SUMMARY") == "Steuererklärung"
    assert todo.get("SUMMARY").param("LANGUAGE") == "de"
    assert todo.value("PERCENT-COMPLETE") == "75"
    # The due date stays in the task's zone.
    assert todo.get("DUE").param("TZID") == "Europe/Berlin" and todo.value("DUE") == "20260320T170000"
    assert todo.value("DTSTART") == "20260301T090000"
    for name in ("CATEGORIES", "X-APPLE-SORT-ORDER", "RELATED-TO", "ATTENDEE", "PRIORITY"):
        assert todo.value(name) == _todo(STORED).value(name)
    assert [c.name for c in todo.components] == ["VALARM"]
    assert tasks.to_row(stored) == row


def test_statuses():
    for status in tasks.STATUSES:
        stored = tasks.from_row({"Title": "x", "Status": status}, STORED)
        assert tasks.to_row(stored)["Status"] == status
    done = _todo(tasks.from_row({"Status": "Completed"}, STORED))
    assert done.value("STATUS") == "COMPLETED" and done.get("COMPLETED") is not None
    waiting = _todo(tasks.from_row({"Status": tasks.WAITING}, STORED))
    assert waiting.value("STATUS") == "NEEDS-ACTION" and waiting.value(tasks.STATUS_PROP) == "WAITING"


def test_cleared_fields_are_removed():
    todo = _todo(tasks.from_row({"DueDate": "", "Body": "", "AssignedTo": ""}, STORED))
    assert todo.get("DUE") is None and todo.get("DESCRIPTION") is None and todo.get("ATTENDEE") is None


def test_fields_published():
    names = [f.name for f in tasks.FIELDS]
    assert set(names) == set(tasks.to_row(STORED))
    status = next(f for f in tasks.FIELDS if f.name == "Status")
    assert status.type == "Choice" and status.choices == tasks.STATUSES


@pytest.mark.parametrize("row", [
    {"Title": "x", "DueDate": "2026-13-45T00:00:00Z"},
    {"Title": "x", "DueDate": "tomorrow"},
    {"Title": "x", "StartDate": "99999-01-01T00:00:00Z"},
    {"Title": "x", "PercentComplete": "1.5"},
    {"Title": "x", "PercentComplete": "nan"},
    {"Title": "x", "PercentComplete": "abc"},
    {"Title": "x", "Status": "Sleeping"},
    {"Title": "x", "Priority": "(0) Urgent"},
    {"Title": "x" * 2_000_000},
    {"Title": 5},
])
def test_malformed_rows(row):
    with pytest.raises(InvalidData):
        tasks.from_row(row, None)
    with pytest.raises(InvalidData):
        tasks.from_row(row, STORED)


@given(st.dictionaries(st.sampled_from(sorted(tasks.NAMES)), st.text(max_size=40)))
@SETTINGS
def test_arbitrary_rows_store_or_refuse(row):
    try:
        stored = tasks.from_row(row, STORED)
    except InvalidData:
        return
    summarize_calendar(stored)
    tasks.to_row(stored)


@pytest.mark.parametrize("content", [b"", b"garbage", b"BEGIN:VCARD\r\nEND:VCARD\r\n",
                                     b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"])
def test_malformed_items(content):
    with pytest.raises(InvalidData):
        tasks.to_row(content)
    with pytest.raises(InvalidData):
        tasks.from_row({"Title": "x"}, content)


def test_new_task_uid_from_info():
    class Info:
        uid = "from-outlook-1"
        name = "from-outlook-1.ics"
        revision = 1
    stored = tasks.from_row({"Title": "x"}, None, Info())
    assert _todo(stored).value("UID") == "from-outlook-1"
    assert summarize_calendar(stored).uid == "from-outlook-1"


def test_dates_are_utc():
    stored = tasks.from_row({"Title": "x", "DueDate": "2026-05-01 22:00:00"}, None)
    assert _todo(stored).value("DUE") == "20260501T220000Z"
    assert tasks.to_row(stored)["DueDate"] == "2026-05-01T22:00:00Z"


def test_to_rows_is_one_row():
    assert tasks.to_rows(STORED) == [tasks.to_row(STORED)]


def test_list_date_forms():
    from smsync.protocols.lists import fields_common as fc
    assert fc.local_form("2026-05-01T22:00:00Z") == "2026-05-01 22:00:00"
    assert fc.local_form("") == "" and fc.local_form("x") == "x"
    assert fc.parse_datetime("2026-05-01 22:00:00") == fc.parse_datetime("2026-05-01T22:00:00Z")
    assert fc.parse_datetime("2026-05-02T00:00:00+02:00") == fc.parse_datetime("2026-05-01T22:00:00Z")
