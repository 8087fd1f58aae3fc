"""Recurrence and time-zone expansion checked against python-dateutil, computed
independently here (aware datetimes, ``rruleset`` with EXDATE/RDATE), and the bounds
that keep hostile data or queries from tying up the reactor."""

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData, QuotaExceeded
from smsync.formats.icalendar import MAX_EXPANSION, expand_instances, overlaps, summarize_calendar
from smsync.formats.icaltime import MAX_TRANSITIONS

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def cal(*components):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for props in components:
        lines += ["BEGIN:VEVENT", "UID:u1", *props, "END:VEVENT"]
    return ("\r\n".join(lines + ["END:VCALENDAR", ""])).encode()


def starts(data):
    return [s for _, s, _ in expand_instances(data, None, None)]


def utc_list(iterable):
    return [d.astimezone(UTC) for d in iterable]


def test_daily_in_dst_gap_takes_offset_before_gap():
    # 2024-03-31 02:30 does not exist in Berlin; dateutil/zoneinfo (fold=0) and RFC 5545
    # both read it with the offset before the gap.
    data = cal(["DTSTART;TZID=Europe/Berlin:20240329T023000", "DURATION:PT1H",
                "RRULE:FREQ=DAILY;COUNT=5"])
    want = utc_list(rrule.rrule(rrule.DAILY, dtstart=datetime(2024, 3, 29, 2, 30, tzinfo=BERLIN), count=5))
    got = expand_instances(data, None, None)
    assert [s for _, s, _ in got] == want
    assert all(e - s == timedelta(hours=1) for _, s, e in got)


def test_exdate_with_other_tzid_and_utc_count_counts_excluded():
    data = cal(["DTSTART;TZID=Europe/Berlin:20240301T100000",
                "DTEND;TZID=Europe/Berlin:20240301T110000",
                "RRULE:FREQ=WEEKLY;COUNT=6",
                "EXDATE;TZID=America/New_York:20240315T050000",  # = 10:00 Berlin on 03-15
                "EXDATE:20240322T090000Z"])  # = 10:00 Berlin on 03-22
    rs = rrule.rruleset()
    rs.rrule(rrule.rrule(rrule.WEEKLY, dtstart=datetime(2024, 3, 1, 10, tzinfo=BERLIN), count=6))
    rs.exdate(datetime(2024, 3, 15, 5, tzinfo=NEW_YORK))
    rs.exdate(datetime(2024, 3, 22, 9, tzinfo=UTC))
    want = utc_list(rs)
    assert len(want) == 4  # COUNT counts the excluded instances (RFC 5545 3.8.5.1)
    assert starts(data) == want


def test_until_in_utc_with_zoned_dtstart_across_dst():
    # UNTIL 22:00Z is 18:00 EDT on 03-15: that instance is included; before 03-10 the
    # 18:00 EST instances are 23:00Z.
    data = cal(["DTSTART;TZID=America/New_York:20240301T180000", "DURATION:PT30M",
                "RRULE:FREQ=DAILY;UNTIL=20240315T220000Z"])
    want = utc_list(rrule.rrule(rrule.DAILY, dtstart=datetime(2024, 3, 1, 18, tzinfo=NEW_YORK),
                                until=datetime(2024, 3, 15, 22, tzinfo=UTC)))
    assert starts(data) == want
    assert want[-1] == datetime(2024, 3, 15, 22, tzinfo=UTC)


def test_all_day_events_across_dst_stay_whole_days():
    data = cal(["DTSTART;VALUE=DATE:20240329", "DTEND;VALUE=DATE:20240330",
                "RRULE:FREQ=DAILY;COUNT=4"])
    days = list(rrule.rrule(rrule.DAILY, dtstart=datetime(2024, 3, 29, tzinfo=UTC), count=4))
    assert expand_instances(data, None, None) == [(d, d, d + timedelta(days=1)) for d in days]


def test_rdate_periods_keep_their_own_length():
    data = cal(["DTSTART:20240101T100000Z", "DURATION:PT1H",
                "RDATE;VALUE=PERIOD:20240105T120000Z/PT3H,20240106T120000Z/20240106T123000Z"])
    rs = rrule.rruleset()
    rs.rdate(datetime(2024, 1, 1, 10, tzinfo=UTC))
    rs.rdate(datetime(2024, 1, 5, 12, tzinfo=UTC))
    rs.rdate(datetime(2024, 1, 6, 12, tzinfo=UTC))
    got = expand_instances(data, None, None)
    assert [s for _, s, _ in got] == list(rs)
    assert [e - s for _, s, e in got] == [timedelta(hours=1), timedelta(hours=3), timedelta(minutes=30)]


def test_recurrence_id_on_all_day_event_moves_that_day():
    data = cal(["DTSTART;VALUE=DATE:20240101", "RRULE:FREQ=DAILY;COUNT=3"],
               ["RECURRENCE-ID;VALUE=DATE:20240102", "DTSTART;VALUE=DATE:20240110"])
    day = timedelta(days=1)
    rids = list(rrule.rrule(rrule.DAILY, dtstart=datetime(2024, 1, 1, tzinfo=UTC), count=3))
    moved = datetime(2024, 1, 10, tzinfo=UTC)
    assert expand_instances(data, None, None) == [
        (rids[0], rids[0], rids[0] + day),
        (rids[2], rids[2], rids[2] + day),
        (rids[1], moved, moved + day),
    ]
    assert not overlaps(data, rids[1], rids[1] + day)


def test_date_exdate_on_zoned_event_excludes_by_local_day():
    # 23:00 New York on 01-02 is 04:00Z on 01-03: EXDATE;VALUE=DATE names the local day.
    data = cal(["DTSTART;TZID=America/New_York:20240101T230000", "DURATION:PT1H",
                "RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20240102"])
    every = list(rrule.rrule(rrule.DAILY, dtstart=datetime(2024, 1, 1, 23, tzinfo=NEW_YORK), count=3))
    assert starts(data) == utc_list(d for d in every if d.day != 2)


def test_nominal_day_duration_follows_wall_clock_across_dst():
    p1d = expand_instances(cal(["DTSTART;TZID=Europe/Berlin:20240330T120000", "DURATION:P1D"]), None, None)
    pt24h = expand_instances(cal(["DTSTART;TZID=Europe/Berlin:20240330T120000", "DURATION:PT24H"]), None, None)
    start = datetime(2024, 3, 30, 12, tzinfo=BERLIN)
    assert p1d[0][2] == datetime(2024, 3, 31, 12, tzinfo=BERLIN).astimezone(UTC)  # 23 h later
    assert pt24h[0][2] == start.astimezone(UTC) + timedelta(hours=24)


_FREQS = {"DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY, "MONTHLY": rrule.MONTHLY}
_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@settings(max_examples=80, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    freq=st.sampled_from(sorted(_FREQS)),
    interval=st.integers(1, 3),
    byday=st.sets(st.integers(0, 6), max_size=3),
    bound=st.one_of(st.integers(1, 40).map(lambda n: ("COUNT", n)),
                    st.integers(1, 400).map(lambda d: ("UNTIL", d))),
    excluded=st.sets(st.integers(0, 39), max_size=5),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
)
def test_expansion_agrees_with_dateutil(start, freq, interval, byday, bound, excluded, zone):
    start = start.replace(second=0, microsecond=0)
    tz = ZoneInfo(zone)
    kwargs = {"dtstart": start.replace(tzinfo=tz), "interval": interval}
    rule = f"FREQ={freq};INTERVAL={interval}"
    if byday and freq != "DAILY":
        rule += ";BYDAY=" + ",".join(_WEEKDAYS[d] for d in sorted(byday))
        kwargs["byweekday"] = sorted(byday)
    if bound[0] == "COUNT":
        rule += f";COUNT={bound[1]}"
        kwargs["count"] = bound[1]
    else:
        until = (start.replace(tzinfo=tz) + timedelta(days=bound[1])).astimezone(UTC)
        rule += f";UNTIL={until:%Y%m%dT%H%M%SZ}"
        kwargs["until"] = until
    generated = list(rrule.rrule(_FREQS[freq], **kwargs))
    # RFC 5545 makes DTSTART the first instance even when the rule does not match it.
    if kwargs["dtstart"] not in generated:
        generated.insert(0, kwargs["dtstart"])
    exdates = [generated[i] for i in sorted(excluded) if i < len(generated)]
    props = [f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}", "DURATION:PT45M", f"RRULE:{rule}"]
    props += [f"EXDATE;TZID={zone}:{d:%Y%m%dT%H%M%S}" for d in exdates]
    # The same wall-clock time twice in one zone (DST fall-back) is one instance.
    want = sorted({d.astimezone(UTC) for d in generated if d not in exdates})
    assert starts(cal(props)) == want


def test_dense_vtimezone_rule_is_refused_quickly():
    vtimezone = ["BEGIN:VTIMEZONE", "TZID:Hostile", "BEGIN:STANDARD", "DTSTART:19700101T000000",
                 "RRULE:FREQ=MINUTELY", "TZOFFSETFROM:+0000", "TZOFFSETTO:+0100", "END:STANDARD",
                 "END:VTIMEZONE"]
    data = ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *vtimezone, "BEGIN:VEVENT", "UID:u",
                         "DTSTART;TZID=Hostile:20240101T100000", "END:VEVENT", "END:VCALENDAR", ""])).encode()
    t = time.perf_counter()
    with pytest.raises(InvalidData, match=str(MAX_TRANSITIONS)):
        summarize_calendar(data)
    assert time.perf_counter() - t < 5


def test_dense_rule_and_far_range_answers_in_bounded_time():
    data = cal(["DTSTART:20240101T000000Z", "RRULE:FREQ=MINUTELY;BYHOUR=3"])
    t = time.perf_counter()
    # The first match is past MAX_EXPANSION instances: answered True without walking
    # every minute up to year 9000.
    assert overlaps(data, datetime(9000, 1, 1, 3, tzinfo=UTC), datetime(9000, 1, 1, 4, tzinfo=UTC))
    with pytest.raises(QuotaExceeded):
        expand_instances(data, None, None)
    assert time.perf_counter() - t < 20
    # Within reach the exact answer stands, a miss included.
    assert not overlaps(data, datetime(2024, 1, 2, 4, tzinfo=UTC), datetime(2024, 1, 3, 3, tzinfo=UTC))
    # DTSTART (always an instance) and the 03:xx minutes of two days.
    assert len(expand_instances(data, None, datetime(2024, 1, 3, tzinfo=UTC))) == 1 + 2 * 60
    assert MAX_EXPANSION > 1 + 2 * 60


def test_times_past_year_9999_are_invalid_data_everywhere():
    data = cal(["DTSTART:99991231T230000Z", "DURATION:P2D"])
    for call in (lambda: summarize_calendar(data), lambda: overlaps(data, None, None),
                 lambda: expand_instances(data, None, None)):
        with pytest.raises(InvalidData):
            call()
