"""Property tests of CalDAV's pure parts: filters against the formats' own overlap
test, text-match on summaries, and expansion counting instances."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import parse_components
from smsync.formats.icalendar import expand_instances, overlaps
from smsync.protocols.caldav.caldata import expand, limit_recurrence_set
from smsync.protocols.caldav.filters import matches, parse_filter
from smsync.protocols.dav.errors import DavError

C = "urn:ietf:params:xml:ns:caldav"
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)


def event(start: datetime, minutes: int, count: int | None, summary: str) -> bytes:
    rule = f"RRULE:FREQ=DAILY;COUNT={count}\r\n" if count else ""
    end = start + timedelta(minutes=minutes)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{end:%Y%m%dT%H%M%SZ}\r\n{rule}SUMMARY:{summary}\r\nEND:VEVENT\r\n"
            f"END:VCALENDAR\r\n").encode()


def flt(inner: str):
    return parse_filter(etree.fromstring(
        f'<C:filter xmlns:C="{C}"><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f"{inner}</C:comp-filter></C:comp-filter></C:filter>"))


hours = st.integers(min_value=0, max_value=24 * 60)


@settings(max_examples=60, deadline=None)
@given(hours, st.integers(min_value=1, max_value=300), st.one_of(st.none(), st.integers(1, 20)),
       hours, st.integers(min_value=1, max_value=24 * 20))
def test_time_range_filter_agrees_with_overlaps(start_h, minutes, count, range_h, length_h):
    data = event(BASE + timedelta(hours=start_h), minutes, count, "x")
    a = BASE + timedelta(hours=range_h)
    b = a + timedelta(hours=length_h)
    f = flt(f'<C:time-range start="{a:%Y%m%dT%H%M%SZ}" end="{b:%Y%m%dT%H%M%SZ}"/>')
    assert matches(f, data, parse_components(data)[0]) == overlaps(data, a, b)


@settings(max_examples=60, deadline=None)
@given(st.text("abcABC xyz", min_size=1, max_size=12), st.text("abcABC", min_size=1, max_size=4),
       st.booleans())
def test_summary_text_match(summary, needle, negate):
    data = event(BASE, 30, None, summary)
    f = flt(f'<C:prop-filter name="SUMMARY"><C:text-match negate-condition="{"yes" if negate else "no"}">'
            f"{needle}</C:text-match></C:prop-filter>")
    assert matches(f, data, parse_components(data)[0]) == ((needle.lower() in summary.lower()) != negate)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(0, 40), st.integers(1, 40))
def test_expand_gives_one_component_per_instance(count, first_day, days):
    data = event(BASE + timedelta(hours=9), 30, count, "daily")
    a = BASE + timedelta(days=first_day)
    b = a + timedelta(days=days)
    out = expand(data, a, b)
    assert out.count(b"BEGIN:VEVENT") == len(expand_instances(data, a, b))
    assert b"RRULE" not in out
    kept = limit_recurrence_set(data, a, b)
    assert kept.count(b"BEGIN:VEVENT") == 1


@pytest.mark.parametrize("bad", [
    '<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"/>',
    '<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VEVENT"/></C:filter>',
    '<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR">'
    '<C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter></C:comp-filter></C:filter>',
])
def test_bad_filters_are_403(bad):
    with pytest.raises(DavError) as e:
        parse_filter(etree.fromstring(bad))
    assert e.value.status == 403
