"""Yearly time-zone rules: a zone described, as Windows and vCalendar 1.0 describe it,
by its standard offset and, with daylight saving time, the two yearly switches ("the
last Sunday of March at 02:00").

That is one year's rule only, so a zone (an IANA name, a VTIMEZONE, an icaltime Zone)
is described by its rule in a given year (``info_from_zone``); ``iana_name`` finds the
IANA zone whose rule that year is the same one; ``vtimezone`` writes a rule as a
VTIMEZONE; ``RuleZone`` applies it to every year as a ``tzinfo``. EAS's Timezone blob
(``smsync.protocols.eas.timezone``) and vCalendar 1.0's TZ/DAYLIGHT are written from and
read into these.

Local times follow RFC 5545 3.3.5 as icaltime and zoneinfo (fold=0) do: a time in a DST
gap takes the offset before it, an ambiguous one the first occurrence. Errors are
``InvalidData``.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, serialize, unescape_text
from smsync.formats.icaltime import Zone, parse_time, zones_of

_MINUTE = timedelta(minutes=1)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # SYSTEMTIME wDayOfWeek order

#: Year of the DTSTART of the observances of a VTIMEZONE written from a rule.
VTIMEZONE_FROM_YEAR = 1970

#: Zones tried, in this order, to name a device's rule (the first whose rule this year
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
        """What two rules must share to describe the same local times (names aside)."""
        if not self.has_dst:
            return (self.standard_offset, None)
        return (self.standard_offset, self.daylight_offset,
                attrs.evolve(self.standard_date, year=0), attrs.evolve(self.daylight_date, year=0))


UTC_INFO = TimeZoneInfo(0)


# -- a rule as a tzinfo ----------------------------------------------------------------


class RuleZone(tzinfo):
    """A ``tzinfo`` applying a rule to every year (what a device does)."""

    def __init__(self, info: TimeZoneInfo):
        self.info = info

    def __repr__(self) -> str:
        return f"RuleZone({self.info!r})"

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
        return self.info.standard_name or "device"

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



# -- zones to rules ---------------------------------------------------------------------


def _offset_function(zone):
    """``local naive datetime -> UTC offset`` of a ZoneInfo or an icaltime Zone."""
    if isinstance(zone, tzinfo):
        return lambda local: zone.utcoffset(local.replace(tzinfo=zone))
    epoch = datetime(1970, 1, 1)
    return lambda local: (local - epoch) - timedelta(seconds=zone.epoch(local))


def rule_at(local: datetime) -> Rule:
    """The yearly rule (month, nth weekday, wall time) that falls on ``local``."""
    length = calendar.monthrange(local.year, local.month)[1]
    week = 5 if local.day + 7 > length else (local.day - 1) // 7 + 1
    return Rule(local.month, (local.weekday() + 1) % 7, week, local.hour, local.minute, local.second)


def _scan(offset_of, year: int, name: str) -> TimeZoneInfo:
    """The rule of a zone given as an offset function, from its switches in ``year``."""
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
        return TimeZoneInfo(bias, name, rule_at(downs[0][0]), 0, name,
                            rule_at(ups[0][0]), -int((dst - std) // _MINUTE))
    return TimeZoneInfo(-int(offset_of(datetime(year, 12, 31, 12)) // _MINUTE), name, None, 0, "", None, 0)


def _iana_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidData(f"unknown time zone {name!r}"[:80]) from None


@functools.lru_cache(maxsize=1024)
def iana_info(name: str, year: int) -> TimeZoneInfo:
    return _scan(_offset_function(_iana_zone(name)), year, name[:31])


_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})(\d{2})?$")


def _offset(text: Optional[str]) -> timedelta:
    match = _OFFSET.match((text or "").strip())
    if match is None:
        raise InvalidData(f"VTIMEZONE with a bad UTC offset {text!r}"[:80])
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
    yearly form a rule has (exact, names kept), else by scanning the zone it defines."""
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
        raise InvalidData(f"unreadable VTIMEZONE: {e}"[:80]) from None
    return _scan(_offset_function(zone), year, tzid[:31])


ZoneLike = Union[str, ZoneInfo, Component, Zone, TimeZoneInfo]


def info_from_zone(zone: ZoneLike, year: int) -> TimeZoneInfo:
    """The TimeZoneInfo of ``zone`` in ``year``: an IANA name or ZoneInfo (its switches
    that year), a VTIMEZONE component, an icaltime Zone, or a TimeZoneInfo (as is)."""
    if isinstance(zone, TimeZoneInfo):
        return zone
    if isinstance(zone, str):
        return iana_info(zone.strip(), year)
    if isinstance(zone, ZoneInfo):
        return iana_info(zone.key, year)
    if isinstance(zone, Component):
        if zone.name != "VTIMEZONE":
            raise InvalidData(f"{zone.name} is not a VTIMEZONE")
        return _vtimezone_info(zone, year)
    if isinstance(zone, Zone):
        info = getattr(zone, "info", None)  # an icaltime IanaZone
        if isinstance(info, ZoneInfo):
            return iana_info(info.key, year)
        if type(zone) is Zone:
            return UTC_INFO
        return _scan(_offset_function(zone), year, zone.name[:31])
    raise TypeError(f"not a zone: {zone!r}")



# -- rules to zones ---------------------------------------------------------------------


def format_offset(offset: timedelta) -> str:
    """A UTC offset as RFC 5545 writes it (``+0100``, ``-0930``)."""
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
    props.append(Property("TZOFFSETFROM", format_offset(before)))
    props.append(Property("TZOFFSETTO", format_offset(after)))
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
            table.setdefault(iana_info(name, year).rule_key(), name)
        except InvalidData:
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
    standard name when that is one (our own rules carry it), else the first of
    ``COMMON_ZONES``, else a fixed ``Etc/GMT`` zone for whole-hour zones without DST."""
    if year is None:
        year = datetime.now(timezone.utc).year
    key = info.rule_key()
    hint = info.standard_name.strip()
    if (hint and "/" in hint) or hint == "UTC":
        try:
            if iana_info(hint, year).rule_key() == key:
                return hint
        except InvalidData:
            pass
    name = _common_rules(year).get(key)
    if name is not None:
        return name
    if not info.has_dst and info.standard_bias == 0 and info.bias % 60 == 0 and abs(info.bias) <= 12 * 60:
        hours = info.bias // 60
        return "UTC" if hours == 0 else f"Etc/GMT{hours:+d}"  # Etc/GMT+5 is UTC-5
    return None


def synthetic_tzid(info: TimeZoneInfo, suffix: str) -> str:
    """A TZID for a rule no IANA zone has: its standard name, or its offset; never a
    name icaltime resolves as an IANA zone (``suffix`` is added to one that is)."""
    # Never a name icaltime would resolve as an IANA zone, whose rules could differ.
    name = re.sub(r"[^\w .()+-]", "-", info.standard_name).strip(" -")
    if not name:
        minutes = int(info.standard_offset // _MINUTE)
        sign = "-" if minutes < 0 else "+"
        name = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}" + (" DST" if info.has_dst else "")
    if _loads(name) or _loads(name.split(" ")[-1]):
        name += f" ({suffix})"
    return name

