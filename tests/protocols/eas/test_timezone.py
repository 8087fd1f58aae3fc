"""The EAS Timezone blob: decoding, VTIMEZONE round trips, IANA zones by their yearly rule."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.contentlines import parse_components, serialize
from smsync.formats.icaltime import zones_of
from smsync.protocols.eas.convert import ConversionError
from smsync.protocols.eas.timezone import (
    COMMON_ZONES,
    SIZE,
    BlobZone,
    Rule,
    TimeZoneInfo,
    blob_from_zone,
    build_blob,
    device_zone,
    info_from_zone,
    parse_blob,
    zone_from_blob,
)

_name = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=31)
_rule = st.builds(Rule, month=st.integers(1, 12), day_of_week=st.integers(0, 6), day=st.integers(1, 5),
                  hour=st.integers(0, 23), minute=st.integers(0, 59))


@st.composite
def valid_infos(draw):
    """Canonical blobs: StandardBias 0, no daylight fields without DST, yearly rules."""
    bias = draw(st.integers(-14 * 60, 14 * 60))
    if not draw(st.booleans()):
        return TimeZoneInfo(bias, draw(_name))
    std, dst = draw(_rule), draw(_rule)
    if std.month == dst.month:  # two switches in one month: not a real zone, and ambiguous
        dst = Rule((std.month % 12) + 1, dst.day_of_week, dst.day, dst.hour, dst.minute)
    return TimeZoneInfo(bias, draw(_name), std, 0, draw(_name), dst, draw(st.sampled_from([-60, -30, -120, 60])))


@settings(max_examples=150, deadline=None)
@given(valid_infos(), st.integers(1971, 2090))
def test_blob_vtimezone_blob_is_identity(info, year):
    blob = build_blob(info)
    assert parse_blob(blob) == info
    component = zone_from_blob(blob)
    # through text, as it is stored
    component = parse_components(serialize(component))[0]
    assert component.value("TZID")
    assert blob_from_zone(component, year) == blob


_ZONES = st.sampled_from([z for z in COMMON_ZONES] + ["America/Sao_Paulo", "Asia/Gaza", "Europe/Chisinau"])


@settings(max_examples=150, deadline=None)
@given(_ZONES, st.integers(1990, 2037), st.integers(0, 365 * 24 * 60 - 1))
def test_iana_zone_blob_maps_local_times_to_same_instants(name, year, minute):
    info = info_from_zone(name, year)
    zone = ZoneInfo(name)
    local = datetime(year, 1, 1) + timedelta(minutes=minute)
    if local.year != year:
        return
    blob_zone = BlobZone(parse_blob(blob_from_zone(name, year)))
    expected = local.replace(tzinfo=zone).astimezone(timezone.utc)
    # Zones with more than two switches a year (or a change of standard offset) have no
    # one blob; the blob is then right at the end of the year only.
    if info.has_dst or all(zone.utcoffset(datetime(year, m, 1)) == info.standard_offset for m in range(1, 13)):
        assert local.replace(tzinfo=blob_zone).astimezone(timezone.utc) == expected
        assert expected.astimezone(blob_zone).replace(tzinfo=None) == expected.astimezone(zone).replace(tzinfo=None)


@settings(max_examples=60, deadline=None)
@given(valid_infos(), st.integers(1971, 2037), st.integers(0, 365 * 24 * 60 - 1))
def test_vtimezone_of_a_blob_reads_like_the_blob(info, year, minute):
    """icaltime, reading the VTIMEZONE written for a blob, finds the blob's instants."""
    dz = device_zone(build_blob(info))
    cal = parse_components(b"BEGIN:VCALENDAR\r\n" + serialize(dz.vtimezone) + b"END:VCALENDAR\r\n")[0]
    zone = zones_of(cal)[dz.tzid]
    local = datetime(year, 1, 1) + timedelta(minutes=minute)
    epoch = int(local.replace(tzinfo=dz.tzinfo).timestamp())
    if dz.iana is None:  # an IANA match is read as that zone, right for this year only
        assert zone.epoch(local) == epoch


@pytest.mark.parametrize("name, bias, std_month, dst_month", [
    ("Europe/Berlin", -60, 10, 3), ("America/New_York", 300, 11, 3), ("Australia/Sydney", -600, 4, 10),
    ("Asia/Kolkata", -330, None, None), ("UTC", 0, None, None),
])
def test_known_zones(name, bias, std_month, dst_month):
    info = parse_blob(blob_from_zone(name, 2026))
    assert info.bias == bias
    assert (info.standard_date.month if info.standard_date else None) == std_month
    assert (info.daylight_date.month if info.daylight_date else None) == dst_month
    assert device_zone(blob_from_zone(name, 2026)).iana == name


def test_us_rule_of_2026():
    info = info_from_zone("America/New_York", 2026)
    assert info.daylight_date == Rule(3, 0, 2, 2, 0)  # 2nd Sunday of March, 02:00
    assert info.standard_date == Rule(11, 0, 1, 2, 0)  # 1st Sunday of November, 02:00
    assert info.daylight_bias == -60


def test_windows_names_find_the_iana_zone_by_rule():
    info = info_from_zone("Europe/Paris", 2026)
    foreign = TimeZoneInfo(info.bias, "W. Europe Standard Time", info.standard_date, 0,
                           "W. Europe Daylight Time", info.daylight_date, info.daylight_bias)
    dz = device_zone(build_blob(foreign), 2026)
    assert dz.iana == "Europe/Berlin"  # the first zone of that rule in COMMON_ZONES
    assert dz.vtimezone.value("TZID") == "Europe/Berlin"


def test_unmatched_rule_gets_a_name_no_iana_lookup_resolves():
    info = TimeZoneInfo(-61, "EST", Rule(1, 0, 1, 0, 0), 0, "x", Rule(7, 0, 1, 0, 0), -60)
    dz = device_zone(build_blob(info))
    assert dz.iana is None
    assert dz.tzid == "EST (EAS)"


def test_all_zero_blob_is_utc():
    blob = base64.b64encode(bytes(SIZE)).decode()
    assert device_zone(blob).iana == "UTC"


@pytest.mark.parametrize("blob", ["not base64!", base64.b64encode(b"short").decode(),
                                  base64.b64encode(bytes(4) + bytes(64) + b"\x00\x00\x0d\x00" + bytes(104)).decode()])
def test_bad_blobs(blob):
    with pytest.raises(ConversionError):
        parse_blob(blob)


def test_unknown_iana_name():
    with pytest.raises(ConversionError):
        blob_from_zone("Mars/Olympus_Mons", 2026)


def test_vtimezone_with_historic_observances_uses_the_one_in_force():
    text = (b"BEGIN:VTIMEZONE\r\nTZID:My Eastern\r\n"
            b"BEGIN:DAYLIGHT\r\nDTSTART:19870405T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z\r\n"
            b"TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n"
            b"BEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
            b"TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n"
            b"BEGIN:STANDARD\r\nDTSTART:19671029T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061029T060000Z\r\n"
            b"TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n"
            b"BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
            b"TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
    component = parse_components(text)[0]
    assert info_from_zone(component, 2005).daylight_date.month == 4
    assert info_from_zone(component, 2026).daylight_date == Rule(3, 0, 2, 2, 0)
    assert info_from_zone(component, 2026).rule_key() == info_from_zone("America/New_York", 2026).rule_key()
