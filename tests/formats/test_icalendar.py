"""summarize_calendar / overlaps / expand_instances against RFC 4791 9.9 and RFC 5545."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.icalendar import (
    MAX_INSTANCES,
    SPAN_MAX,
    SPAN_MIN,
    expand_instances,
    overlaps,
    span_matches,
    summarize_calendar,
)

UTC = timezone.utc


def cal(*lines, tz=""):
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *([tz] if tz else []), *lines, "END:VCALENDAR", ""])
    return body.encode()


def ev(*props, comp="VEVENT", uid="u1"):
    return [f"BEGIN:{comp}", f"UID:{uid}", *props, f"END:{comp}"]


def ts(*args):
    return int(datetime(*args, tzinfo=UTC).timestamp())


def utc(*args):
    return datetime(*args, tzinfo=UTC)


NY_VTIMEZONE = "\r\n".join(
    [
        "BEGIN:VTIMEZONE",
        "TZID:Custom Eastern",
        "BEGIN:STANDARD",
        "DTSTART:19701101T020000",
        "TZOFFSETFROM:-0400",
        "TZOFFSETTO:-0500",
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:19700308T020000",
        "TZOFFSETFROM:-0500",
        "TZOFFSETTO:-0400",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
    ]
)


def test_recurring_event_with_exception_and_exdate():
    data = cal(
        *ev(
            "DTSTART:20240101T100000Z",
            "DTEND:20240101T110000Z",
            "RRULE:FREQ=DAILY;COUNT=5",
            "EXDATE:20240103T100000Z",
            "SUMMARY:Stand-up\\, daily",
        ),
        *ev("RECURRENCE-ID:20240104T100000Z", "DTSTART:20240104T150000Z", "DURATION:PT30M"),
    )
    s = summarize_calendar(data)
    assert s.uid == "u1" and s.component == "VEVENT" and s.summary == "Stand-up, daily"
    assert s.expanded_until is None
    assert s.dtstart == ts(2024, 1, 1, 10)
    assert s.spans == (
        (ts(2024, 1, 1, 10), ts(2024, 1, 1, 11)),
        (ts(2024, 1, 2, 10), ts(2024, 1, 2, 11)),
        (ts(2024, 1, 4, 15), ts(2024, 1, 4, 15, 30)),
        (ts(2024, 1, 5, 10), ts(2024, 1, 5, 11)),
    )
    assert overlaps(data, utc(2024, 1, 4, 15, 10), utc(2024, 1, 4, 15, 20))
    assert not overlaps(data, utc(2024, 1, 4, 10), utc(2024, 1, 4, 11))  # moved away
    assert not overlaps(data, utc(2024, 1, 3), utc(2024, 1, 4))  # excluded
    inst = expand_instances(data, utc(2024, 1, 3), utc(2024, 1, 6))
    assert inst == [
        (utc(2024, 1, 4, 10), utc(2024, 1, 4, 15), utc(2024, 1, 4, 15, 30)),
        (utc(2024, 1, 5, 10), utc(2024, 1, 5, 10), utc(2024, 1, 5, 11)),
    ]


@pytest.mark.parametrize("tzid,tz", [("America/New_York", ""), ("Custom Eastern", NY_VTIMEZONE)])
def test_tzid_weekly_event_keeps_wall_clock_across_dst(tzid, tz):
    data = cal(
        *ev(f"DTSTART;TZID={tzid}:20240301T090000", f"DTEND;TZID={tzid}:20240301T100000", "RRULE:FREQ=WEEKLY;COUNT=3"),
        tz=tz,
    )
    s = summarize_calendar(data)
    # 2024-03-10 US DST starts: 09:00 EST = 14:00Z before, 09:00 EDT = 13:00Z after
    assert [a for a, _ in s.spans] == [ts(2024, 3, 1, 14), ts(2024, 3, 8, 14), ts(2024, 3, 15, 13)]
    assert all(b - a == 3600 for a, b in s.spans)


def test_infinite_rule_expands_to_horizon():
    data = cal(*ev("DTSTART;TZID=Europe/Berlin:20240101T090000", "DURATION:PT1H", "RRULE:FREQ=DAILY"))
    horizon = utc(2027, 1, 1)
    s = summarize_calendar(data, horizon=horizon)
    assert len(s.spans) == 366 + 365 + 365  # 2024-01-01 .. 2026-12-31; 2027-01-01 08:00Z is past
    assert s.expanded_until is not None and s.expanded_until >= ts(2027, 1, 1) - 1
    assert all(b <= s.expanded_until + 86400 * 2 for _, b in s.spans)
    # past the horizon overlaps() still answers by expanding
    assert overlaps(data, utc(2035, 6, 1, 7, 30), utc(2035, 6, 1, 7, 31))  # 09:30 CEST
    assert not overlaps(data, utc(2035, 6, 1, 8), utc(2035, 6, 1, 9))


def test_all_day_and_no_dtend_rules():
    day = summarize_calendar(cal(*ev("DTSTART;VALUE=DATE:20240105")))
    assert day.spans == ((ts(2024, 1, 5), ts(2024, 1, 6)),)
    point = cal(*ev("DTSTART:20240105T120000Z"))
    # (start <= DTSTART AND end > DTSTART)
    assert overlaps(point, utc(2024, 1, 5, 12), utc(2024, 1, 5, 13))
    assert not overlaps(point, utc(2024, 1, 5, 11), utc(2024, 1, 5, 12))
    floating = summarize_calendar(cal(*ev("DTSTART:20240105T120000", "DTEND:20240105T130000")))
    assert floating.spans == ((ts(2024, 1, 5, 12), ts(2024, 1, 5, 13)),)


def test_vtodo_rules():
    def todo(*props):
        return cal(*ev(*props, comp="VTODO"))

    none = summarize_calendar(todo("SUMMARY:x"))
    assert none.component == "VTODO" and none.spans == ((SPAN_MIN, SPAN_MAX),)
    assert overlaps(todo("SUMMARY:x"), utc(1999, 1, 1), utc(1999, 1, 2))
    due = todo("DUE:20240110T120000Z")  # (start < DUE) AND (end >= DUE)
    assert overlaps(due, utc(2024, 1, 10, 11), utc(2024, 1, 10, 12))
    assert not overlaps(due, utc(2024, 1, 10, 12), utc(2024, 1, 10, 13))
    start_due = todo("DTSTART:20240110T100000Z", "DUE:20240110T120000Z")
    assert overlaps(start_due, utc(2024, 1, 10, 11), utc(2024, 1, 10, 11, 30))
    assert overlaps(start_due, utc(2024, 1, 10, 9), utc(2024, 1, 10, 12))
    assert not overlaps(start_due, utc(2024, 1, 10, 12), utc(2024, 1, 10, 13))
    start_dur = todo("DTSTART:20240110T100000Z", "DURATION:PT2H")  # start <= DTSTART+DURATION
    assert overlaps(start_dur, utc(2024, 1, 10, 12), utc(2024, 1, 10, 13))
    completed = todo("COMPLETED:20240110T100000Z")
    assert overlaps(completed, utc(2024, 1, 10, 10), utc(2024, 1, 10, 11))
    assert overlaps(completed, utc(2024, 1, 10, 9), utc(2024, 1, 10, 10))  # end >= COMPLETED
    assert not overlaps(completed, utc(2024, 1, 10, 10, 1), utc(2024, 1, 10, 11))
    created = todo("CREATED:20240110T100000Z")
    assert overlaps(created, utc(2030, 1, 1), None)
    assert not overlaps(created, utc(2024, 1, 9), utc(2024, 1, 10, 10))
    recurring = summarize_calendar(todo("DTSTART:20240101T090000Z", "DUE:20240101T100000Z", "RRULE:FREQ=WEEKLY;COUNT=2"))
    assert recurring.spans == ((ts(2024, 1, 1, 9), ts(2024, 1, 1, 10)), (ts(2024, 1, 8, 9), ts(2024, 1, 8, 10)))


def test_vjournal_rules():
    j = cal(*ev("DTSTART;VALUE=DATE:20240105", comp="VJOURNAL"))
    assert summarize_calendar(j).spans == ((ts(2024, 1, 5), ts(2024, 1, 6)),)
    nodate = cal(*ev("SUMMARY:note", comp="VJOURNAL"))
    assert summarize_calendar(nodate).spans == ()
    assert not overlaps(nodate, None, None)


def test_rdate_periods_and_overrides_only():
    data = cal(*ev("DTSTART:20240101T100000Z", "DURATION:PT1H", "RDATE;VALUE=PERIOD:20240201T080000Z/PT2H,20240301T080000Z/20240301T083000Z"))
    assert summarize_calendar(data).spans == (
        (ts(2024, 1, 1, 10), ts(2024, 1, 1, 11)),
        (ts(2024, 2, 1, 8), ts(2024, 2, 1, 10)),
        (ts(2024, 3, 1, 8), ts(2024, 3, 1, 8, 30)),
    )
    only = cal(*ev("RECURRENCE-ID:20240101T100000Z", "DTSTART:20240101T120000Z", "DTEND:20240101T130000Z"))
    assert summarize_calendar(only).spans == ((ts(2024, 1, 1, 12), ts(2024, 1, 1, 13)),)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"BEGIN:VCARD\r\nEND:VCARD\r\n",
        cal(*ev("DTSTART:20240101T100000Z", uid="a"), *ev("DTSTART:20240101T100000Z", uid="b")),
        cal("METHOD:REQUEST", *ev("DTSTART:20240101T100000Z")),
        cal(*ev("DTSTART:20240101T100000Z"), *ev("DUE:20240101T100000Z", comp="VTODO")),
        cal("BEGIN:VEVENT", "DTSTART:20240101T100000Z", "END:VEVENT"),
        cal(*ev("DTSTART:2024-01-01")),
        cal(*ev("DTSTART:20240101T100000Z", "RRULE:FREQ=SOMETIMES")),
        cal(*ev("DTSTART:20240101T100000Z", "DURATION:1H")),
        cal(*ev("SUMMARY:no start")),
        cal(*ev("DTSTART:20240101T100000Z"), *ev("DTSTART:20240102T100000Z")),
        cal(*ev("DTSTART:20240101T100000Z"))[:-15],
        cal("BEGIN:VFREEBUSY", "DTSTAMP:20240101T000000Z", "END:VFREEBUSY"),
        cal("BEGIN:VFREEBUSY", "UID:u1", "FREEBUSY:20240101T100000Z/tomorrow", "END:VFREEBUSY"),
        cal(),
    ],
)
def test_invalid_objects(data):
    with pytest.raises(InvalidData):
        summarize_calendar(data)


def test_vfreebusy_spans_follow_rfc4791_9_9():
    # DTSTART and DTEND: (start <= DTEND) AND (end > DTSTART).
    both = summarize_calendar(cal("BEGIN:VFREEBUSY", "UID:f1", "DTSTART:20240101T100000Z",
                                  "DTEND:20240101T120000Z", "END:VFREEBUSY"))
    assert both.component == "VFREEBUSY"
    assert both.spans == ((ts(2024, 1, 1, 10), ts(2024, 1, 1, 12) + 1),)
    # FREEBUSY periods only: each period, as an end or a duration.
    periods = summarize_calendar(cal(
        "BEGIN:VFREEBUSY", "UID:f2",
        "FREEBUSY;FBTYPE=BUSY:20240101T100000Z/20240101T110000Z,20240102T100000Z/PT30M",
        "END:VFREEBUSY"))
    assert periods.spans == ((ts(2024, 1, 1, 10), ts(2024, 1, 1, 11)),
                             (ts(2024, 1, 2, 10), ts(2024, 1, 2, 10, 30)))
    # Neither: it overlaps no range.
    neither = cal("BEGIN:VFREEBUSY", "UID:f3", "END:VFREEBUSY")
    assert summarize_calendar(neither).spans == ()
    assert not overlaps(neither, utc(2000, 1, 1), utc(2100, 1, 1))


def test_daily_three_years_is_fast():
    import time

    data = cal(*ev("DTSTART;TZID=America/New_York:20240101T090000", "DTEND;TZID=America/New_York:20240101T093000", "RRULE:FREQ=DAILY"))
    summarize_calendar(data, horizon=utc(2027, 1, 1))
    t = time.perf_counter()
    s = summarize_calendar(data, horizon=utc(2027, 1, 1))
    assert len(s.spans) >= 1090
    assert time.perf_counter() - t < 0.05  # a few ms on a dev box; generous for CI


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
    minutes=st.integers(0, 3000),
    freq=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY;BYMONTHDAY=1,15", "WEEKLY;BYDAY=MO,WE,FR"]),
    count=st.integers(1, 30),
    q_start=st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2032, 1, 1)),
    q_len=st.integers(1, 86400 * 40),
    tzid=st.sampled_from(["Europe/Berlin", "America/New_York", None]),
)
def test_spans_agree_with_overlaps(start, minutes, freq, count, q_start, q_len, tzid):
    start = start.replace(microsecond=0)
    q_start = q_start.replace(microsecond=0, tzinfo=UTC)
    param = f";TZID={tzid}" if tzid else ""
    data = cal(
        *ev(
            f"DTSTART{param}:{start:%Y%m%dT%H%M%S}" + ("" if tzid else "Z"),
            f"DURATION:PT{minutes}M",
            f"RRULE:FREQ={freq};COUNT={count}",
        )
    )
    s = summarize_calendar(data)
    assert s.expanded_until is None
    q_end = q_start + timedelta(seconds=q_len)
    a, b = int(q_start.timestamp()), int(q_end.timestamp())
    assert any(span_matches(sp, a, b) for sp in s.spans) == overlaps(data, q_start, q_end)
    expanded = expand_instances(data, None, None)
    assert len(expanded) == len(s.spans) or len({(i[1], i[2]) for i in expanded}) == len(s.spans)
    # Not just as many: the very same instants.
    assert {(int(i[1].timestamp()), int(i[2].timestamp())) for i in expanded} == set(s.spans)


def test_impossible_and_out_of_range_rules():
    import time

    t = time.perf_counter()
    s = summarize_calendar(cal(*ev("DTSTART:20240101T100000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")))
    assert time.perf_counter() - t < 0.5
    assert s.spans == ((ts(2024, 1, 1, 10), ts(2024, 1, 1, 10) + 1),) and s.expanded_until is None
    bad = cal(*ev("DTSTART:20240101T100000Z", "RRULE:FREQ=HOURLY;BYHOUR=25"))
    with pytest.raises(InvalidData):
        summarize_calendar(bad)
    with pytest.raises(InvalidData):
        overlaps(bad, None, None)


def test_instance_cap_sets_expanded_until():
    data = cal(*ev("DTSTART:20240101T000000Z", "RRULE:FREQ=MINUTELY;COUNT=100000"))
    s = summarize_calendar(data)
    assert len(s.spans) == MAX_INSTANCES
    assert s.expanded_until == ts(2024, 1, 1) + MAX_INSTANCES * 60 - 1
    assert overlaps(data, utc(2024, 2, 1), utc(2024, 2, 1, 0, 1))  # past the cap, still found


def test_multiple_rrules_and_date_exdate():
    data = cal(
        *ev(
            "DTSTART:20240101T100000Z",
            "RRULE:FREQ=WEEKLY;COUNT=3",
            "RRULE:FREQ=DAILY;COUNT=3",
            "EXDATE;VALUE=DATE:20240102",
        )
    )
    starts = [a for a, _ in summarize_calendar(data).spans]
    assert starts == [ts(2024, 1, 1, 10), ts(2024, 1, 3, 10), ts(2024, 1, 8, 10), ts(2024, 1, 15, 10)]


def test_vtimezone_without_iana_name_in_dst_gap():
    # 02:30 on 2024-03-10 does not exist in US Eastern: RFC 5545 takes the offset before
    # the gap (-05:00), i.e. 07:30Z, same as zoneinfo does for America/New_York.
    custom = summarize_calendar(cal(*ev("DTSTART;TZID=Custom Eastern:20240310T023000"), tz=NY_VTIMEZONE))
    iana = summarize_calendar(cal(*ev("DTSTART;TZID=America/New_York:20240310T023000")))
    assert custom.spans == iana.spans == ((ts(2024, 3, 10, 7, 30), ts(2024, 3, 10, 7, 30) + 1),)


VALID = cal(
    *ev(
        "DTSTART;TZID=Europe/Paris:20240101T100000",
        "DTEND;TZID=Europe/Paris:20240101T110000",
        "RRULE:FREQ=MONTHLY;BYDAY=1MO;UNTIL=20250101T000000Z",
        "EXDATE;TZID=Europe/Paris:20240205T100000",
        "SUMMARY:x",
    ),
    *ev("RECURRENCE-ID;TZID=Europe/Paris:20240304T100000", "DTSTART:20240304T180000Z", "DURATION:P1D"),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID)), st.integers(0, 40), st.binary(max_size=30))
def test_mutated_calendars_give_summary_or_invalid_data(at, cut, junk):
    data = VALID[:at] + junk + VALID[at + cut :]
    try:
        s = summarize_calendar(data, horizon=utc(2026, 1, 1))
    except InvalidData:
        with pytest.raises(InvalidData):
            overlaps(data, None, None)
        return
    assert list(s.spans) == sorted(set(s.spans))
    assert all(a <= b for a, b in s.spans)
    overlaps(data, utc(2024, 1, 1), utc(2024, 6, 1))
