"""Repairs of malformed-but-common iCalendar and vCard (``smsync.formats.repair``), the
Last-Modified read from content (``smsync.formats.lastmodified``) and the UID read from
lines (``smsync.sync.uids.uid_of``)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.icaltime import parse_duration
from smsync.formats.lastmodified import last_modified
from smsync.formats.repair import repair_calendar, repair_vcard
from smsync.formats.vcard import summarize_vcard
from smsync.sync.uids import uid_of


def cal(*lines: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *lines,
                         "END:VCALENDAR"]) + "\r\n").encode()


def ev(*props: str, uid: str = "u1") -> list:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *props, "END:VEVENT"]


@pytest.mark.parametrize("bad, good", [
    ("P1DT", "P1D"), ("PT", "PT0S"), ("P", "PT0S"), ("P1H", "PT1H"), ("P1W2D", "P9D"),
    ("p1d", "P1D"), ("-P1DT", "-P1D"), ("P1DT2H", None), ("P2W", None), ("PT0S", None),
])
def test_durations(bad, good):
    data = cal(*ev("DTSTART:20260301T100000Z", f"DURATION:{bad}"))
    repaired = repair_calendar(data)
    if good is None:
        assert repaired.content == data and not repaired.changed
        return
    assert f"DURATION:{good}\r\n".encode() in repaired.content and repaired.changed
    summarize_calendar(repaired.content)


def test_the_common_export_forms_become_valid():
    data = cal("METHOD:PUBLISH", "BEGIN:VTIMEZONE", "TZID:Custom", "BEGIN:STANDARD",
               "DTSTART:19701025T030000", "TZOFFSETTO:+01:00", "END:STANDARD", "END:VTIMEZONE",
               *ev("DTSTART;TZID=Custom:2026-03-01T10:00:00", "DTEND;TZID=Custom:20260301T1100",
                   "DURATION:PT1H", "EXDATE;TZID=Custom:", "RRULE:freq=daily;until=2026-03-05",
                   "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "END:VALARM"))
    with pytest.raises(InvalidData):
        summarize_calendar(data)
    repaired = repair_calendar(data)
    summary = summarize_calendar(repaired.content)
    assert summary.uid == "u1" and len(summary.spans) == 5
    text = repaired.content.decode()
    assert "METHOD" not in text and "DURATION" not in text and "EXDATE" not in text
    assert "TZOFFSETFROM:+0100" in text and "RRULE:FREQ=DAILY;UNTIL=20260305" in text
    assert len(repaired.notes) >= 6


def test_missing_uid_and_windows_1252():
    data = cal(*ev("DTSTART:20260301T100000Z", "SUMMARY:Caf\xe9")).decode().encode("cp1252")
    repaired = repair_calendar(data)
    assert summarize_calendar(repaired.content).summary == "Café"
    assert "SUMMARY:Café".encode() in repaired.content
    # An event without UID has no obvious one (RFC 5545 requires it): left to be refused.
    no_uid = cal("BEGIN:VEVENT", "DTSTART:20260301T100000Z", "END:VEVENT")
    assert not repair_calendar(no_uid, fallback_uid="x").changed
    card = repair_vcard(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n", "c1")
    assert summarize_vcard(card.content).uid == "c1"


def test_what_has_no_obvious_meaning_is_left_alone():
    for data in (cal(*ev("DTSTART:20260230T100000Z")), b"BEGIN:VCALENDAR\r\n", b"junk"):
        assert repair_calendar(data).content == data
        assert not repair_calendar(data).changed


@given(days=st.integers(0, 400), hours=st.integers(0, 23), minutes=st.integers(0, 59),
       sign=st.sampled_from(["", "-", "+"]))
def test_valid_durations_are_never_touched(days, hours, minutes, sign):
    text = f"{sign}P{days}DT{hours}H{minutes}M"
    parse_duration(text)
    data = cal(*ev("DTSTART:20260301T100000Z", f"DURATION:{text}"))
    assert repair_calendar(data).content == data


def test_last_modified_is_the_latest_stamp_outside_timezones():
    data = cal("BEGIN:VTIMEZONE", "TZID:X", "LAST-MODIFIED:20300101T000000Z", "END:VTIMEZONE",
               *ev("LAST-MODIFIED:20260106T093000Z", "DTSTART:20260301T100000Z"))
    assert last_modified(data) == 1767691800  # 2026-01-06T09:30:00Z (DTSTAMP is earlier)
    assert last_modified(b"BEGIN:VCARD\r\nREV:2026-02-03T04:05:06Z\r\nEND:VCARD\r\n") == 1770091506
    assert last_modified(b"BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n") is None
    assert last_modified(cal(*ev("DTSTART:20260301T100000Z")), now=100) == 100


def test_uid_of_reads_the_objects_own_uid():
    data = cal(*["BEGIN:VEVENT", "BEGIN:VALARM", "UID:alarm", "END:VALARM", "UID:event",
                 "END:VEVENT"])
    assert uid_of(data) == "event"
    assert uid_of(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\\,b\r\nEND:VCARD\r\n") == "a,b"
    assert uid_of(cal(*["BEGIN:VEVENT", "DTSTART:20260301T100000Z", "END:VEVENT"])) is None
