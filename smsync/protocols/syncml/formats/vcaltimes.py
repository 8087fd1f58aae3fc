"""vCalendar 1.0 times and zones: a device's date, local time or UTC instant
(``Moment``), the zone its ``TZ`` and ``DAYLIGHT`` describe (``device_rule``), and the
``Frame`` that turns a device's times into the stored item's (``frame_for``).

A stored item's zone is kept when the device's agrees with it (same offsets; a phone
sending only the offset it is at now agrees with a zone that has it in some season);
otherwise the IANA zone with the device's rule this year is used (else a VTIMEZONE of
that rule, ``zonerules``); with no TZ, UTC times stay UTC and local ones floating.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, split_raw, unescape_text
from smsync.formats.icaltime import zones_of
from smsync.formats.zonerules import (
    RuleZone,
    TimeZoneInfo,
    iana_name,
    info_from_zone,
    rule_at,
    synthetic_tzid,
    vtimezone,
)
from smsync.protocols.syncml.formats.calendars import StoredZone, to_local
from smsync.protocols.syncml.formats.support import decode_value

_EPOCH = datetime(1970, 1, 1)
TIME = re.compile(r"^(\d{8})(?:T(\d{4,6}))?(Z)?$")


@attrs.frozen
class Moment:
    """A device time: a date, a floating wall-clock time, or an instant (UTC epoch)."""

    kind: str  # "date", "floating", "instant"
    local: datetime  # the date or wall-clock time (for instants: UTC)

    @property
    def epoch(self) -> int:
        return (self.local - _EPOCH) // timedelta(seconds=1)


def moment(text: str) -> Moment:
    """A device's time value (basic or extended ISO 8601); ``InvalidData`` otherwise."""
    value = text.strip().replace("-", "").replace(":", "")
    m = TIME.match(value)
    if m is None:
        raise InvalidData(f"bad vCalendar time {text[:40]!r}")
    day, clock, z = m.groups()
    try:
        if clock is None:
            return Moment("date", datetime.strptime(day, "%Y%m%d"))
        when = datetime.strptime(day + clock.ljust(6, "0"), "%Y%m%d%H%M%S")
    except ValueError:
        raise InvalidData(f"bad vCalendar time {text[:40]!r}") from None
    return Moment("instant" if z else "floating", when)


def _offset(text: str) -> timedelta:
    m = re.match(r"^([+-]?)(\d{1,2})(?::?(\d{2}))?$", text.strip())
    if m is None:
        raise InvalidData(f"bad vCalendar UTC offset {text[:20]!r}")
    sign, hours, minutes = m.groups()
    value = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if value > timedelta(hours=15):
        raise InvalidData(f"bad vCalendar UTC offset {text[:20]!r}")
    return -value if sign == "-" else value


def write_offset(offset: timedelta) -> str:
    """A UTC offset as vCalendar writes it (``+01:00``)."""
    minutes = int(offset // timedelta(minutes=1))
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def device_rule(vcal: Component, year: int) -> Optional[TimeZoneInfo]:
    """The zone a vCalendar's TZ and DAYLIGHT describe in ``year`` (None without TZ)."""
    tz = vcal.value("TZ")
    if tz is None or not tz.strip():
        return None
    std = _offset(tz)
    bias = -int(std // timedelta(minutes=1))
    chosen = None
    for prop in vcal.get_all("DAYLIGHT"):
        parts = split_raw(prop.value, ";")
        if not parts or parts[0].strip().upper() not in ("TRUE", "1"):
            continue
        if len(parts) < 4:
            raise InvalidData("DAYLIGHT:TRUE without offset, start and end")
        start, end = moment(parts[2]), moment(parts[3])
        if chosen is None or start.local.year == year:
            chosen = (parts, start, end)
    if chosen is None:
        return TimeZoneInfo(bias)
    parts, start, end = chosen
    dst = _offset(parts[1])
    if dst == std:
        return TimeZoneInfo(bias)
    # The switch times as the wall clock shows them just before each switch.
    begin = start.local + std if start.kind == "instant" else start.local
    finish = end.local + dst if end.kind == "instant" else end.local
    names = [unescape_text(p).strip() for p in parts[4:6]] + ["", ""]
    return TimeZoneInfo(bias, names[0][:31], rule_at(finish), 0, names[1][:31], rule_at(begin),
                        -int((dst - std) // timedelta(minutes=1)))


def _agrees(stored: StoredZone, rule: TimeZoneInfo, year: int) -> bool:
    try:
        info = info_from_zone(stored.vtimezone if stored.vtimezone is not None else stored.tzid, year)
    except InvalidData:
        return False
    if not rule.has_dst:
        # A phone that sends only the offset it is at now (TZ:+02 in summer, no
        # DAYLIGHT) agrees with a zone that has that offset in some season.
        return rule.standard_offset in (info.standard_offset, info.daylight_offset)
    return (info.has_dst and info.standard_offset == rule.standard_offset
            and info.daylight_offset == rule.daylight_offset)


@attrs.define
class Frame:
    """How a device item's times become iCalendar values: the zone they are stored in
    (``target``), and the device's own zone for its local times (``device``)."""

    target: Optional[StoredZone]
    device: Optional[TimeZoneInfo]
    vtimezones: list = attrs.field(factory=list)

    def instant(self, m: Moment) -> Optional[int]:
        """The UTC epoch of a device time (None for floating times without a zone)."""
        if m.kind == "instant":
            return m.epoch
        if m.kind == "floating" and self.device is not None:
            offset = RuleZone(self.device).utcoffset(m.local)
            return m.epoch - int(offset // timedelta(seconds=1))
        if m.kind == "floating" and self.target is not None:
            return self.target.zone.epoch(m.local)
        return None

    def shape(self, m: Moment) -> str:
        """``date``, ``zone``, ``utc`` or ``floating``: how a DTSTART like ``m`` is stored."""
        if m.kind == "date":
            return "date"
        if self.instant(m) is None:
            return "floating"
        return "zone" if self.target is not None else "utc"

    def value(self, m: Moment, shape: str) -> tuple[str, list]:
        """A device time as a value in ``shape`` and its parameters."""
        if shape == "date":
            return m.local.strftime("%Y%m%d"), [("VALUE", ["DATE"])]
        if m.kind == "date":
            m = Moment("floating", m.local)
        epoch = self.instant(m)
        if shape == "floating" or epoch is None:
            return m.local.strftime("%Y%m%dT%H%M%S"), []
        if shape == "zone":
            return to_local(self.target.zone, epoch).strftime("%Y%m%dT%H%M%S"), [("TZID", [self.target.tzid])]
        return (_EPOCH + timedelta(seconds=epoch)).strftime("%Y%m%dT%H%M%SZ"), []

    def utc(self, m: Moment) -> str:
        epoch = self.instant(m)
        when = m.local if epoch is None else _EPOCH + timedelta(seconds=epoch)
        return when.strftime("%Y%m%dT%H%M%SZ")


def frame_for(vcal: Component, item: Component, stored: Optional[StoredZone]) -> Frame:
    """The frame for a device's item ``item`` of ``vcal``, replacing one in ``stored`` (or None)."""
    start = item.get("DTSTART") or item.get("DUE")
    year = datetime.now(timezone.utc).year
    if start is not None:
        try:
            year = moment(decode_value(Property(start.name, start.value, list(start.params)))).local.year
        except InvalidData:
            pass
    rule = device_rule(vcal, year)
    if stored is not None and (rule is None or _agrees(stored, rule, year)):
        return Frame(stored, rule, [stored.vtimezone] if stored.vtimezone is not None else [])
    if rule is None:
        return Frame(None, None)
    if not rule.has_dst and rule.standard_offset == timedelta(0):
        return Frame(None, rule)
    name = iana_name(rule, year)
    tzid = name or synthetic_tzid(rule, "vCalendar")
    comp = vtimezone(rule, tzid)
    zone = zones_of(Component("VCALENDAR", [], [comp]))[tzid]
    return Frame(StoredZone(tzid, zone, comp), rule, [comp])



def epoch_of(frame: Frame, m: Moment) -> int:
    """A device time as epoch seconds: its instant, or (floating with no zone to read it
    in) its wall-clock time taken as UTC, consistently for an item's times."""
    epoch = frame.instant(m)
    return m.epoch if epoch is None else epoch

