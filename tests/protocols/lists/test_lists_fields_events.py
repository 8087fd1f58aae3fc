"""Events list rows <-> stored VEVENT (smsync.protocols.lists.fields_events), with the
RecurrenceData and XMLTZone forms of fields_recurrence."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, parse_components, serialize
from smsync.formats.icalendar import expand_instances, summarize_calendar
from smsync.formats.zonerules import iana_info, vtimezone
from smsync.protocols.lists import fields_events as events
from smsync.protocols.lists import fields_recurrence as fr

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HORIZON = datetime(2032, 1, 1, tzinfo=timezone.utc)
BERLIN_XML = fr.timezone_xml(iana_info("Europe/Berlin", 2026))


class Info:
    def __init__(self, item_id=None, uid=None):
        self.item_id, self.uid, self.name, self.revision = item_id, uid, "x.ics", 1


def _cal(data: bytes):
    return parse_components(data)[0]


def _events(data: bytes):
    return [c for c in _cal(data).components if c.name == "VEVENT"]


def _master(data: bytes):
    return next(c for c in _events(data) if c.get("RECURRENCE-ID") is None)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- generated rows -----------------------------------------------------------------------

_word = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x2FF)
                | st.sampled_from(list("äöüß-.'&,;:\\")), min_size=1, max_size=10)
_text = st.lists(_word, min_size=1, max_size=3).map(" ".join)
_opt = st.one_of(st.just(""), _text)
_days = st.lists(st.sampled_from(["SU", "MO", "TU", "WE", "TH", "FR", "SA"]), min_size=1, max_size=7,
                 unique=True).map(lambda ds: tuple(d for d in ("SU", "MO", "TU", "WE", "TH", "FR", "SA") if d in ds))


@st.composite
def recurrences(draw, start: datetime, all_day: bool):
    interval = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "MONTHLY-BYDAY", "YEARLY", "YEARLY-BYDAY"]))
    if kind == "DAILY":
        rec = fr.Recurrence("DAILY", interval)
    elif kind == "WEEKLY":
        rec = fr.Recurrence("WEEKLY", interval, byday=draw(_days))
    elif kind == "MONTHLY":
        rec = fr.Recurrence("MONTHLY", interval, bymonthday=draw(st.integers(1, 28)))
    elif kind == "MONTHLY-BYDAY":
        rec = fr.Recurrence("MONTHLY", interval, byday=draw(_days), setpos=draw(st.sampled_from([1, 2, 3, 4, -1])))
    elif kind == "YEARLY":
        rec = fr.Recurrence("YEARLY", interval, bymonth=draw(st.integers(1, 12)), bymonthday=draw(st.integers(1, 28)))
    else:
        rec = fr.Recurrence("YEARLY", interval, byday=draw(_days), setpos=draw(st.sampled_from([1, 2, 3, 4, -1])),
                            bymonth=draw(st.integers(1, 12)))
    end = draw(st.sampled_from(["count", "until", "forever"]))
    if end == "count":
        rec = fr.Recurrence(**{**_fields(rec), "count": draw(st.integers(1, 30))})
    elif end == "until":
        until = start + timedelta(days=draw(st.integers(1, 400)))
        rec = fr.Recurrence(**{**_fields(rec), "until": until.date() if all_day else until})
    wkst = "MO" if kind != "WEEKLY" or interval == 1 else draw(st.sampled_from(["MO", "SU"]))
    return fr.Recurrence(**{**_fields(rec), "wkst": wkst})


def _fields(rec):
    return {k: getattr(rec, k) for k in ("freq", "interval", "byday", "setpos", "bymonthday", "bymonth",
                                         "count", "until", "wkst")}


@st.composite
def rows(draw, recurring=None):
    all_day = draw(st.booleans())
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2029, 12, 31)))
    zoned = not all_day and draw(st.booleans())
    if all_day:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        days = draw(st.integers(1, 4))
        end = start + timedelta(days=days - 1, hours=23, minutes=59)
        duration = days * 86400 - 60
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(minutes=15 * draw(st.integers(0, 95)))
        end = start + timedelta(minutes=15 * draw(st.integers(0, 40)))
        duration = int((end - start).total_seconds())
    row = {
        "Title": draw(_text), "Location": draw(_opt), "Description": draw(st.one_of(st.just(""), _text, st.lists(
            _text, min_size=2, max_size=3).map("\n".join))),
        "Category": draw(st.one_of(st.just(""), st.sampled_from(events.CATEGORIES), _text)),
        "EventDate": _iso(start), "EndDate": _iso(end), "Duration": str(duration),
        "fAllDayEvent": "1" if all_day else "0", "fRecurrence": "0", "RecurrenceData": "",
        "EventType": "0", "RecurrenceID": "", "MasterSeriesItemID": "",
        "UID": str(draw(st.uuids())),
        "TimeZone": "4" if zoned else "", "XMLTZone": BERLIN_XML if zoned else "",
    }
    if recurring if recurring is not None else draw(st.booleans()):
        rec = draw(recurrences(start, all_day))
        row.update(fRecurrence="1", EventType="1", RecurrenceData=fr.recurrence_xml(rec))
    return row


def _without_series_end(row: dict) -> dict:
    return {k: v for k, v in row.items() if not (k == "EndDate" and row["fRecurrence"] == "1")}


@given(rows())
@SETTINGS
def test_row_item_row(row):
    stored = events.from_row(row, None)
    summarize_calendar(stored, horizon=HORIZON)
    again = events.to_row(stored)
    assert _without_series_end(again) == _without_series_end(row)
    # An edit sending that row back changes nothing.
    assert events.from_row(again, stored) == stored


def test_recurrence_xml_round_trip():
    rec = fr.Recurrence("MONTHLY", 2, byday=("TU",), setpos=2, count=6)
    xml = fr.recurrence_xml(rec)
    assert xml == ('<recurrence><rule><firstDayOfWeek>mo</firstDayOfWeek><repeat><monthlyByDay tu="TRUE" '
                   'weekdayOfMonth="second" monthFrequency="2" /></repeat><repeatInstances>6</repeatInstances>'
                   '</rule></recurrence>')
    assert fr.parse_recurrence(xml, False) == rec
    assert rec.rrule() == "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU;BYSETPOS=2;COUNT=6"


@pytest.mark.parametrize("xml, rrule", [
    ('<recurrence><rule><firstDayOfWeek>su</firstDayOfWeek><repeat><daily weekday="TRUE" /></repeat>'
     '<repeatForever>FALSE</repeatForever></rule></recurrence>', "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;WKST=SU"),
    ('<recurrence><rule><firstDayOfWeek>su</firstDayOfWeek><repeat><daily dayFrequency="3" /></repeat>'
     '<windowEnd>2026-06-30T22:00:00Z</windowEnd></rule></recurrence>',
     "FREQ=DAILY;INTERVAL=3;UNTIL=20260630T220000Z;WKST=SU"),
    ('<recurrence><rule><firstDayOfWeek>mo</firstDayOfWeek><repeat><monthlyByDay weekday="TRUE" '
     'weekdayOfMonth="last" monthFrequency="1" /></repeat><repeatInstances>3</repeatInstances></rule></recurrence>',
     "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3"),
    ('<recurrence><rule><firstDayOfWeek>mo</firstDayOfWeek><repeat><yearly yearFrequency="1" month="2" day="29" />'
     '</repeat><repeatForever>FALSE</repeatForever></rule></recurrence>', "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
    ('<recurrence xmlns="http://schemas.microsoft.com/sharepoint/"><rule><firstDayOfWeek>mo</firstDayOfWeek>'
     '<repeat><weekly fr="TRUE" weekFrequency="1" /></repeat><repeatForever>FALSE</repeatForever></rule>'
     '</recurrence>', "FREQ=WEEKLY;BYDAY=FR"),
])
def test_recurrence_data_as_sharepoint_writes_it(xml, rrule):
    assert fr.parse_recurrence(xml, False).rrule() == rrule


def test_rrules_the_list_cannot_say_are_kept():
    stored = STORED.replace(b"RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", b"RRULE:FREQ=MONTHLY;BYDAY=-2FR;COUNT=5")
    rec, exact = fr.recurrence_of("FREQ=MONTHLY;BYDAY=-2FR;COUNT=5", datetime(2026, 3, 2, 9), None)
    assert not exact and rec.freq == "MONTHLY"
    row = events.to_row(stored)
    edited = events.from_row(dict(row, Title="Retro"), stored)
    assert _master(edited).value("RRULE") == "FREQ=MONTHLY;BYDAY=-2FR;COUNT=5"
    assert _master(edited).value("SUMMARY") == "Retro"


# -- a stored series ----------------------------------------------------------------------

BERLIN = serialize(vtimezone(iana_info("Europe/Berlin", 2026), "Europe/Berlin")).decode()
STORED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n" + BERLIN +
    "BEGIN:VEVENT\r\nUID:ev-1\r\nDTSTAMP:20260101T000000Z\r\nSEQUENCE:2\r\nSUMMARY:Standup\r\n"
    "LOCATION:Room 1\r\nCATEGORIES:Work,Team\r\nCLASS:PRIVATE\r\n"
    "DTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T091500\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20260304T090000\r\n"
    "ORGANIZER;CN=Ann:mailto:ann@example.com\r\nATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n"
    "X-MOZ-GENERATION:3\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Standup\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:ev-1\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260309T090000\r\n"
    "SUMMARY:Standup (late)\r\nDTSTART;TZID=Europe/Berlin:20260309T100000\r\n"
    "DTEND;TZID=Europe/Berlin:20260309T101500\r\nX-KEEP:me\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def test_series_as_rows():
    rows = events.to_rows(STORED, Info(item_id=7))
    assert [r["EventType"] for r in rows] == ["1", "4", "3"]
    master, changed, deleted = rows
    assert master["EventDate"] == "2026-03-02T08:00:00Z"
    assert master["EndDate"] == "2026-04-01T07:15:00Z"  # the tenth instance's end (CEST)
    assert master["Duration"] == "900" and master["fRecurrence"] == "1"
    assert master["Category"] == "Work, Team" and master["UID"] == "ev-1"
    assert master["TimeZone"] == "4" and master["XMLTZone"] == BERLIN_XML
    assert fr.parse_recurrence(master["RecurrenceData"], False).rrule() == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"
    assert changed["RecurrenceID"] == "2026-03-09T08:00:00Z" and changed["EventDate"] == "2026-03-09T09:00:00Z"
    assert changed["Title"] == "Standup (late)" and changed["MasterSeriesItemID"] == "7"
    assert deleted["RecurrenceID"] == "2026-03-04T08:00:00Z" and deleted["MasterSeriesItemID"] == "7"
    assert deleted["Title"] == "Deleted: Standup"
    assert events.to_row(STORED) == {**master, "MasterSeriesItemID": ""}


def test_unchanged_rows_keep_the_event_byte_for_byte():
    for row in events.to_rows(STORED, Info(item_id=7)):
        assert events.from_row(row, STORED, Info(item_id=7)) == STORED
    assert events.from_row({}, STORED) == STORED


def test_title_edit_in_berlin_keeps_the_zone_and_everything_else():
    row = dict(events.to_row(STORED), Title="Daily standup")
    edited = events.from_row(row, STORED)
    before, after = _master(STORED), _master(edited)
    assert after.value("SUMMARY") == "Daily standup"
    assert after.get("DTSTART").param("TZID") == "Europe/Berlin" and after.value("DTSTART") == "20260302T090000"
    assert after.value("DTEND") == "20260302T091500"
    changed = {"SUMMARY", "DTSTAMP", "SEQUENCE"}
    assert [(p.name, p.value, p.params) for p in after.properties if p.name not in changed] == \
        [(p.name, p.value, p.params) for p in before.properties if p.name not in changed]
    assert after.value("SEQUENCE") == "3"
    assert after.components == before.components
    assert _events(edited)[1] == _events(STORED)[1]
    assert [c for c in _cal(edited).components if c.name == "VTIMEZONE"] == \
        [c for c in _cal(STORED).components if c.name == "VTIMEZONE"]


def test_time_edit_stays_in_the_zone():
    row = dict(events.to_row(STORED), EventDate="2026-03-02T09:30:00Z", Duration="1800")
    master = _master(events.from_row(row, STORED))
    assert master.get("DTSTART").params == [("TZID", ["Europe/Berlin"])]
    assert master.value("DTSTART") == "20260302T103000" and master.value("DTEND") == "20260302T110000"
    assert master.value("RRULE") == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"


def test_exception_rows_from_outlook():
    # Outlook moves the 11 March instance and deletes the 9 March one (the changed one).
    moved = events.from_row({"EventType": "4", "RecurrenceID": "2026-03-11T08:00:00Z", "MasterSeriesItemID": "7",
                             "Title": "Standup (moved)", "EventDate": "2026-03-11T12:00:00Z",
                             "EndDate": "2026-03-11T12:30:00Z", "fAllDayEvent": "0", "fRecurrence": "1"},
                            STORED, Info(item_id=7))
    override = next(c for c in _events(moved) if c.value("RECURRENCE-ID") == "20260311T090000")
    assert override.get("RECURRENCE-ID").param("TZID") == "Europe/Berlin"
    assert override.value("DTSTART") == "20260311T130000" and override.value("DTEND") == "20260311T133000"
    assert override.value("SUMMARY") == "Standup (moved)"
    # The instance keeps what the series has that no field carries.
    assert override.value("ORGANIZER") == "mailto:ann@example.com" and override.value("CLASS") == "PRIVATE"
    assert [c.name for c in override.components] == ["VALARM"]
    assert override.get("RRULE") is None and override.get("EXDATE") is None
    rows = events.to_rows(moved, Info(item_id=7))
    assert sorted((r["EventType"], r["RecurrenceID"]) for r in rows) == [
        ("1", ""), ("3", "2026-03-04T08:00:00Z"), ("4", "2026-03-09T08:00:00Z"), ("4", "2026-03-11T08:00:00Z")]
    deleted = events.from_row({"EventType": "3", "RecurrenceID": "2026-03-09T08:00:00Z"}, moved)
    assert [c.value("RECURRENCE-ID") for c in _events(deleted)] == [None, "20260311T090000"]
    assert [p.value for p in _master(deleted).get_all("EXDATE")] == ["20260304T090000", "20260309T090000"]
    starts = [i[1] for i in expand_instances(deleted, None, HORIZON)]
    assert datetime(2026, 3, 9, 8, tzinfo=timezone.utc) not in starts
    assert datetime(2026, 3, 11, 12, tzinfo=timezone.utc) in starts
    assert datetime(2026, 3, 4, 8, tzinfo=timezone.utc) not in starts
    # Changing the existing exception again edits it in place.
    again = events.from_row({"EventType": "4", "RecurrenceID": "2026-03-09T08:00:00Z", "Location": "Room 2"}, STORED)
    late = next(c for c in _events(again) if c.get("RECURRENCE-ID") is not None)
    assert late.value("LOCATION") == "Room 2" and late.value("X-KEEP") == "me"
    assert late.value("DTSTART") == "20260309T100000"


def test_stopping_the_recurrence_keeps_the_first_instance():
    row = events.to_row(STORED)
    master = _master(events.from_row(dict(row, fRecurrence="0", EventType="0"), STORED))
    assert master.value("DTSTART") == "20260302T090000" and master.value("DTEND") == "20260302T091500"


def test_stopping_the_recurrence_drops_its_instances():
    stored = events.from_row(dict(events.to_row(STORED), fRecurrence="0", EventType="0",
                                  EndDate="2026-03-02T08:15:00Z"), STORED)
    assert len(_events(stored)) == 1
    master = _master(stored)
    assert master.get("RRULE") is None and master.get("EXDATE") is None
    assert master.value("DTEND") == "20260302T091500"


@pytest.mark.parametrize("hours", [0, 1])
def test_all_day_events(hours):
    row = {"Title": "Holiday", "EventDate": "2026-07-01T00:00:00Z", "EndDate": "2026-07-03T23:59:00Z",
           "fAllDayEvent": "1"}
    if hours:  # an exclusive end at midnight, as iCalendar writes it, is read as such
        row["EndDate"] = "2026-07-04T00:00:00Z"
    stored = events.from_row(row, None)
    master = _master(stored)
    assert master.get("DTSTART").params == [("VALUE", ["DATE"])] and master.value("DTSTART") == "20260701"
    assert master.value("DTEND") == "20260704"
    back = events.to_row(stored)
    assert back["EventDate"] == "2026-07-01T00:00:00Z" and back["EndDate"] == "2026-07-03T23:59:00Z"
    assert back["Duration"] == str(3 * 86400 - 60) and back["fAllDayEvent"] == "1"
    assert back["XMLTZone"] == ""


def test_all_day_series_with_deleted_day():
    stored = events.from_row({"Title": "Gym", "EventDate": "2026-07-01T00:00:00Z", "EndDate": "2026-07-31T23:59:00Z",
                              "Duration": "86340", "fAllDayEvent": "1", "fRecurrence": "1", "EventType": "1",
                              "RecurrenceData": fr.recurrence_xml(fr.Recurrence("DAILY", 2, until=date(2026, 7, 31)))},
                             None)
    master = _master(stored)
    assert master.value("RRULE") == "FREQ=DAILY;INTERVAL=2;UNTIL=20260731"
    assert events.to_row(stored)["EndDate"] == "2026-07-31T23:59:00Z"
    deleted = events.from_row({"EventType": "3", "RecurrenceID": "2026-07-03T00:00:00Z"}, stored)
    ex = _master(deleted).get("EXDATE")
    assert ex.value == "20260703" and ex.param("VALUE") == "DATE"
    assert [r["EventType"] for r in events.to_rows(deleted)] == ["1", "3"]


def test_all_day_toggle():
    timed = dict(events.to_row(STORED), fAllDayEvent="1", EventDate="2026-03-02T00:00:00Z", Duration="86340")
    master = _master(events.from_row(timed, STORED))
    assert master.value("DTSTART") == "20260302" and master.value("DTEND") == "20260303"
    assert master.value("RRULE") == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"


def test_new_timed_event_takes_the_row_zone():
    stored = events.from_row({"Title": "Call", "EventDate": "2026-01-10T14:00:00Z", "EndDate": "2026-01-10T15:00:00Z",
                              "XMLTZone": BERLIN_XML, "UID": "{5E0A8C9B-0000-4000-8000-000000000001}"}, None)
    master = _master(stored)
    assert master.get("DTSTART").param("TZID") == "Europe/Berlin" and master.value("DTSTART") == "20260110T150000"
    assert master.value("UID") == "{5E0A8C9B-0000-4000-8000-000000000001}"
    assert any(c.name == "VTIMEZONE" for c in _cal(stored).components)
    by_id = _master(events.from_row({"Title": "Call", "EventDate": "2026-01-10T14:00:00Z", "TimeZone": "13"}, None))
    assert by_id.get("DTSTART").param("TZID") == "America/Los_Angeles"
    plain = _master(events.from_row({"Title": "Call", "EventDate": "2026-01-10T14:00:00Z"}, None, Info(uid="u-1")))
    assert plain.value("DTSTART") == "20260110T140000Z" and plain.value("UID") == "u-1"


def test_fields_published():
    names = {f.name for f in events.FIELDS}
    assert names == set(events.to_row(STORED))
    assert next(f for f in events.FIELDS if f.name == "fRecurrence").type == "Recurrence"


# -- stored events, generated -------------------------------------------------------------

@st.composite
def stored_events(draw):
    shape = draw(st.sampled_from(["UTC", "date", "Europe/Berlin", "floating"]))
    day = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
    start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=15 * draw(st.integers(28, 80)))
    end = start + (timedelta(days=draw(st.integers(1, 3))) if shape == "date"
                   else timedelta(minutes=15 * draw(st.integers(1, 16))))

    def fmt(t):
        if shape == "date":
            return ";VALUE=DATE", t.strftime("%Y%m%d")
        if shape == "UTC":
            return "", t.strftime("%Y%m%dT%H%M%SZ")
        if shape == "floating":
            return "", t.strftime("%Y%m%dT%H%M%S")
        return f";TZID={shape}", t.strftime("%Y%m%dT%H%M%S")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    if "/" in shape:
        lines.append(BERLIN.strip())
    lines += ["BEGIN:VEVENT", f"UID:{draw(st.uuids())}", "DTSTAMP:20250101T000000Z"]
    p, v = fmt(start)
    lines.append(f"DTSTART{p}:{v}")
    p, v = fmt(end)
    lines.append(f"DTEND{p}:{v}")
    lines.append(f"SUMMARY:{escape_text(draw(_text))}")
    if draw(st.booleans()):
        lines.append(f"LOCATION:{escape_text(draw(_text))}")
    if draw(st.booleans()):
        lines.append("CATEGORIES:" + ",".join(escape_text(w) for w in draw(st.lists(_text, min_size=1, max_size=3))))
    rule = draw(st.sampled_from([None, "FREQ=DAILY;INTERVAL=2;COUNT=5", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
                                 "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6", "FREQ=MONTHLY;BYDAY=2TU",
                                 "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;COUNT=3", "FREQ=WEEKLY;INTERVAL=2",
                                 "FREQ=HOURLY;COUNT=3", "FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=4"]))
    if rule and not (shape == "date" and "HOURLY" in rule):  # (hours of a day: nonsense)
        lines.append(f"RRULE:{rule}")
    lines += ["ATTENDEE;CN=X:mailto:x@example.com", "X-OTHER:kept", "BEGIN:VALARM", "ACTION:AUDIO",
              "TRIGGER:-PT5M", "END:VALARM", "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode()


@given(stored_events(), _text)
@SETTINGS
def test_item_row_item(stored, title):
    row = events.to_row(stored)
    assert events.from_row(row, stored) == stored
    edited = events.from_row(dict(row, Title=title), stored)
    assert events.to_row(edited) == dict(row, Title=title)
    same = {"SUMMARY", "DTSTAMP", "SEQUENCE", "LAST-MODIFIED"}
    assert [p for p in _master(edited).properties if p.name not in same] == \
        [p for p in _master(stored).properties if p.name not in same]
    assert _master(edited).components == _master(stored).components
    assert summarize_calendar(edited, horizon=HORIZON).spans == summarize_calendar(stored, horizon=HORIZON).spans


@given(stored_events(), st.integers(-96, 96))
@SETTINGS
def test_moving_an_event_keeps_its_length_and_zone(stored, quarters):
    row = events.to_row(stored)
    start = datetime.strptime(row["EventDate"], "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=15 * quarters)
    if row["fAllDayEvent"] == "1":
        start = start.replace(hour=0, minute=0)
    moved = dict(row, EventDate=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if row["fRecurrence"] == "0":
        old_end = datetime.strptime(row["EndDate"], "%Y-%m-%dT%H:%M:%SZ")
        old_start = datetime.strptime(row["EventDate"], "%Y-%m-%dT%H:%M:%SZ")
        moved["EndDate"] = (start + (old_end - old_start)).strftime("%Y-%m-%dT%H:%M:%SZ")
    edited = events.from_row(moved, stored)
    summarize_calendar(edited, horizon=HORIZON)
    back = events.to_row(edited)
    assert back["EventDate"] == moved["EventDate"] and back["Duration"] == row["Duration"]
    assert _master(edited).get("DTSTART").param("TZID") == _master(stored).get("DTSTART").param("TZID")


# -- bad input ----------------------------------------------------------------------------

GOOD = {"Title": "x", "EventDate": "2026-01-10T14:00:00Z", "EndDate": "2026-01-10T15:00:00Z"}
RECURRING = dict(GOOD, fRecurrence="1", EventType="1", Duration="3600")


@pytest.mark.parametrize("row", [
    dict(GOOD, EventDate="2026-02-30T10:00:00Z"),
    dict(GOOD, EventDate="yesterday"),
    dict(GOOD, EventDate=""),
    {"Title": "no date"},
    dict(GOOD, EndDate="2026-01-09T15:00:00Z"),
    dict(GOOD, EndDate="99999-01-01T00:00:00Z"),
    dict(GOOD, EventDate="0001-01-01T00:00:00Z"),
    dict(GOOD, fAllDayEvent="maybe"),
    dict(GOOD, EventType="2"),
    dict(GOOD, EventType="x"),
    dict(GOOD, EventType="4", RecurrenceID="2026-01-10T14:00:00Z"),
    dict(GOOD, XMLTZone="<timeZoneRule><standardBias>abc</standardBias></timeZoneRule>"),
    dict(GOOD, XMLTZone="<not-xml"),
    dict(GOOD, TimeZone="99999999999999999999"),
    dict(RECURRING, RecurrenceData="<recurrence><rule><repeat><hourly /></repeat></rule></recurrence>"),
    dict(RECURRING, RecurrenceData="<recurrence><rule><repeat><daily dayFrequency='0'/></repeat></rule></recurrence>"),
    dict(RECURRING, RecurrenceData="<recurrence><rule><repeat><weekly weekFrequency='1'/></repeat></rule></recurrence>"),
    dict(RECURRING, RecurrenceData="<recurrence><rule><repeat><daily/></repeat>"
                                   "<repeatInstances>100000000000</repeatInstances></rule></recurrence>"),
    dict(RECURRING, RecurrenceData="<recurrence><rule><repeat><daily/></repeat>"
                                   "<windowEnd>soon</windowEnd></rule></recurrence>"),
    dict(RECURRING, RecurrenceData="<!DOCTYPE r [<!ENTITY a 'aaaa'>]><recurrence>&a;</recurrence>"),
    dict(RECURRING, RecurrenceData="not xml at all"),
    dict(RECURRING, RecurrenceData=""),
    dict(RECURRING, Duration="-5"),
    dict(RECURRING, Duration="9" * 40),
    dict(GOOD, Title="x" * 2_000_000),
    dict(GOOD, Title=None),
])
def test_malformed_rows(row):
    with pytest.raises(InvalidData):
        events.from_row(row, None)


@pytest.mark.parametrize("row", [
    {"EventType": "4"},
    {"EventType": "3", "RecurrenceID": "garbage"},
    {"EventType": "4", "RecurrenceID": "2026-03-09T08:00:00Z", "EventDate": "2026-13-01T00:00:00Z"},
    {"fRecurrence": "1", "RecurrenceData": "<recurrence/>"},
    {"EventDate": "2026-03-02 25:00:00"},
])
def test_malformed_rows_over_a_series(row):
    with pytest.raises(InvalidData):
        events.from_row(row, STORED)
    plain = events.from_row(GOOD, None)
    if row.get("EventType") in ("3", "4"):
        with pytest.raises(InvalidData):
            events.from_row(row, plain)


@pytest.mark.parametrize("content", [b"", b"junk", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                     b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                                     b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:2026\r\nEND:VEVENT\r\n"
                                     b"END:VCALENDAR\r\n"])
def test_malformed_items(content):
    with pytest.raises(InvalidData):
        events.to_rows(content)
    with pytest.raises(InvalidData):
        events.from_row(GOOD, content)


@given(st.dictionaries(st.sampled_from(sorted(events.NAMES)), st.text(max_size=60), max_size=8))
@SETTINGS
def test_arbitrary_rows_store_or_refuse(row):
    for existing in (None, STORED):
        try:
            stored = events.from_row(row, existing)
        except InvalidData:
            continue
        summarize_calendar(stored, horizon=HORIZON)
        events.to_rows(stored)


@given(st.text(max_size=200))
@SETTINGS
def test_arbitrary_recurrence_data(text):
    try:
        fr.parse_recurrence(text, False)
    except InvalidData:
        pass
    try:
        fr.parse_timezone(text)
    except InvalidData:
        pass


@given(stored_events(), st.integers(1, 3), st.integers(-8, 8), _text, st.booleans())
@SETTINGS
def test_occurrence_rows_on_any_series(stored, which, quarters, title, delete):
    assume(_master(stored).get("RRULE") is not None)
    instances = [i for i in expand_instances(stored, None, HORIZON) if i[0] is not None]
    assume(len(instances) > which)
    rid, start, end = instances[which]
    master_row = events.to_row(stored)
    all_day = master_row["fAllDayEvent"] == "1"
    key = rid.strftime("%Y-%m-%dT00:00:00Z" if all_day else "%Y-%m-%dT%H:%M:%SZ")
    if delete:
        row = {"EventType": "3", "RecurrenceID": key}
    else:
        shift = timedelta(days=quarters) if all_day else timedelta(minutes=15 * quarters)
        new_start, new_end = start + shift, end + shift
        row = {"EventType": "4", "RecurrenceID": key, "Title": title, "fAllDayEvent": master_row["fAllDayEvent"],
               "EventDate": _iso(new_start),
               "EndDate": (new_end - timedelta(days=1)).strftime("%Y-%m-%dT23:59:00Z") if all_day else _iso(new_end)}
    edited = events.from_row(row, stored, Info(item_id=3))
    summarize_calendar(edited, horizon=HORIZON)
    rows = events.to_rows(edited, Info(item_id=3))
    assert rows[0] == events.to_rows(stored, Info(item_id=3))[0]
    mine = [r for r in rows if r["RecurrenceID"] == key]
    assert len(mine) == 1 and mine[0]["EventType"] == row["EventType"]
    assert mine[0]["MasterSeriesItemID"] == "3"
    after = [i for i in expand_instances(edited, None, HORIZON) if i[0] == rid]
    if delete:
        assert after == []
    else:
        assert mine[0]["Title"] == title and mine[0]["EventDate"] == row["EventDate"]
        assert after == [(rid, new_start, new_end)]
    # Sending the row Outlook now has back changes nothing.
    assert events.from_row(mine[0], edited, Info(item_id=3)) == edited


def test_converter_by_kind():
    from smsync.errors import NotFound
    from smsync.model import CollectionKind
    from smsync.protocols.lists import fields_by_kind, fields_contacts, fields_tasks

    assert fields_by_kind.converter(CollectionKind.CALENDAR) is events
    assert fields_by_kind.converter("addressbook") is fields_contacts
    assert fields_by_kind.converter(CollectionKind.TASKS) is fields_tasks
    assert [m.SERVER_TEMPLATE for m in (events, fields_contacts, fields_tasks)] == [106, 105, 107]
    for kind in (CollectionKind.NOTES, "bogus"):
        with pytest.raises(NotFound):
            fields_by_kind.converter(kind)
