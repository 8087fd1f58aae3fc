"""The EAS time-zone blob (MS-ASDTYPE 2.7, MS-ASCAL 2.2.2.42 Timezone) and iCalendar zones.

A device describes an event's zone as base64 of a Windows ``TIME_ZONE_INFORMATION``
(172 bytes): a bias, and for zones with daylight saving time the two yearly switches as
``SYSTEMTIME`` rules ("the 2nd Sunday of March at 02:00", week 5 meaning the last). That
is one year's rule only, so:

- ``blob_from_zone`` describes an IANA zone (or a VTIMEZONE) by its rule in a given year
  (the event's);
- ``device_zone`` / ``zone_from_blob`` turn a device's blob into a VTIMEZONE with the same
  rule, named after the IANA zone whose rule this year is the same when there is one (so
  CalDAV clients see a familiar TZID, and icaltime reads the event's times in that zone
  for every year), else after the blob's own standard name.

Local times follow RFC 5545 3.3.5 as icaltime and zoneinfo (fold=0) do: a time in a DST
gap takes the offset before it, an ambiguous one the first occurrence.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import re
import struct
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, serialize, unescape_text
from smsync.formats.icaltime import Zone, parse_time, zones_of
from smsync.protocols.eas.convert import ConversionError

#: Bytes of a TIME_ZONE_INFORMATION.
SIZE = 172
_LAYOUT = struct.Struct("<i64s8Hi64s8Hi")
assert _LAYOUT.size == SIZE
_MINUTE = timedelta(minutes=1)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # SYSTEMTIME wDayOfWeek order
#: Year of the DTSTART of the observances of a VTIMEZONE written from a blob.
VTIMEZONE_FROM_YEAR = 1970

#: Zones tried, in this order, to name a device's blob (the first whose rule this year
#: is the same wins): the most used zone of each rule first.
COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Berlin", "Europe/Paris",
    "Europe/Amsterdam", "Europe/Brussels", "Europe/Madrid", "Europe/Rome", "Europe/Vienna",
    "Europe/Zurich", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Warsaw",
    "Europe/Prague", "Europe/Budapest", "Europe/Athens", "Europe/Helsinki", "Europe/Kiev",
    "Europe/Bucharest", "Europe/Istanbul", "Europe/Moscow", "Africa/Lagos", "Africa/Cairo",
    "Africa/Johannesburg", "Africa/Nairobi", "Africa/Casablanca", "Asia/Jerusalem",
    "Asia/Dubai", "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Dhaka", "Asia/Bangkok", "Asia/Jakarta", "Asia/Shanghai", "Asia/Hong_Kong",
    "Asia/Singapore", "Asia/Taipei", "Asia/Manila", "Asia/Seoul", "Asia/Tokyo",
    "Australia/Perth", "Australia/Darwin", "Australia/Brisbane", "Australia/Adelaide",
    "Australia/Sydney", "Australia/Melbourne", "Australia/Hobart", "Pacific/Auckland",
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Phoenix",
    "America/Denver", "America/Chicago", "America/Mexico_City", "America/New_York",
    "America/Toronto", "America/Vancouver", "America/Bogota", "America/Lima",
    "America/Caracas", "America/Halifax", "America/Santiago", "America/St_Johns",
    "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "Atlantic/Azores",
    "Atlantic/Reykjavik",
)


@attrs.frozen
class Rule:
    """A SYSTEMTIME switch rule: with ``year`` 0 (the usual form) the ``day``-th
    (1-4, 5 = last) ``day_of_week`` (0 = Sunday) of ``month`` every year; otherwise the
    date ``year-month-day``. The time is the local wall-clock time before the switch."""

    month: int
    day_of_week: int
    day: int
    hour: int
    minute: int
    second: int = 0
    year: int = 0

    def local(self, year: int) -> datetime:
        """The switch's local wall-clock time in ``year`` (an absolute rule's date is
        taken as recurring on the same day)."""
        length = calendar.monthrange(year, self.month)[1]
        if self.year:
            day = min(self.day, length)
        else:
            first = (calendar.weekday(year, self.month, 1) + 1) % 7
            day = 1 + (self.day_of_week - first) % 7 + (self.day - 1) * 7
            while day > length:
                day -= 7
        return datetime(year, self.month, day, self.hour, self.minute, self.second)


@attrs.frozen
class TimeZoneInfo:
    """A decoded TIME_ZONE_INFORMATION. Biases are minutes with UTC = local + bias; the
    rules are None when the zone has no daylight saving time."""

    bias: int
    standard_name: str = ""
    standard_date: Optional[Rule] = None
    standard_bias: int = 0
    daylight_name: str = ""
    daylight_date: Optional[Rule] = None
    daylight_bias: int = 0

    @property
    def has_dst(self) -> bool:
        return self.standard_date is not None and self.daylight_date is not None

    @property
    def standard_offset(self) -> timedelta:
        return -(self.bias + self.standard_bias) * _MINUTE

    @property
    def daylight_offset(self) -> timedelta:
        return -(self.bias + self.daylight_bias) * _MINUTE if self.has_dst else self.standard_offset

    def rule_key(self) -> tuple:
        """What two blobs must share to describe the same local times (names aside)."""
        if not self.has_dst:
            return (self.standard_offset, None)
        return (self.standard_offset, self.daylight_offset,
                attrs.evolve(self.standard_date, year=0), attrs.evolve(self.daylight_date, year=0))


UTC_INFO = TimeZoneInfo(0)


# -- the blob ---------------------------------------------------------------------------


def _systemtime(fields) -> Optional[Rule]:
    year, month, dow, day, hour, minute, second, _millis = fields
    if month == 0:
        return None
    if not (1 <= month <= 12 and 0 <= dow <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59
            and 0 <= second <= 59 and 1 <= day <= (31 if year else 5)):
        raise ConversionError("Timezone with an invalid switch date")
    return Rule(month, dow, day, hour, minute, second, year)


def _systemtime_fields(rule: Optional[Rule]) -> tuple:
    if rule is None:
        return (0,) * 8
    return (rule.year, rule.month, rule.day_of_week, rule.day, rule.hour, rule.minute, rule.second, 0)


def _name(raw: bytes) -> str:
    text = raw.decode("utf-16-le", "replace")
    return text.split("\0", 1)[0]


def parse_blob(b64: str) -> TimeZoneInfo:
    """Decode a device's Timezone value.

    Raises:
        ConversionError: not base64 of at least 172 bytes, or switch dates that are no
            dates. A blob with only one of the two switch dates has no DST.
    """
    try:
        raw = base64.b64decode("".join((b64 or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConversionError("Timezone is not base64") from None
    if len(raw) < SIZE:
        raise ConversionError(f"Timezone of {len(raw)} bytes, not {SIZE}")
    fields = _LAYOUT.unpack(raw[:SIZE])
    bias, std_name = fields[0], _name(fields[1])
    std_date, std_bias = _systemtime(fields[2:10]), fields[10]
    dst_name, dst_date, dst_bias = _name(fields[11]), _systemtime(fields[12:20]), fields[20]
    if abs(bias) > 24 * 60 or abs(std_bias) > 24 * 60 or abs(dst_bias) > 24 * 60:
        raise ConversionError("Timezone bias out of range")
    if std_date is None or dst_date is None:
        std_date = dst_date = None
    return TimeZoneInfo(bias, std_name, std_date, std_bias, dst_name, dst_date, dst_bias)


def _encode_name(name: str) -> bytes:
    return name.encode("utf-16-le")[:62].decode("utf-16-le", "ignore").encode("utf-16-le")


@functools.lru_cache(maxsize=256)
def build_blob(info: TimeZoneInfo) -> str:
    """The base64 Timezone value of ``info`` (names cut to 31 UTF-16 units)."""
    raw = _LAYOUT.pack(info.bias, _encode_name(info.standard_name),
                       *_systemtime_fields(info.standard_date), info.standard_bias,
                       _encode_name(info.daylight_name), *_systemtime_fields(info.daylight_date),
                       info.daylight_bias)
    return base64.b64encode(raw).decode("ascii")


# -- a blob as a tzinfo -----------------------------------------------------------------


class BlobZone(tzinfo):
    """A ``tzinfo`` applying a blob's rule to every year (what a device does)."""

    def __init__(self, info: TimeZoneInfo):
        self.info = info

    def __repr__(self) -> str:
        return f"BlobZone({self.info!r})"

    def _in_dst_local(self, local: datetime) -> bool:
        info = self.info
        if not info.has_dst:
            return False
        gap = max(info.daylight_offset - info.standard_offset, timedelta(0))
        start = info.daylight_date.local(local.year) + gap  # times in the gap: standard
        end = info.standard_date.local(local.year)  # ambiguous times: daylight
        if start <= end:
            return start <= local < end
        return local < end or local >= start

    def utcoffset(self, dt: Optional[datetime]) -> timedelta:
        if dt is None:
            return self.info.standard_offset
        local = dt.replace(tzinfo=None)
        return self.info.daylight_offset if self._in_dst_local(local) else self.info.standard_offset

    def dst(self, dt: Optional[datetime]) -> timedelta:
        return self.utcoffset(dt) - self.info.standard_offset

    def tzname(self, dt: Optional[datetime]) -> str:
        return self.info.standard_name or "EAS"

    def fromutc(self, dt: datetime) -> datetime:
        info = self.info
        utc = dt.replace(tzinfo=None)
        offset = info.standard_offset
        if info.has_dst:
            year = (utc + info.standard_offset).year
            start = info.daylight_date.local(year) - info.standard_offset
            end = info.standard_date.local(year) - info.daylight_offset
            dst = start <= utc < end if start <= end else (utc < end or utc >= start)
            if dst:
                offset = info.daylight_offset
        return (utc + offset).replace(tzinfo=self)


# -- zones to blobs ---------------------------------------------------------------------


def _offset_function(zone):
    """``local naive datetime -> UTC offset`` of a ZoneInfo or an icaltime Zone."""
    if isinstance(zone, tzinfo):
        return lambda local: zone.utcoffset(local.replace(tzinfo=zone))
    epoch = datetime(1970, 1, 1)
    return lambda local: (local - epoch) - timedelta(seconds=zone.epoch(local))


def _rule_at(local: datetime) -> Rule:
    length = calendar.monthrange(local.year, local.month)[1]
    week = 5 if local.day + 7 > length else (local.day - 1) // 7 + 1
    return Rule(local.month, (local.weekday() + 1) % 7, week, local.hour, local.minute, local.second)


def _scan(offset_of, year: int, name: str) -> TimeZoneInfo:
    """The blob of a zone given as an offset function, from its switches in ``year``."""
    year = min(max(year, 2), 9997)
    day = datetime(year, 1, 1)
    end = datetime(year + 1, 1, 1)
    before = offset_of(day)
    switches = []  # (local wall time before the switch, offset before, offset after)
    while day < end:
        nxt = day + timedelta(days=1)
        after = offset_of(nxt)
        if after != before:
            lo, hi = day, nxt  # offset_of(lo) == before, offset_of(hi) != before
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    break
                if offset_of(mid) == before:
                    lo = mid
                else:
                    hi = mid
            # Forward switches are seen at the end of their gap (gap times keep the old
            # offset); the rule names the wall time at which the gap begins.
            gap = max(after - before, timedelta(0))
            switches.append((hi - gap, before, after))
        before = after
        day = nxt
    ups = [s for s in switches if s[2] > s[1]]
    downs = [s for s in switches if s[2] < s[1]]
    if len(ups) == 1 and len(downs) == 1 and ups[0][1] == downs[0][2] and ups[0][2] == downs[0][1]:
        std, dst = ups[0][1], ups[0][2]
        bias = -int(std // _MINUTE)
        return TimeZoneInfo(bias, name, _rule_at(downs[0][0]), 0, name,
                            _rule_at(ups[0][0]), -int((dst - std) // _MINUTE))
    return TimeZoneInfo(-int(offset_of(datetime(year, 12, 31, 12)) // _MINUTE), name, None, 0, "", None, 0)


def _iana_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConversionError(f"unknown time zone {name!r}"[:80]) from None


@functools.lru_cache(maxsize=1024)
def _iana_info(name: str, year: int) -> TimeZoneInfo:
    return _scan(_offset_function(_iana_zone(name)), year, name[:31])


_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})(\d{2})?$")


def _offset(text: Optional[str]) -> timedelta:
    match = _OFFSET.match((text or "").strip())
    if match is None:
        raise ConversionError(f"VTIMEZONE with a bad UTC offset {text!r}"[:80])
    value = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)), seconds=int(match.group(4) or 0))
    return -value if match.group(1) == "-" else value


def _observance_rule(obs: Component, year: int) -> Optional[tuple[Rule, datetime]]:
    """The Rule of a STANDARD/DAYLIGHT observance in force in ``year`` (None: not in
    force then), or raise ValueError when it is not of the yearly nth-weekday form."""
    start = parse_time(obs.value("DTSTART") or "", None).local
    if start.year > year:
        return None
    rrule = obs.value("RRULE")
    if rrule is None:
        if obs.get("RDATE") is not None:
            raise ValueError("RDATE observance")
        return Rule(start.month, (start.weekday() + 1) % 7, start.day, start.hour, start.minute,
                    start.second, start.year), start
    parts = dict(p.partition("=")[::2] for p in rrule.upper().split(";") if p)
    if "UNTIL" in parts and parse_time(parts.pop("UNTIL"), None).local.year < year:
        return None
    if set(parts) - {"FREQ", "BYMONTH", "BYDAY", "INTERVAL", "WKST"} or parts.get("FREQ") != "YEARLY":
        raise ValueError("not a yearly rule")
    if parts.get("INTERVAL", "1") != "1" or "," in parts.get("BYMONTH", "") or "," in parts.get("BYDAY", ","):
        raise ValueError("not a simple yearly rule")
    match = re.match(r"^([+-]?\d)?(SU|MO|TU|WE|TH|FR|SA)$", parts["BYDAY"])
    if match is None:
        raise ValueError("not an nth-weekday rule")
    nth = int(match.group(1) or 0)
    if nth == -1:
        nth = 5
    if not 1 <= nth <= 5:
        raise ValueError("not an nth-weekday rule")
    month = int(parts.get("BYMONTH") or start.month)
    return Rule(month, _DAYS.index(match.group(2)), nth, start.hour, start.minute, start.second), start


def _names(obs: Component) -> str:
    name = obs.value("TZNAME")
    return unescape_text(name) if name is not None else ""


def _vtimezone_info(comp: Component, year: int) -> TimeZoneInfo:
    """A VTIMEZONE's rule in ``year``: read from its observances when they have the
    yearly form a blob has (exact, names kept), else by scanning the zone it defines."""
    # Keyed by its text: every event of a calendar repeats the same VTIMEZONE.
    key = (serialize(comp), year)
    info = _VTIMEZONE_INFO.get(key)
    if info is None:
        if len(_VTIMEZONE_INFO) >= 256:
            _VTIMEZONE_INFO.clear()
        info = _VTIMEZONE_INFO[key] = _read_vtimezone_info(comp, year)
    return info


_VTIMEZONE_INFO: dict[tuple[bytes, int], TimeZoneInfo] = {}


def _read_vtimezone_info(comp: Component, year: int) -> TimeZoneInfo:
    tzid = unescape_text(comp.value("TZID") or "")
    try:
        chosen: dict[str, tuple] = {}
        for obs in comp.components:
            if obs.name not in ("STANDARD", "DAYLIGHT"):
                continue
            found = _observance_rule(obs, year)
            if found is None:
                continue
            rule, start = found
            if rule.year and rule.year != year and obs.name == "DAYLIGHT":
                continue  # a one-time DST switch of another year
            if obs.name not in chosen or start >= chosen[obs.name][1]:
                chosen[obs.name] = (rule, start, obs)
        if "STANDARD" not in chosen:
            raise ValueError("no STANDARD observance in force")
        std_rule, _, std_obs = chosen["STANDARD"]
        std = _offset(std_obs.value("TZOFFSETTO"))
        bias = -int(std // _MINUTE)
        if "DAYLIGHT" not in chosen or (std_rule.year and std_rule.year != year):
            return TimeZoneInfo(bias, _names(std_obs)[:31])
        dst_rule, _, dst_obs = chosen["DAYLIGHT"]
        dst = _offset(dst_obs.value("TZOFFSETTO"))
        return TimeZoneInfo(bias, _names(std_obs)[:31], std_rule, 0,
                            _names(dst_obs)[:31], dst_rule, -int((dst - std) // _MINUTE))
    except (ValueError, InvalidData, KeyError):
        pass
    try:
        wrapper = Component("VCALENDAR", [], [comp])
        zone = zones_of(wrapper)[comp.value("TZID").strip()]
    except (InvalidData, AttributeError, KeyError) as e:
        raise ConversionError(f"unreadable VTIMEZONE: {e}"[:80]) from None
    return _scan(_offset_function(zone), year, tzid[:31])


ZoneLike = Union[str, ZoneInfo, Component, Zone, TimeZoneInfo]


def info_from_zone(zone: ZoneLike, year: int) -> TimeZoneInfo:
    """The TimeZoneInfo of ``zone`` in ``year``: an IANA name or ZoneInfo (its switches
    that year), a VTIMEZONE component, an icaltime Zone, or a TimeZoneInfo (as is)."""
    if isinstance(zone, TimeZoneInfo):
        return zone
    if isinstance(zone, str):
        return _iana_info(zone.strip(), year)
    if isinstance(zone, ZoneInfo):
        return _iana_info(zone.key, year)
    if isinstance(zone, Component):
        if zone.name != "VTIMEZONE":
            raise ConversionError(f"{zone.name} is not a VTIMEZONE")
        return _vtimezone_info(zone, year)
    if isinstance(zone, Zone):
        info = getattr(zone, "info", None)  # an icaltime IanaZone
        if isinstance(info, ZoneInfo):
            return _iana_info(info.key, year)
        if type(zone) is Zone:
            return UTC_INFO
        return _scan(_offset_function(zone), year, zone.name[:31])
    raise TypeError(f"not a zone: {zone!r}")


def blob_from_zone(zone: ZoneLike, year: int) -> str:
    """The base64 Timezone value describing ``zone`` in ``year`` (see ``info_from_zone``).

    Raises:
        ConversionError: an unknown IANA name or an unreadable VTIMEZONE.
    """
    return build_blob(info_from_zone(zone, year))


# -- blobs to zones ---------------------------------------------------------------------


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    text = f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"
    return text + (f"{seconds % 60:02d}" if seconds % 60 else "")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _observance(kind: str, rule: Optional[Rule], before: timedelta, after: timedelta, name: str) -> Component:
    props = []
    if rule is None:
        start = datetime(VTIMEZONE_FROM_YEAR, 1, 1)
    elif rule.year:
        start = rule.local(rule.year)
    else:
        start = rule.local(VTIMEZONE_FROM_YEAR)
    props.append(Property("DTSTART", start.strftime("%Y%m%dT%H%M%S")))
    if rule is not None and not rule.year:
        nth = -1 if rule.day == 5 else rule.day
        props.append(Property("RRULE", f"FREQ=YEARLY;BYMONTH={rule.month};BYDAY={nth}{_DAYS[rule.day_of_week]}"))
    props.append(Property("TZOFFSETFROM", _format_offset(before)))
    props.append(Property("TZOFFSETTO", _format_offset(after)))
    if name:
        props.append(Property("TZNAME", _escape(name)))
    return Component(kind, props)


def vtimezone(info: TimeZoneInfo, tzid: str) -> Component:
    """A VTIMEZONE named ``tzid`` with ``info``'s rule from 1970 on."""
    props = [Property("TZID", _escape(tzid))]
    std, dst = info.standard_offset, info.daylight_offset
    if not info.has_dst:
        return Component("VTIMEZONE", props, [_observance("STANDARD", None, std, std, info.standard_name)])
    return Component("VTIMEZONE", props, [
        _observance("STANDARD", info.standard_date, dst, std, info.standard_name),
        _observance("DAYLIGHT", info.daylight_date, std, dst, info.daylight_name),
    ])


@functools.lru_cache(maxsize=4)
def _common_rules(year: int) -> dict:
    table: dict = {}
    for name in COMMON_ZONES:
        try:
            table.setdefault(_iana_info(name, year).rule_key(), name)
        except ConversionError:
            continue
    return table


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False


def iana_name(info: TimeZoneInfo, year: Optional[int] = None) -> Optional[str]:
    """The IANA zone whose rule in ``year`` (default: this year) is ``info``'s: its
    standard name when that is one (our own blobs carry it), else the first of
    ``COMMON_ZONES``, else a fixed ``Etc/GMT`` zone for whole-hour zones without DST."""
    if year is None:
        year = datetime.now(timezone.utc).year
    key = info.rule_key()
    hint = info.standard_name.strip()
    if (hint and "/" in hint) or hint == "UTC":
        try:
            if _iana_info(hint, year).rule_key() == key:
                return hint
        except ConversionError:
            pass
    name = _common_rules(year).get(key)
    if name is not None:
        return name
    if not info.has_dst and info.standard_bias == 0 and info.bias % 60 == 0 and abs(info.bias) <= 12 * 60:
        hours = info.bias // 60
        return "UTC" if hours == 0 else f"Etc/GMT{hours:+d}"  # Etc/GMT+5 is UTC-5
    return None


@attrs.frozen
class DeviceZone:
    """A device's zone: the TZID to write, its VTIMEZONE, the matching IANA zone (or
    None) and a ``tzinfo`` to turn UTC times into local ones -- the IANA zone when there
    is one, since that is how icaltime will read the TZID back."""

    tzid: str
    iana: Optional[str]
    vtimezone: Component = attrs.field(eq=False)
    tzinfo: tzinfo = attrs.field(eq=False)
    info: TimeZoneInfo = attrs.field(eq=False)


def _synthetic_tzid(info: TimeZoneInfo) -> str:
    # Never a name icaltime would resolve as an IANA zone, whose rules could differ.
    name = re.sub(r"[^\w .()+-]", "-", info.standard_name).strip(" -")
    if not name:
        minutes = int(info.standard_offset // _MINUTE)
        sign = "-" if minutes < 0 else "+"
        name = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}" + (" DST" if info.has_dst else "")
    if _loads(name) or _loads(name.split(" ")[-1]):
        name += " (EAS)"
    return name


def device_zone(b64: str, year: Optional[int] = None) -> DeviceZone:
    """The zone a device's Timezone value describes (see ``DeviceZone``).

    Raises:
        ConversionError: see ``parse_blob``.
    """
    info = parse_blob(b64)
    name = iana_name(info, year)
    tzid = name or _synthetic_tzid(info)
    return DeviceZone(tzid, name, vtimezone(info, tzid), ZoneInfo(name) if name else BlobZone(info), info)


def zone_from_blob(b64: str) -> Component:
    """A VTIMEZONE for a device's Timezone value, its TZID the IANA zone of the same
    rule this year when there is one (see ``iana_name``).

    Raises:
        ConversionError: see ``parse_blob``.
    """
    return device_zone(b64).vtimezone
