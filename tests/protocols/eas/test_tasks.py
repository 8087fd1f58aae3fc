"""EAS Tasks <-> VTODO: round trips, recurrences, and a phone's edit keeping what EAS
cannot carry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.formats.contentlines import format_line, parse_components
from smsync.formats.icalendar import summarize_calendar
from smsync.protocols.eas import tasks
from smsync.protocols.eas.convert import ConversionError, eas_date
from smsync.protocols.eas.tasks import T
from smsync.protocols.eas.wbxml import Element
from tests.protocols.eas import pim_support
from tests.protocols.eas.pim_support import fields

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def app_of(values: dict) -> Element:
    return pim_support.app_of(values, T)


text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"), min_size=1, max_size=12)
word = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=10)
moment = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)).map(lambda d: d.replace(microsecond=0))
offset = st.integers(-14 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q))


@st.composite
def when(draw, all_day: bool):
    """A device's (utc, local) pair: a day at local midnight, or any time."""
    shift = draw(offset)
    local = draw(moment)
    if all_day:
        local = datetime(local.year, local.month, local.day)
    return local - shift, local


@st.composite
def recurrence(draw, start_local: datetime) -> dict:
    kind = draw(st.sampled_from([0, 1, 2, 3, 5, 6]))
    rec = {"Type": str(kind), "Start": eas_date(datetime(start_local.year, start_local.month, start_local.day)),
           "Interval": str(draw(st.integers(1, 5)))}
    if draw(st.booleans()):
        rec["Occurrences"] = str(draw(st.integers(1, 30)))
    elif draw(st.booleans()):
        until = start_local + timedelta(days=draw(st.integers(1, 900)))
        rec["Until"] = eas_date(datetime(until.year, until.month, until.day))
    if kind in (1, 3, 6) or (kind == 0 and draw(st.booleans())):
        rec["DayOfWeek"] = str(draw(st.integers(1, 127)))
    if kind in (2, 5):
        rec["DayOfMonth"] = str(draw(st.integers(1, 28)))
    if kind in (3, 6):
        rec["WeekOfMonth"] = str(draw(st.integers(1, 5)))
    if kind in (5, 6):
        rec["MonthOfYear"] = str(draw(st.integers(1, 12)))
    rec["Regenerate"] = str(draw(st.integers(0, 1)))
    rec["DeadOccur"] = str(draw(st.integers(0, 1)))
    if kind == 1:
        rec["FirstDayOfWeek"] = str(draw(st.integers(0, 6)))
    return rec


@st.composite
def device_task(draw) -> dict:
    values = {}
    if draw(st.booleans()):
        values["Subject"] = draw(text)
    values["Importance"] = str(draw(st.integers(0, 2)))
    all_day = draw(st.booleans())
    start = draw(st.none() | when(all_day))
    due = draw(st.none() | when(all_day))
    if start:
        values["UtcStartDate"], values["StartDate"] = map(eas_date, start)
    if due:
        values["UtcDueDate"], values["DueDate"] = map(eas_date, due)
    values["Complete"] = str(draw(st.integers(0, 1)))
    if values["Complete"] == "1":
        values["DateCompleted"] = eas_date(draw(moment))
    values["Sensitivity"] = str(draw(st.integers(0, 3)))
    values["ReminderSet"] = str(draw(st.integers(0, 1)))
    if values["ReminderSet"] == "1":
        values["ReminderTime"] = eas_date(draw(moment))
    if draw(st.booleans()):
        values["Categories"] = draw(st.lists(word.filter(lambda w: w.strip() == w), min_size=1, max_size=3))
    if start and draw(st.booleans()):
        values["Recurrence"] = draw(recurrence(start[1]))
    if draw(st.booleans()):
        values["Body"] = draw(text)
    return values


def order(values: dict) -> dict:
    return {k: values[k] for k in sorted(values)}


@SETTINGS
@given(device_task())
def test_device_task_survives_storage(values):
    stored = tasks.from_application_data(app_of(values), "16.1")
    summary = summarize_calendar(stored)  # a valid CalDAV object
    assert summary.component == "VTODO"
    cal = parse_components(stored)[0]
    assert cal.value("PRODID") and cal.value("VERSION") == "2.0"
    assert cal.components[0].value("DTSTAMP")
    assert order(fields(tasks.to_application_data(stored, "16.1"))) == order(values)


extra = st.sampled_from([
    "X-TEST-ONE:1", "X-TEST-TWO;X-P=q:two", "ATTENDEE;CN=Bob:mailto:bob@example.org",
    "RELATED-TO:parent-uid", "URL:https://example.org/task", "GEO:1.5;2.5", "LOCATION:Office",
    "COMMENT:kept", "ORGANIZER:mailto:me@example.org",
])


@SETTINGS
@given(device_task(), device_task(), st.lists(extra, min_size=1, max_size=4, unique=True), st.booleans())
def test_phone_edit_keeps_what_eas_cannot_carry(before, after, extras, second_alarm):
    stored = tasks.from_application_data(app_of(before), "16.1").decode()
    alarm = ("BEGIN:VALARM\r\nACTION:EMAIL\r\nDESCRIPTION:x\r\nSUMMARY:y\r\n"
             "ATTENDEE:mailto:a@example.org\r\nTRIGGER;RELATED=END:PT0S\r\nEND:VALARM\r\n") if second_alarm else ""
    stored = stored.replace("END:VTODO", "".join(e + "\r\n" for e in extras) + "END:VTODO", 1)
    stored = stored.replace("END:VTODO", alarm + "END:VTODO").encode()
    uid = parse_components(stored)[0].components[0].value("UID")
    edited = tasks.from_application_data(app_of(after), "16.1", stored)
    summarize_calendar(edited)
    todo = parse_components(edited)[0].components[0]
    lines = {format_line(p) for p in todo.properties}
    for line in extras:
        assert line in lines
    assert todo.value("UID") == uid
    got = fields(tasks.to_application_data(edited, "16.1"))
    want = dict(after)
    if "Body" not in after and "Body" in before:
        want["Body"] = before["Body"]
    if second_alarm:
        assert "ACTION:EMAIL" in edited.decode()  # never shown to the phone, never dropped
    assert order(got) == order(want)


TODO = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Buy milk\r\n"
    "DTSTART;TZID=Europe/Berlin:20260105T090000\r\nDUE;TZID=Europe/Berlin:20260105T170000\r\n"
    "PRIORITY:3\r\nRRULE:FREQ=MONTHLY;BYDAY=-1FR\r\nX-FOO:bar\r\nPERCENT-COMPLETE:40\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
    "END:VTODO\r\nEND:VCALENDAR\r\n"
).encode()


def test_shows_zoned_times_recurrence_and_reminder():
    got = fields(tasks.to_application_data(TODO, "14.1"))
    assert got["UtcStartDate"] == "2026-01-05T08:00:00.000Z" and got["StartDate"] == "2026-01-05T09:00:00.000Z"
    assert got["UtcDueDate"] == "2026-01-05T16:00:00.000Z" and got["Importance"] == "2"
    assert got["ReminderSet"] == "1" and got["ReminderTime"] == "2026-01-05T07:45:00.000Z"
    assert got["Recurrence"] == {"Type": "3", "Start": "2026-01-05T00:00:00.000Z", "Interval": "1",
                                 "DayOfWeek": "32", "WeekOfMonth": "5", "Regenerate": "0", "DeadOccur": "0"}


def test_completing_on_the_phone_touches_only_the_status():
    sent = fields(tasks.to_application_data(TODO, "14.1"))
    sent.update(Complete="1", DateCompleted="2026-01-06T10:00:00.000Z")
    out = tasks.from_application_data(app_of(sent), "14.1", TODO).decode()
    for line in ("DTSTART;TZID=Europe/Berlin:20260105T090000", "DUE;TZID=Europe/Berlin:20260105T170000",
                 "PRIORITY:3", "RRULE:FREQ=MONTHLY;BYDAY=-1FR", "X-FOO:bar", "TRIGGER:-PT15M",
                 "STATUS:COMPLETED", "COMPLETED:20260106T100000Z", "PERCENT-COMPLETE:100", "UID:t1"):
        assert line + "\r\n" in out
    sent.update(Complete="0")
    del sent["DateCompleted"]
    again = tasks.from_application_data(app_of(sent), "14.1", out.encode()).decode()
    assert "STATUS:NEEDS-ACTION\r\n" in again and "COMPLETED:" not in again.replace("STATUS:", "")


def test_rules_eas_cannot_express_are_kept_untouched():
    odd = TODO.replace(b"RRULE:FREQ=MONTHLY;BYDAY=-1FR", b"RRULE:FREQ=HOURLY;INTERVAL=5")
    sent = fields(tasks.to_application_data(odd, "14.1"))
    assert "Recurrence" not in sent
    sent["Subject"] = "Buy oat milk"
    out = tasks.from_application_data(app_of(sent), "14.1", odd).decode()
    assert "RRULE:FREQ=HOURLY;INTERVAL=5\r\n" in out and "SUMMARY:Buy oat milk\r\n" in out


@pytest.mark.parametrize("call", [
    lambda: tasks.to_application_data(b"garbage", "14.1"),
    lambda: tasks.to_application_data(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "14.1"),
    lambda: tasks.from_application_data(app_of({"UtcDueDate": "tomorrow"}), "14.1"),
    lambda: tasks.from_application_data(app_of({"Importance": "7"}), "14.1"),
    lambda: tasks.from_application_data(app_of({"Complete": "yes"}), "14.1"),
    lambda: tasks.from_application_data(app_of({"Recurrence": {"Type": "4"}}), "14.1"),
    lambda: tasks.from_application_data(app_of({"Recurrence": {"Type": "1"}}), "14.1"),
    lambda: tasks.from_application_data(
        app_of({"StartDate": "2026-01-01T00:00:00.000Z", "Recurrence": {"Type": "3", "DayOfWeek": "2"}}), "14.1"),
    lambda: tasks.from_application_data(app_of({}), "14.1", TODO.replace(b"DTSTART;", b"DTSTART;X=")[:-20]),
])
def test_bad_input_is_a_conversion_error(call):
    with pytest.raises(ConversionError):
        call()
