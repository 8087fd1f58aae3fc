"""iCalendar time values (RFC 5545 3.3): DATE, DATE-TIME, DURATION, PERIOD, and the
time zones they refer to (IANA names through zoneinfo, or the data's own VTIMEZONE).

Times are handled as *local wall-clock* naive datetimes plus a ``Zone`` that turns them
into UTC epoch seconds; recurrence rules are expanded on wall-clock times (so a weekly
10:00 meeting stays at 10:00 across DST) and only then converted.
"""

from __future__ import annotations

import bisect
import functools
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil import rrule as du

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize

_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
#: VTIMEZONE rules are expanded up to this year; later times use the last offset.
VTIMEZONE_LAST_YEAR = 2100
#: Most transitions one VTIMEZONE may have. Real ones change twice a year (an Outlook
#: zone from 1601 to ``VTIMEZONE_LAST_YEAR`` has about 1,000); a FREQ=MINUTELY
#: observance would otherwise be expanded into millions on the reactor thread.
MAX_TRANSITIONS = 10_000


class Zone:
    """Turns local wall-clock times into UTC epoch seconds. The base class is UTC, which
    is also how floating times and DATE values are taken."""

    name = "UTC"

    def epoch(self, local: datetime) -> int:
        return (local - _EPOCH) // _SECOND


UTC = Zone()


class IanaZone(Zone):
    def __init__(self, info: ZoneInfo):
        self.info = info
        self.name = info.key

    def epoch(self, local: datetime) -> int:
        # fold=0: ambiguous times are the first occurrence and times in a DST gap use
        # the offset before it, which is what RFC 5545 3.3.5 prescribes.
        return (local - _EPOCH) // _SECOND - self.info.utcoffset(local) // _SECOND


class TransitionZone(Zone):
    """A zone built from a VTIMEZONE: sorted onsets in local (pre-transition) time."""

    def __init__(self, name: str, onsets: list[tuple[datetime, int, int]]):
        self.name = name
        onsets.sort()
        self._local = [o[0] for o in onsets]
        self._from = [o[1] for o in onsets]
        self._to = [o[2] for o in onsets]

    def epoch(self, local: datetime) -> int:
        i = bisect.bisect_right(self._local, local) - 1
        if i < 0:
            offset = self._from[0] if self._from else 0
        else:
            offset = self._to[i]
            gap = self._to[i] - self._from[i]
            if gap > 0 and local < self._local[i] + timedelta(seconds=gap):
                offset = self._from[i]  # inside a DST gap: the offset before it
        return (local - _EPOCH) // _SECOND - offset


class Time:
    """A DATE or DATE-TIME value: wall-clock ``local`` in ``zone`` (UTC for ``Z``,
    floating and DATE values). A plain slotted class: recurrence expansion makes
    thousands of these."""

    __slots__ = ("local", "zone", "is_date", "_epoch")

    def __init__(self, local: datetime, zone: Zone, is_date: bool = False, epoch: int | None = None):
        self.local = local
        self.zone = zone
        self.is_date = is_date
        self._epoch = epoch

    @property
    def epoch(self) -> int:
        if self._epoch is None:
            self._epoch = self.zone.epoch(self.local)
        return self._epoch

    def __repr__(self) -> str:
        return f"Time({self.local!r}, {self.zone.name}, is_date={self.is_date})"


_DT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")


def parse_time(text: str, zone: Zone | None, want_date: bool | None = None) -> Time:
    """Parse ``YYYYMMDD`` or ``YYYYMMDDTHHMMSS[Z]``. ``zone`` is the TZID's zone (None:
    floating, taken as UTC). ``InvalidData`` for anything else."""
    m = _DT_RE.match(text.strip())
    if not m:
        raise InvalidData(f"bad DATE/DATE-TIME value {text!r}")
    y, mo, d, hh, mm, ss, z = m.groups()
    try:
        if hh is None:
            return Time(datetime(int(y), int(mo), int(d)), UTC, True)
        local = datetime(int(y), int(mo), int(d), int(hh), int(mm), min(int(ss), 59))
    except ValueError:
        raise InvalidData(f"bad DATE/DATE-TIME value {text!r}") from None
    return Time(local, UTC if z or zone is None else zone, False)


_DUR_RE = re.compile(r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@attrs.frozen
class Duration:
    """A DURATION: ``days`` are nominal (wall-clock days), ``seconds`` exact."""

    days: int
    seconds: int

    @property
    def total(self) -> int:
        return self.days * 86400 + self.seconds

    def end_epoch(self, start: "Time", start_epoch: int | None = None) -> int:
        """Epoch of ``start`` plus this duration (nominal days on the wall clock)."""
        if self.days:
            return start.zone.epoch(start.local + timedelta(days=self.days)) + self.seconds
        return (start.epoch if start_epoch is None else start_epoch) + self.seconds


def parse_duration(text: str) -> Duration:
    m = _DUR_RE.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "+P", "-P") or text.strip().upper().endswith("T"):
        raise InvalidData(f"bad DURATION {text!r}")
    sign, w, d, h, mi, s = m.groups()
    days = int(w or 0) * 7 + int(d or 0)
    seconds = int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)
    if sign == "-":
        days, seconds = -days, -seconds
    return Duration(days, seconds)


# ---------------------------------------------------------------------------------------
# Zones


@functools.lru_cache(maxsize=512)
def _iana(name: str) -> Zone | None:
    # Cached, misses included: a calendar whose TZIDs are not IANA names (Outlook's
    # "W. Europe Standard Time") would otherwise look in tzdata for them in every item.
    name = name.strip().strip('"')
    candidates = [name]
    if "/" in name:
        # e.g. /mozilla.org/20050126_1/Europe/Berlin or /softwarestudio.org/.../Europe/Paris
        bits = [b for b in name.split("/") if b]
        candidates += ["/".join(bits[-3:]), "/".join(bits[-2:]), bits[-1]]
    for cand in candidates:
        if not cand or ".." in cand or cand.startswith("/"):
            continue
        try:
            return _zoneinfo(cand)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return None


@functools.lru_cache(maxsize=512)
def _zoneinfo(name: str) -> Zone:
    return IanaZone(ZoneInfo(name))


def _parse_offset(text: str | None) -> int:
    m = re.match(r"^([+-])(\d{2})(\d{2})(\d{2})?$", (text or "").strip())
    if not m:
        raise InvalidData(f"bad UTC offset {text!r}")
    value = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4) or 0)
    return -value if m.group(1) == "-" else value


@functools.lru_cache(maxsize=256)
def _vtimezone_zone(key: str) -> Zone:
    """Build a zone from a VTIMEZONE (``key`` is its serialised text, for caching)."""
    comp = parse_components(key.encode("utf-8"))[0]
    onsets: list[tuple[datetime, int, int]] = []
    for obs in comp.components:
        if obs.name not in ("STANDARD", "DAYLIGHT"):
            continue
        off_from = _parse_offset(obs.value("TZOFFSETFROM"))
        off_to = _parse_offset(obs.value("TZOFFSETTO"))
        start_prop = obs.get("DTSTART")
        if start_prop is None:
            continue
        start = parse_time(start_prop.value, None).local
        onsets.append((start, off_from, off_to))
        for rdate in obs.get_all("RDATE"):
            for v in rdate.value.split(","):
                if v.strip():
                    onsets.append((parse_time(v.split("/")[0], None).local, off_from, off_to))
        rule = obs.get("RRULE")
        if rule is not None:
            limit = datetime(VTIMEZONE_LAST_YEAR, 12, 31)
            for when in build_rrule(rule.value, start, UTC, limit_local=limit):
                if when != start:
                    onsets.append((when, off_from, off_to))
                    if len(onsets) > MAX_TRANSITIONS:
                        raise InvalidData(f"VTIMEZONE with more than {MAX_TRANSITIONS} transitions")
    return TransitionZone(comp.value("TZID") or "", onsets)


def zones_of(calendar: Component) -> dict[str, Zone]:
    """Every TZID the calendar's VTIMEZONEs define, mapped to a zone: the IANA zone of
    that name when there is one (exact for every year), else one built from the
    VTIMEZONE's own rules."""
    zones: dict[str, Zone] = {}
    for comp in calendar.components:
        if comp.name != "VTIMEZONE":
            continue
        tzid = (comp.value("TZID") or "").strip()
        if not tzid:
            raise InvalidData("VTIMEZONE without TZID")
        zone = _iana(tzid)
        if zone is None:
            try:
                # Keyed by its text: equal VTIMEZONEs (every item of a calendar repeats
                # the same one) are expanded once.
                zone = _vtimezone_zone(serialize(comp).decode("utf-8"))
            except InvalidData:
                raise
            except Exception as e:  # dateutil's own errors on odd rules
                raise InvalidData(f"unreadable VTIMEZONE {tzid!r}: {e}") from None
        zones[tzid] = zone
    return zones


def zone_for(prop: Property, zones: dict[str, Zone]) -> Zone | None:
    """The zone of a property's TZID parameter (None when it has none: floating or UTC).
    An unknown TZID that names no IANA zone is taken as UTC rather than refusing data."""
    tzid = prop.param("TZID")
    if tzid is None:
        return None
    tzid = tzid.strip()
    zone = zones.get(tzid)
    if zone is None:
        zone = _iana(tzid) or UTC
        zones[tzid] = zone
    return zone


def prop_time(prop: Property, zones: dict[str, Zone]) -> Time:
    """A DATE/DATE-TIME property's value (first value if several)."""
    value = prop.value.split(",")[0]
    return parse_time(value, zone_for(prop, zones))


def prop_times(prop: Property, zones: dict[str, Zone]) -> list[tuple[Time, "Time | Duration | None"]]:
    """Every value of an RDATE/EXDATE-like property: ``(start, end-or-duration-or-None)``
    (PERIOD values carry their end or duration)."""
    zone = zone_for(prop, zones)
    out = []
    for value in prop.value.split(","):
        value = value.strip()
        if not value:
            continue
        if "/" in value:
            start_s, end_s = value.split("/", 1)
            start = parse_time(start_s, zone)
            end = parse_duration(end_s) if end_s.strip()[:1] in "+-P" else parse_time(end_s, zone)
            out.append((start, end))
        else:
            out.append((parse_time(value, zone), None))
    return out


# ---------------------------------------------------------------------------------------
# RRULE

_FREQS = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY, "DAILY": du.DAILY,
          "HOURLY": du.HOURLY, "MINUTELY": du.MINUTELY, "SECONDLY": du.SECONDLY}
_DAYS = {"MO": du.MO, "TU": du.TU, "WE": du.WE, "TH": du.TH, "FR": du.FR, "SA": du.SA, "SU": du.SU}
_INT_PARTS = {"BYSETPOS": "bysetpos", "BYMONTH": "bymonth", "BYMONTHDAY": "bymonthday",
              "BYYEARDAY": "byyearday", "BYWEEKNO": "byweekno", "BYHOUR": "byhour",
              "BYMINUTE": "byminute", "BYSECOND": "bysecond"}


@attrs.frozen
class Rule:
    """A parsed RRULE: ``kwargs`` for ``dateutil.rrule`` plus RFC 5545 bounds."""

    kwargs: dict = attrs.field(hash=False)
    count: int | None
    until: Time | None

    @property
    def infinite(self) -> bool:
        return self.count is None and self.until is None


def parse_rrule(text: str, zone: Zone) -> Rule:
    parts: dict[str, str] = {}
    for piece in text.strip().split(";"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if not eq:
            raise InvalidData(f"bad RRULE part {piece!r}")
        parts[key.strip().upper()] = value.strip()
    freq = _FREQS.get(parts.pop("FREQ", "").upper())
    if freq is None:
        raise InvalidData(f"RRULE without a valid FREQ: {text!r}")
    kwargs: dict = {"freq": freq}
    count = until = None
    try:
        if "INTERVAL" in parts:
            kwargs["interval"] = max(1, int(parts.pop("INTERVAL")))
        if "COUNT" in parts:
            count = int(parts.pop("COUNT"))
            if count < 1:
                raise InvalidData("RRULE COUNT must be positive")
        if "UNTIL" in parts:
            until = parse_time(parts.pop("UNTIL"), zone)
        for key, name in _INT_PARTS.items():
            if key in parts:
                kwargs[name] = [int(v) for v in parts.pop(key).split(",") if v]
        if "BYDAY" in parts:
            days = []
            for v in parts.pop("BYDAY").split(","):
                v = v.strip().upper()
                if not v:
                    continue
                day = _DAYS[v[-2:]]
                days.append(day(int(v[:-2])) if v[:-2] else day)
            kwargs["byweekday"] = days
        if "WKST" in parts:
            kwargs["wkst"] = _DAYS[parts.pop("WKST").upper()]
    except (ValueError, KeyError):
        raise InvalidData(f"bad RRULE {text!r}") from None
    for name, (lo, hi) in _RANGES.items():
        for v in kwargs.get(name, ()):
            if not lo <= abs(v) <= hi or (v < 0 and name not in _SIGNED) or v == 0 and lo > 0:
                raise InvalidData(f"RRULE {name} value {v} out of range")
    if _impossible(kwargs):
        # e.g. BYMONTH=2;BYMONTHDAY=30: no instance ever. dateutil would search up to
        # year 9999 for one (seconds of CPU), so say so up front.
        kwargs = dict(kwargs, impossible=True)
    return Rule(kwargs, count, until)


_RANGES = {"bymonth": (1, 12), "bymonthday": (1, 31), "byyearday": (1, 366), "byweekno": (1, 53),
           "bysetpos": (1, 366), "byhour": (0, 23), "byminute": (0, 59), "bysecond": (0, 60)}
_SIGNED = {"bymonthday", "byyearday", "byweekno", "bysetpos"}
_LEAP_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _impossible(kwargs: dict) -> bool:
    """Whether BYMONTH/BYMONTHDAY/BYYEARDAY can never agree on a day (checked over a
    leap year, which has every possible day)."""
    months = kwargs.get("bymonth") or range(1, 13)
    days = kwargs.get("bymonthday")
    if days and not any(abs(d) <= _LEAP_MONTH_DAYS[m - 1] for m in months for d in days):
        return True
    yeardays = kwargs.get("byyearday")
    if yeardays and kwargs.get("bymonth"):
        starts = [sum(_LEAP_MONTH_DAYS[: m - 1]) for m in range(1, 13)]
        ok = False
        for yd in yeardays:
            for day in {yd if yd > 0 else 367 + yd, yd if yd > 0 else 366 + yd}:
                month = next((m for m in range(12, 0, -1) if starts[m - 1] < day), 1)
                ok = ok or month in months
        if not ok:
            return True
    return False


def build_rrule(text_or_rule, dtstart: datetime, zone: Zone, limit_local: datetime | None = None):
    """Iterate the wall-clock datetimes of a rule from ``dtstart`` (dateutil semantics:
    DTSTART itself only if it matches; callers add it). Stops at COUNT, UNTIL or
    ``limit_local``."""
    rule = text_or_rule if isinstance(text_or_rule, Rule) else parse_rrule(text_or_rule, zone)
    if rule.kwargs.get("impossible"):
        return
    gen = _simple_rule(rule, dtstart)
    if gen is None:
        try:
            gen = du.rrule(dtstart=dtstart, count=rule.count, cache=False, **rule.kwargs)
        except (ValueError, TypeError) as e:
            raise InvalidData(f"bad RRULE: {e}") from None
    until_epoch = rule.until.epoch if rule.until is not None and not rule.until.is_date else None
    until_date = rule.until.local if rule.until is not None and rule.until.is_date else None
    for when in gen:
        if limit_local is not None and when > limit_local:
            return
        if until_date is not None and when >= until_date + timedelta(days=1):
            return
        if until_epoch is not None and zone.epoch(when) > until_epoch:
            return
        yield when


def simple_step(rule: Rule) -> timedelta | None:
    """The wall-clock step between the instances of a plain DAILY or WEEKLY rule (no
    BYxxx parts): ``build_rrule`` yields DTSTART, then DTSTART plus each multiple of it
    (up to COUNT, UNTIL or the limit). None for any other rule."""
    kwargs = rule.kwargs
    if kwargs["freq"] not in (du.DAILY, du.WEEKLY) or any(k not in ("freq", "interval", "wkst") for k in kwargs):
        return None
    return timedelta(days=kwargs.get("interval", 1) * (7 if kwargs["freq"] == du.WEEKLY else 1))


def _simple_rule(rule: Rule, dtstart: datetime):
    """Plain DAILY/WEEKLY rules (no BYxxx parts) by arithmetic: the common case, and
    far cheaper than dateutil's general machinery. None for anything else."""
    step = simple_step(rule)
    if step is None:
        return None

    def gen():
        when = dtstart
        n = 0
        while rule.count is None or n < rule.count:
            yield when
            n += 1
            try:
                when = when + step
            except OverflowError:
                return

    return gen()


def epoch_of(value: datetime) -> int:
    """Epoch seconds of an aware datetime (naive taken as UTC), floored."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() // 1)
