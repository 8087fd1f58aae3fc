"""SyncML event and task formats: vCalendar 1.0 (text/x-vcalendar), iCalendar 2.0
(text/calendar), SIF-E and SIF-T, against the stored iCalendar object.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, parse_components, serialize, split_raw, unescape_text
from smsync.formats.icalendar import expand_instances, summarize_calendar
from smsync.formats.icaltime import parse_duration
from smsync.formats.zonerules import iana_info, vtimezone
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import formats_for, lookup

VCAL_EVENTS = lookup(CollectionKind.CALENDAR, "text/x-vcalendar")
ICAL_EVENTS = lookup(CollectionKind.CALENDAR, "text/calendar")
SIFE = lookup(CollectionKind.CALENDAR, "text/x-s4j-sife")
VCAL_TASKS = lookup(CollectionKind.TASKS, "text/x-vcalendar")
ICAL_TASKS = lookup(CollectionKind.TASKS, "text/calendar")
SIFT = lookup(CollectionKind.TASKS, "text/x-s4j-sift")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HORIZON = datetime(2031, 1, 1, tzinfo=timezone.utc)


def test_registered():
    assert [f.mime for f in formats_for(CollectionKind.CALENDAR)][0] == "text/calendar"
    assert {f.mime for f in formats_for(CollectionKind.CALENDAR)} == {
        "text/calendar", "text/x-vcalendar", "text/x-s4j-sife"}
    assert {f.mime for f in formats_for(CollectionKind.TASKS)} == {
        "text/calendar", "text/x-vcalendar", "text/x-s4j-sift"}


# -- generated events -------------------------------------------------------------------

_word = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x2FF)
                | st.sampled_from(list("äöüßé -.'&,;\\")), min_size=1, max_size=10).map(str.strip).filter(bool)
_text = st.lists(_word, min_size=1, max_size=4).map(" ".join)
_zones = st.sampled_from(["UTC", "floating", "date", "Europe/Berlin", "America/New_York"])
RULES = [None, "FREQ=DAILY;INTERVAL=2;COUNT=5", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", "FREQ=WEEKLY;INTERVAL=2;UNTIL",
         "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6", "FREQ=MONTHLY;BYDAY=2TU;COUNT=6", "FREQ=YEARLY;COUNT=3",
         "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;COUNT=3", "FREQ=WEEKLY;BYDAY=TU,TH"]


def _fmt(t: datetime, shape: str) -> tuple[str, str]:
    """A time's parameters and value in ``shape``."""
    if shape == "date":
        return ";VALUE=DATE", t.strftime("%Y%m%d")
    if shape == "UTC":
        return "", t.strftime("%Y%m%dT%H%M%SZ")
    if shape == "floating":
        return "", t.strftime("%Y%m%dT%H%M%S")
    return f";TZID={shape}", t.strftime("%Y%m%dT%H%M%S")


@st.composite
def events(draw, kind="VEVENT", rules=RULES, alarms=2, sif=False):
    shape = draw(_zones)
    day = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
    start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=15 * draw(st.integers(28, 80)))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    if "/" in shape:
        lines.append(serialize(vtimezone(iana_info(shape, start.year), shape)).decode().strip())
    lines += [f"BEGIN:{kind}", f"UID:{draw(st.uuids())}", "DTSTAMP:20250101T000000Z"]
    p, v = _fmt(start, shape)
    lines.append(f"DTSTART{p}:{v}")
    if shape == "date":
        end = start + timedelta(days=draw(st.integers(1, 3)))
    else:
        end = start + timedelta(minutes=15 * draw(st.integers(1, 32)))
    p, v = _fmt(end, shape)
    lines.append(f"{'DTEND' if kind == 'VEVENT' else 'DUE'}{p}:{v}")
    lines.append(f"SUMMARY:{escape_text(draw(_text))}")
    if draw(st.booleans()):
        lines.append(f"DESCRIPTION:{escape_text(chr(10).join(draw(st.lists(_text, min_size=1, max_size=3))))}")
    if kind == "VEVENT" and draw(st.booleans()):
        lines.append(f"LOCATION:{escape_text(draw(_text))}")
    if draw(st.booleans()):
        words = draw(st.lists(_word.filter(lambda w: not set(w) & set(",;")), min_size=1, max_size=3, unique_by=str.casefold))
        lines.append("CATEGORIES:" + ",".join(escape_text(w) for w in words))
    klass = draw(st.sampled_from([None, "PRIVATE", "CONFIDENTIAL"]))
    if klass:
        lines.append(f"CLASS:{klass}")
    rule = draw(st.sampled_from(rules))
    if rule and rule.endswith("UNTIL"):
        last = start + timedelta(days=draw(st.integers(20, 90)))
        if shape == "date":
            rule += "=" + last.strftime("%Y%m%d")
        elif shape == "floating":
            rule += "=" + last.strftime("%Y%m%dT%H%M%S")
        else:
            rule += "=" + last.strftime("%Y%m%dT235959Z")
    if rule:
        lines.append(f"RRULE:{rule}")
    for minutes in draw(st.lists(st.sampled_from([0, 5, 15, 60, 1440]), max_size=alarms, unique=True)):
        action = "DISPLAY" if sif else draw(st.sampled_from(["DISPLAY", "AUDIO"]))
        lines += ["BEGIN:VALARM", f"ACTION:{action}", f"TRIGGER:-PT{minutes}M"]
        if action == "DISPLAY":
            lines.append("DESCRIPTION:" + (lines[[i for i, x in enumerate(lines) if x.startswith("SUMMARY:")][0]][8:]
                                          if sif else escape_text(draw(_text))))
        lines.append("END:VALARM")
    lines += [f"END:{kind}", "END:VCALENDAR"]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    if rule and draw(st.booleans()):
        instances = expand_instances(data, None, HORIZON)
        if len(instances) > 2:
            rid = instances[1][0]
            local = rid.astimezone(__import__("zoneinfo").ZoneInfo(shape)).replace(tzinfo=None) if "/" in shape \
                else rid.replace(tzinfo=None)
            p, v = _fmt(local, shape)
            data = data.replace(f"RRULE:{rule}\r\n".encode(), f"RRULE:{rule}\r\nEXDATE{p}:{v}\r\n".encode())
    return data


def _master(data: bytes, kind="VEVENT"):
    cal = parse_components(data)[0]
    return next(c for c in cal.components if c.name == kind and c.get("RECURRENCE-ID") is None)


def project(data: bytes, kind="VEVENT", categories=True) -> dict:
    """What an event or task shows: its instants (spans), texts, class, alarms."""
    s = summarize_calendar(data, horizon=HORIZON)
    item = _master(data, kind)
    out = {"spans": s.spans, "expanded": s.expanded_until}
    for name in ("SUMMARY", "DESCRIPTION", "LOCATION"):
        value = item.value(name)
        out[name] = unescape_text(value) if value else None
    out["CLASS"] = item.value("CLASS")
    if categories:
        out["CATEGORIES"] = sorted(unescape_text(v) for p in item.get_all("CATEGORIES") for v in split_raw(p.value, ","))
    out["alarms"] = sorted(
        (a.value("ACTION"), parse_duration(a.value("TRIGGER")).total,
         unescape_text(a.value("DESCRIPTION") or "") if a.value("ACTION") == "DISPLAY" else None)
        for a in item.components if a.name == "VALARM")
    return out


@SETTINGS
@given(events())
def test_vcalendar_events_round_trip(stored):
    device = VCAL_EVENTS.from_canonical(stored)
    assert device.startswith(b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\n")
    added = VCAL_EVENTS.to_canonical(device, None)
    assert project(stored) == project(added)
    assert VCAL_EVENTS.to_canonical(device, stored) == stored


@SETTINGS
@given(events())
def test_vcalendar_events_device_side_is_stable(stored):
    device = VCAL_EVENTS.from_canonical(stored)
    once = VCAL_EVENTS.to_canonical(device, None)
    again = VCAL_EVENTS.from_canonical(once)
    assert again == device
    assert VCAL_EVENTS.to_canonical(again, once) == once


@SETTINGS
@given(events(alarms=1, sif=True))
def test_sife_round_trip(stored):
    device = SIFE.from_canonical(stored)
    assert etree.fromstring(device).tag == "appointment"
    added = SIFE.to_canonical(device, None)
    assert project(stored) == project(added)
    assert SIFE.to_canonical(device, stored) == stored
    assert SIFE.from_canonical(added) == device


@SETTINGS
@given(events())
def test_icalendar_passes_through(stored):
    assert ICAL_EVENTS.from_canonical(stored) == stored
    assert ICAL_EVENTS.to_canonical(stored, None) == stored
    assert ICAL_EVENTS.to_canonical(stored, stored) == stored


# -- tasks --------------------------------------------------------------------------------

@st.composite
def tasks(draw, sif=False):
    day = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VTODO", f"UID:{draw(st.uuids())}",
             "DTSTAMP:20250101T000000Z", f"SUMMARY:{escape_text(draw(_text))}"]
    if draw(st.booleans()):
        lines.append(f"DUE;VALUE=DATE:{day:%Y%m%d}")
        if draw(st.booleans()):
            lines.append(f"DTSTART;VALUE=DATE:{day - timedelta(days=draw(st.integers(0, 5))):%Y%m%d}")
    elif draw(st.booleans()):
        lines.append(f"DUE:{day:%Y%m%d}T{draw(st.integers(6, 20)):02d}0000Z")
    if draw(st.booleans()):
        lines.append(f"DESCRIPTION:{escape_text(draw(_text))}")
    status = draw(st.sampled_from(["NEEDS-ACTION", "IN-PROCESS", "COMPLETED"] if sif else
                                  [None, "NEEDS-ACTION", "IN-PROCESS", "COMPLETED"]))
    if status:
        lines.append(f"STATUS:{status}")
    if status == "COMPLETED":
        lines.append(f"COMPLETED:{day:%Y%m%d}T120000Z")
    priority = draw(st.sampled_from([None, "1", "9"] if sif else [None, "1", "5", "9"]))
    if priority:
        lines.append(f"PRIORITY:{priority}")
    if sif and status == "IN-PROCESS":
        lines.append(f"PERCENT-COMPLETE:{draw(st.integers(1, 99))}")
    lines += ["END:VTODO", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def project_task(data: bytes) -> dict:
    out = project(data, "VTODO")
    todo = _master(data, "VTODO")
    for name in ("STATUS", "PRIORITY", "COMPLETED", "PERCENT-COMPLETE"):
        out[name] = todo.value(name)
    for name in ("DUE", "DTSTART"):
        out[name] = todo.value(name)
    return out


@SETTINGS
@given(tasks())
def test_vcalendar_tasks_round_trip(stored):
    check_task_round_trip(VCAL_TASKS, stored)


@SETTINGS
@given(tasks(sif=True))
def test_sift_round_trip(stored):
    check_task_round_trip(SIFT, stored)


def check_task_round_trip(fmt, stored):
    device = fmt.from_canonical(stored)
    added = fmt.to_canonical(device, None)
    assert project_task(stored) == project_task(added)
    assert fmt.to_canonical(device, stored) == stored
    again = fmt.from_canonical(added)
    uid = re.compile(rb"^UID:.*\r\n", re.M)
    assert uid.sub(b"", again) == uid.sub(b"", device)


def test_icalendar_tasks_refuse_events():
    event = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    with pytest.raises(InvalidData):
        ICAL_TASKS.to_canonical(event, None)
    assert summarize_calendar(ICAL_EVENTS.to_canonical(event, None)).uid == "a"


# -- what vCalendar 1.0 cannot carry ------------------------------------------------------

MEETING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 14.0//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
DTSTART:19810329T020000
TZNAME:CEST
TZOFFSETTO:+0200
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
DTSTART:19961027T030000
TZNAME:CET
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:6F3C1D2E-9A4B-4C5D-8E7F-0123456789AB
DTSTAMP:20260101T090000Z
CREATED:20260101T090000Z
SEQUENCE:3
DTSTART;TZID=Europe/Berlin:20260112T100000
DTEND;TZID=Europe/Berlin:20260112T110000
SUMMARY:Planning
LOCATION:Room 1
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=20
ORGANIZER;CN=Alice Example;SCHEDULE-STATUS=1.2:mailto:alice@example.org
ATTENDEE;CN=Alice Example;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.org
ATTENDEE;CN=Bob;CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE;X-NUM-GUESTS=0:mailto:bob@example.org
URL;VALUE=URI:https://meet.example/abc
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC
BEGIN:VALARM
X-WR-ALARMUID:8F1E
UID:8F1E
TRIGGER:-PT15M
ATTACH;VALUE=URI:Chord
ACTION:AUDIO
X-APPLE-DEFAULT-ALARM:TRUE
END:VALARM
BEGIN:VALARM
ACTION:EMAIL
TRIGGER:-P1D
SUMMARY:Tomorrow
DESCRIPTION:Planning tomorrow
ATTENDEE:mailto:alice@example.org
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:6F3C1D2E-9A4B-4C5D-8E7F-0123456789AB
RECURRENCE-ID;TZID=Europe/Berlin:20260126T100000
DTSTAMP:20260101T090000Z
DTSTART;TZID=Europe/Berlin:20260126T140000
DTEND;TZID=Europe/Berlin:20260126T150000
SUMMARY:Planning (moved)
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n").encode()


def unfolded(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "")


def test_event_edited_through_vcalendar_keeps_attendees_alarms_and_overrides():
    device = VCAL_EVENTS.from_canonical(MEETING).decode()
    assert "TZ:+01:00" in device and "DAYLIGHT:TRUE;+02:00;20260329T020000;20261025T030000;CET;CEST" in device
    assert "DTSTART:20260112T090000Z" in device and "RRULE:W1 MO #20" in device
    assert "ATTENDEE;ROLE=ORGANIZER:Alice Example <alice@example.org>" in device
    assert "AALARM:20260112T084500Z;;0;" in device
    # The phone changes the title and the alarm, and drops what it does not know.
    edited = device.replace("SUMMARY:Planning", "SUMMARY:Planung").replace("AALARM:20260112T084500Z", "AALARM:20260112T083000Z")
    edited = "".join(line for line in edited.splitlines(True) if not line.startswith(("ATTENDEE", "X-", "URL")))
    stored = unfolded(VCAL_EVENTS.to_canonical(edited.encode(), MEETING))
    summarize_calendar(stored.encode())
    assert "SUMMARY:Planung" in stored and "SUMMARY:Planning (moved)" in stored  # the override stays
    assert "DTSTART;TZID=Europe/Berlin:20260112T100000" in stored  # still in its zone
    for kept in ("ORGANIZER;CN=Alice Example;SCHEDULE-STATUS=1.2:mailto:alice@example.org",
                 "X-NUM-GUESTS=0:mailto:bob@example.org", "URL;VALUE=URI:https://meet.example/abc",
                 "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC", "ACTION:EMAIL", "DESCRIPTION:Planning tomorrow",
                 "X-WR-ALARMUID:8F1E", "ATTACH;VALUE=URI:Chord", "SEQUENCE:3", "CREATED:20260101T090000Z",
                 "UID:6F3C1D2E-9A4B-4C5D-8E7F-0123456789AB"):
        assert kept in stored, kept
    # The alarm the phone moved kept its details.
    alarm = stored[stored.index("X-WR-ALARMUID:8F1E") - 200:stored.index("X-WR-ALARMUID:8F1E") + 200]
    assert "TRIGGER:-PT30M" in alarm and "-PT15M" not in stored
    assert stored.count("BEGIN:VALARM") == 2


def test_event_edited_through_sife_keeps_attendees():
    device = SIFE.from_canonical(MEETING)
    edited = device.replace(b"<Location>Room 1</Location>", b"<Location>Room 2</Location>")
    stored = unfolded(SIFE.to_canonical(edited, MEETING))
    assert "LOCATION:Room 2" in stored and "mailto:bob@example.org" in stored and "ACTION:EMAIL" in stored
    assert "RECURRENCE-ID" in stored and "X-WR-ALARMUID:8F1E" in stored


def test_recurrence_deleted_on_the_device_is_deleted():
    device = VCAL_EVENTS.from_canonical(MEETING).decode()
    edited = "".join(line for line in device.splitlines(True) if not line.startswith("RRULE"))
    stored = VCAL_EVENTS.to_canonical(edited.encode(), MEETING)
    assert _master(stored).get("RRULE") is None and _master(MEETING).get("RRULE") is not None


def test_rule_vcalendar_cannot_say_is_kept():
    data = MEETING.replace(b"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=20", b"RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=10,16;COUNT=20")
    device = VCAL_EVENTS.from_canonical(data)
    assert b"RRULE" not in device
    stored = VCAL_EVENTS.to_canonical(device.replace(b"SUMMARY:Planning", b"SUMMARY:Other"), data)
    assert b"BYHOUR=10,16" in stored and b"SUMMARY:Other" in stored


# -- as devices send them -------------------------------------------------------------------

NOKIA_WEEKLY = (
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nTZ:+01\r\n"
    b"DAYLIGHT:TRUE;+02;20260329T010000Z;20261025T010000Z;;\r\n"
    b"DAYLIGHT:TRUE;+02;20270328T010000Z;20271031T010000Z;;\r\n"
    b"BEGIN:VEVENT\r\nUID:nokia-4711\r\nSUMMARY;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Chor=C3=BCbung\r\n"
    b"DESCRIPTION;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Noten mitbringen=0D=0A2. Stimme=\r\n"
    b" =C3=BCben\r\n"
    b"LOCATION:Gemeindehaus\r\nDTSTART:20260303T183000Z\r\nDTEND:20260303T203000Z\r\n"
    b"X-EPOCAGENDAENTRYTYPE:APPOINTMENT\r\nCLASS:PUBLIC\r\nCATEGORIES:SPECIAL OCCASION;MEETING\r\n"
    b"RRULE:W1 TU 20260630T183000Z\r\nEXDATE:20260407T173000Z;20260414T173000Z\r\n"
    b"AALARM;TYPE=X-EPOCSOUND:20260303T181500Z;;;\r\nLAST-MODIFIED:20260301T101500Z\r\nPRIORITY:2\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_nokia_weekly_event_with_exceptions_and_zone():
    stored = VCAL_EVENTS.to_canonical(NOKIA_WEEKLY, None)
    text = unfolded(stored)
    assert "TZID:Europe/Berlin" in text and "DTSTART;TZID=Europe/Berlin:20260303T193000" in text
    assert "RRULE:FREQ=WEEKLY;UNTIL=20260630T183000Z" in text
    # Instances after the switch to summer time stay at 19:30 local (17:30 UTC).
    assert "EXDATE;TZID=Europe/Berlin:20260407T193000,20260414T193000" in text
    assert "SUMMARY:Chorübung" in text and "DESCRIPTION:Noten mitbringen\\n2. Stimme üben" in text
    assert "CATEGORIES:SPECIAL OCCASION,MEETING" in text and "UID:nokia-4711" in text
    assert "TRIGGER:-PT15M" in text and "ACTION:AUDIO" in text
    instances = expand_instances(stored, None, HORIZON)
    starts = [i[1] for i in instances]
    assert datetime(2026, 3, 31, 17, 30, tzinfo=timezone.utc) in starts  # summer time
    assert datetime(2026, 3, 24, 18, 30, tzinfo=timezone.utc) in starts  # winter time
    assert datetime(2026, 4, 7, 17, 30, tzinfo=timezone.utc) not in starts
    assert len(starts) == 18 - 2
    assert VCAL_EVENTS.to_canonical(VCAL_EVENTS.from_canonical(stored), stored) == stored


def test_funambol_all_day_event_and_floating_times():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nSUMMARY:Urlaub\r\nDTSTART:20260803T000000\r\n"
            b"DTEND:20260814T235900\r\nX-FUNAMBOL-ALLDAY:1\r\nRRULE:YM1 8 #0\r\nDALARM:20260802T180000;;0;Urlaub\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    stored = VCAL_EVENTS.to_canonical(data, None).decode()
    assert "DTSTART;VALUE=DATE:20260803" in stored and "DTEND;VALUE=DATE:20260815" in stored
    assert "RRULE:FREQ=YEARLY\r\n" in stored and "TRIGGER:-PT6H" in stored and "ACTION:DISPLAY" in stored
    back = VCAL_EVENTS.from_canonical(stored.encode()).decode()
    assert "DTSTART:20260803T000000" in back and "DTEND:20260814T235900" in back and "X-FUNAMBOL-ALLDAY:1" in back
    assert "RRULE:YM1 8 #0" in back and "DALARM:20260802T180000;;0;Urlaub" in back


@pytest.mark.parametrize("rule,expected", [
    ("D1 #5", "FREQ=DAILY;COUNT=5"),
    ("W2 MO WE FR #0", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR"),
    ("MD1 15 #0", "FREQ=MONTHLY;BYMONTHDAY=15"),
    ("MD1 1- #0", "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("MP1 2+ TU #6", "FREQ=MONTHLY;BYDAY=2TU;COUNT=6"),
    ("MP1 1- FR #0", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("YM1 6 #0", "FREQ=YEARLY;BYMONTH=6"),
    ("YM1 3 MP1 1- SU #0", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"),
    ("YD1 100 #3", "FREQ=YEARLY;BYYEARDAY=100;COUNT=3"),
    ("W1 MO", "FREQ=WEEKLY;COUNT=2"),  # no duration: #2 (vCalendar 1.0 3.1.3); Monday is DTSTART's
    ("D1 20261231T000000Z", "FREQ=DAILY;UNTIL=20261231T000000Z"),
])
def test_vcalendar_rules(rule, expected):
    data = ("BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
            f"SUMMARY:x\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    stored = VCAL_EVENTS.to_canonical(data, None).decode()
    assert f"RRULE:{expected}\r\n" in stored
    summarize_calendar(stored.encode())


@pytest.mark.parametrize("data", [
    b"", b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nDTSTART:2026-13-45\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nDTSTART:20260105T090000Z\r\nRRULE:Q9 nonsense\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VTODO\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nTZ:+99\r\nBEGIN:VEVENT\r\nDTSTART:20260105T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nSUMMARY:no start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
])
def test_vcalendar_malformed(data):
    with pytest.raises(InvalidData):
        VCAL_EVENTS.to_canonical(data, None)


@pytest.mark.parametrize("fmt", [SIFE, SIFT], ids=lambda f: f.mime)
@pytest.mark.parametrize("data", [b"", b"<appointment>", b"<task><StartDate>never</StartDate></task>",
                                  b"<appointment><Start>never</Start></appointment>",
                                  b"<appointment><Start>20260105T080000Z</Start><IsRecurring>1</IsRecurring>"
                                  b"<RecurrenceType>9</RecurrenceType></appointment>", b"<note/>",
                                  b"<!DOCTYPE x [<!ENTITY a 'b'>]><task><Subject>&a;</Subject></task>"])
def test_sif_malformed(fmt, data):
    with pytest.raises(InvalidData):
        fmt.to_canonical(data, None)


FUNAMBOL_SIFE = b"""<?xml version="1.0" encoding="UTF-8"?>
<appointment>
<SIFVersion>1.1</SIFVersion>
<AllDayEvent>0</AllDayEvent>
<Body>Weekly status.&#13;
Dial-in: 030 1234</Body>
<BusyStatus>2</BusyStatus>
<Categories>Business; Meetings</Categories>
<Companies/>
<Duration>60</Duration>
<End>20260105T090000Z</End>
<Importance>2</Importance>
<Location>Raum 4.12</Location>
<MeetingStatus>0</MeetingStatus>
<Mileage/>
<ReminderMinutesBeforeStart>15</ReminderMinutesBeforeStart>
<ReminderSet>1</ReminderSet>
<ReminderSoundFile>C:\\Windows\\Media\\Reminder.wav</ReminderSoundFile>
<ReplyTime/>
<Sensitivity>2</Sensitivity>
<Start>20260105T080000Z</Start>
<Subject>Jour fixe</Subject>
<IsRecurring>1</IsRecurring>
<RecurrenceType>1</RecurrenceType>
<Interval>1</Interval>
<DayOfWeekMask>10</DayOfWeekMask>
<NoEndDate>0</NoEndDate>
<Occurrences>30</Occurrences>
<PatternStartDate>20260105T080000Z</PatternStartDate>
<Exceptions>
<ExcludeDate>2026-01-14</ExcludeDate>
<ExcludeDate>2026-04-06</ExcludeDate>
</Exceptions>
<Timezone>
<BasicOffset>+0100</BasicOffset>
<DayLight>
<DSTOffset>+0200</DSTOffset>
<DSTStart>20260329T010000Z</DSTStart>
<DSTEnd>20261025T010000Z</DSTEnd>
<StandardName>W. Europe Standard Time</StandardName>
<DSTName>W. Europe Daylight Time</DSTName>
</DayLight>
</Timezone>
</appointment>"""


def test_funambol_sife_recurring_appointment():
    stored = SIFE.to_canonical(FUNAMBOL_SIFE, None)
    text = unfolded(stored)
    assert "DTSTART;TZID=Europe/Berlin:20260105T090000" in text
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=30" in text
    assert "SUMMARY:Jour fixe" in text and "DESCRIPTION:Weekly status.\\nDial-in: 030 1234" in text
    assert "LOCATION:Raum 4.12" in text and "CATEGORIES:Business,Meetings" in text
    assert "CLASS:PRIVATE" in text and "PRIORITY:1" in text and "TRANSP:OPAQUE" in text
    assert "TRIGGER:-PT15M" in text
    assert "X-SIF-REMINDERSOUNDFILE;X-TAG=ReminderSoundFile:C:\\\\Windows\\\\Media\\\\Reminder.wav" in text
    starts = [i[1] for i in expand_instances(stored, None, HORIZON)]
    assert len(starts) == 28
    assert datetime(2026, 1, 14, 8, tzinfo=timezone.utc) not in starts
    assert datetime(2026, 4, 6, 7, tzinfo=timezone.utc) not in starts  # summer time: 09:00 local
    assert datetime(2026, 4, 8, 7, tzinfo=timezone.utc) in starts
    back = etree.fromstring(SIFE.from_canonical(stored))
    assert back.findtext("Subject") == "Jour fixe" and back.findtext("DayOfWeekMask") == "10"
    assert back.findtext("Occurrences") == "30" and back.findtext("ReminderMinutesBeforeStart") == "15"
    assert back.findtext("Importance") == "2" and back.findtext("Sensitivity") == "2"
    assert back.findtext("ReminderSoundFile") == "C:\\Windows\\Media\\Reminder.wav"
    assert [e.text for e in back.find("Exceptions")] == ["20260114T080000Z", "20260406T070000Z"]
    assert SIFE.to_canonical(SIFE.from_canonical(stored), stored) == stored


def test_funambol_sift_task():
    data = b"""<?xml version="1.0" encoding="UTF-8"?><task><SIFVersion>1.1</SIFVersion>
<Subject>Steuererkl\xc3\xa4rung</Subject><Body>Belege sammeln</Body><DueDate>2026-05-31</DueDate>
<StartDate>2026-05-01</StartDate><Complete>0</Complete><Status>1</Status><PercentComplete>40</PercentComplete>
<Importance>2</Importance><Sensitivity>0</Sensitivity><ReminderSet>1</ReminderSet>
<ReminderTime>20260530T070000Z</ReminderTime><Categories>Privat</Categories><TeamTask>0</TeamTask>
<Mileage>none</Mileage></task>"""
    stored = SIFT.to_canonical(data, None).decode()
    for part in ("SUMMARY:Steuererklärung", "DUE;VALUE=DATE:20260531", "DTSTART;VALUE=DATE:20260501",
                 "STATUS:IN-PROCESS", "PERCENT-COMPLETE:40", "PRIORITY:1", "CATEGORIES:Privat",
                 "X-SIF-MILEAGE;X-TAG=Mileage:none", "ACTION:DISPLAY"):
        assert part in stored, part
    back = etree.fromstring(SIFT.from_canonical(stored.encode()))
    assert back.findtext("DueDate") == "2026-05-31" and back.findtext("Status") == "1"
    assert back.findtext("PercentComplete") == "40" and back.findtext("ReminderTime") == "20260530T070000Z"
    done = SIFT.from_canonical(stored.encode()).replace(b"<Status>1</Status>", b"<Status>2</Status>").replace(
        b"<Complete>0</Complete>", b"<Complete>1</Complete><DateCompleted>20260520T100000Z</DateCompleted>")
    stored2 = SIFT.to_canonical(done, stored.encode()).decode()
    assert "STATUS:COMPLETED" in stored2 and "COMPLETED:20260520T100000Z" in stored2


def test_nokia_vtodo():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VTODO\r\nSUMMARY:Milch kaufen\r\nDUE:20260110T000000\r\n"
            b"STATUS:NEEDS ACTION\r\nPRIORITY:1\r\nCLASS:PRIVATE\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    stored = VCAL_TASKS.to_canonical(data, None).decode()
    assert "DUE:20260110T000000\r\n" in stored and "STATUS:NEEDS-ACTION" in stored and "PRIORITY:1" in stored
    done = VCAL_TASKS.from_canonical(stored.encode()).replace(b"STATUS:NEEDS ACTION", b"STATUS:COMPLETED\r\nCOMPLETED:20260109T120000Z")
    stored2 = VCAL_TASKS.to_canonical(done, stored.encode()).decode()
    assert "STATUS:COMPLETED" in stored2 and "COMPLETED:20260109T120000Z" in stored2
    assert summarize_calendar(stored2.encode()).uid == summarize_calendar(stored.encode()).uid


# -- property: an edit through a poorer format keeps what it cannot carry ------------------

EVENT_EXTRAS = ("ATTENDEE;CN=Bob;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;X-NUM-GUESTS=0:mailto:bob@example.org",
                "ORGANIZER;CN=Alice;SCHEDULE-AGENT=SERVER:mailto:alice@example.org",
                "X-ALT-DESC;FMTTYPE=text/html:<p>hello</p>", "URL;VALUE=URI:https://example.org/e",
                "GEO:52.52;13.40", "COLOR:teal", "CONFERENCE;VALUE=URI:https://meet.example/x")
EMAIL_ALARM = "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-P2D\r\nSUMMARY:x\r\nDESCRIPTION:y\r\nATTENDEE:mailto:a@b.example\r\nEND:VALARM"


def _retitled(data: bytes, title: str) -> bytes:
    line = f"SUMMARY:{escape_text(title)}".encode()
    return re.sub(rb"^SUMMARY:.*$", lambda m: line, data, count=1, flags=re.M)


def check_event_edit_keeps(fmt, stored, title, extras):
    with_extras = stored.replace(b"END:VEVENT", "\r\n".join([*extras, EMAIL_ALARM]).encode() + b"\r\nEND:VEVENT")
    # The device shows the event without what its format lacks (or drops it), and retitles it.
    edited = fmt.from_canonical(_retitled(stored, title))
    result = unfolded(fmt.to_canonical(edited, with_extras))
    assert unescape_text(_master(result.encode()).value("SUMMARY")) == title
    for extra in extras:
        assert extra in result, extra
    assert "ACTION:EMAIL" in result and "TRIGGER:-P2D" in result
    # Everything else as it was (a SIF reminder's text is the subject, so it follows the title).
    a, b = project(result.encode()), project(with_extras)
    for p in (a, b):
        p["SUMMARY"] = None
        p["alarms"] = [x[:2] for x in p["alarms"]]
    assert a == b


@SETTINGS
@given(events(), _text, st.lists(st.sampled_from(EVENT_EXTRAS), min_size=1, max_size=4, unique=True))
def test_vcalendar_edit_keeps_what_1_0_lacks(stored, title, extras):
    check_event_edit_keeps(VCAL_EVENTS, stored, title, extras)


@SETTINGS
@given(events(alarms=1, sif=True), _text, st.lists(st.sampled_from(EVENT_EXTRAS), min_size=1, max_size=4, unique=True))
def test_sife_edit_keeps_what_sife_lacks(stored, title, extras):
    check_event_edit_keeps(SIFE, stored, title, extras)


def test_phone_with_only_its_current_offset_keeps_the_stored_zone():
    device = VCAL_EVENTS.from_canonical(MEETING).decode()
    device = re.sub(r"TZ:.*\r\nDAYLIGHT:.*\r\n", "TZ:+02\r\n", device)
    edited = device.replace("LOCATION:Room 1", "LOCATION:Room 9")
    stored = unfolded(VCAL_EVENTS.to_canonical(edited.encode(), MEETING))
    assert "DTSTART;TZID=Europe/Berlin:20260112T100000" in stored and "LOCATION:Room 9" in stored
    assert stored.count("BEGIN:VTIMEZONE") == 1


def test_local_times_with_a_zone_and_no_zone():
    zoned = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nTZ:-05:00\r\nDAYLIGHT:TRUE;-04:00;20260308T020000;20261101T020000;EST;EDT\r\n"
             b"BEGIN:VEVENT\r\nDTSTART:20260706T090000\r\nDTEND:20260706T100000\r\nSUMMARY:Standup\r\n"
             b"RRULE:D1 #3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    stored = unfolded(VCAL_EVENTS.to_canonical(zoned, None))
    assert "DTSTART;TZID=America/New_York:20260706T090000" in stored
    assert expand_instances(stored.encode(), None, HORIZON)[0][1] == datetime(2026, 7, 6, 13, tzinfo=timezone.utc)
    floating = zoned.replace(b"TZ:-05:00\r\nDAYLIGHT:TRUE;-04:00;20260308T020000;20261101T020000;EST;EDT\r\n", b"")
    stored = unfolded(VCAL_EVENTS.to_canonical(floating, None))
    assert "DTSTART:20260706T090000\r\n" in stored and "VTIMEZONE" not in stored
    assert b"DTSTART:20260706T090000\r\n" in VCAL_EVENTS.from_canonical(stored.encode())


def test_nokia_all_day_and_anniversary():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nUID:7\r\nSUMMARY:Geburtstag Anna\r\n"
            b"DTSTART:20260317T000000\r\nDTEND:20260318T000000\r\nX-EPOCAGENDAENTRYTYPE:ANNIVERSARY\r\n"
            b"RRULE:YM1 3 #0\r\nCLASS:PRIVATE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    stored = VCAL_EVENTS.to_canonical(data, None).decode()
    assert "DTSTART;VALUE=DATE:20260317" in stored and "DTEND;VALUE=DATE:20260318" in stored
    assert "RRULE:FREQ=YEARLY\r\n" in stored and "X-EPOCAGENDAENTRYTYPE" not in stored
    back = VCAL_EVENTS.from_canonical(stored.encode()).decode()
    assert "DTSTART:20260317T000000" in back and "DTEND:20260317T235900" in back and "RRULE:YM1 3 #0" in back


def test_task_alarm_before_its_due_time():
    todo = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20260101T000000Z\r\n"
            b"SUMMARY:Call back\r\nDUE:20260110T150000Z\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Call\r\n"
            b"TRIGGER;RELATED=END:-PT30M\r\nEND:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    device = VCAL_TASKS.from_canonical(todo).decode()
    assert "DUE:20260110T150000Z" in device and "AALARM:20260110T143000Z;;0;" in device
    assert "DALARM:20260110T143000Z;;0;Call" in device
    added = VCAL_TASKS.to_canonical(device.encode(), None).decode()
    assert "TRIGGER;RELATED=END:-PT30M" in added and "DESCRIPTION:Call" in added
    assert VCAL_TASKS.to_canonical(device.encode(), todo) == todo
    moved = device.replace("20260110T143000Z", "20260110T140000Z")
    assert "TRIGGER;RELATED=END:-PT1H" in VCAL_TASKS.to_canonical(moved.encode(), todo).decode()
