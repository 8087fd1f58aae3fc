"""A stored RRULE as an EWS ``<t:Recurrence>`` (MS-OXWSCDATA RecurrenceType): the
inverse of ``calendar_edit.rrule_of``, pure functions.

EWS has six patterns -- Daily, Weekly, AbsoluteMonthly, RelativeMonthly,
AbsoluteYearly, RelativeYearly -- and three ranges (no end, an end date, a count). An
RRULE these cannot say (hourly, several month days, a yearly interval...) gives None:
the series is still recurring and its occurrences are served, only its pattern is not.
What an RRULE leaves to DTSTART (a weekly rule's day, a monthly rule's day of the
month) is filled in from it, as EWS always names them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Optional

from lxml import etree

from smsync.protocols.ews.soap import t

_DAY_NAMES = {"SU": "Sunday", "MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
              "FR": "Friday", "SA": "Saturday"}
_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # date.weekday() order
#: Day sets EWS names as one word in a relative pattern (with BYSETPOS in an RRULE).
DAY_SETS = {"Day": ("SU", "MO", "TU", "WE", "TH", "FR", "SA"),
            "Weekday": ("MO", "TU", "WE", "TH", "FR"), "WeekendDay": ("SU", "SA")}
_INDEX_NAMES = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", -1: "Last"}
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")


def rule_parts(rrule: str) -> Optional[dict]:
    """The RRULE's parts by name, upper-case (None for one that does not parse)."""
    parts: dict = {}
    for piece in rrule.strip().split(";"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if not eq:
            return None
        parts[key.strip().upper()] = value.strip().upper()
    return parts


def _relative(parts: dict) -> Optional[tuple[str, str]]:
    """``(DaysOfWeek, DayOfWeekIndex)`` of a relative rule's BYDAY (and BYSETPOS), or
    None when it names something EWS cannot: ``2TU``, or ``MO,...,FR`` with ``BYSETPOS=-1``."""
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    setpos = parts.get("BYSETPOS")
    if setpos is None:
        if len(days) != 1 or len(days[0]) < 3:
            return None
        try:
            index = int(days[0][:-2])
        except ValueError:
            return None
        code = days[0][-2:]
        if index not in _INDEX_NAMES or code not in _DAY_NAMES:
            return None
        return _DAY_NAMES[code], _INDEX_NAMES[index]
    try:
        index = int(setpos)
    except ValueError:
        return None
    if index not in _INDEX_NAMES or any(len(d) != 2 for d in days):
        return None
    if len(days) == 1 and days[0] in _DAY_NAMES:
        return _DAY_NAMES[days[0]], _INDEX_NAMES[index]
    named = next((name for name, codes in DAY_SETS.items() if sorted(codes) == sorted(days)), None)
    return (named, _INDEX_NAMES[index]) if named is not None else None


def _single(parts: dict, key: str, low: int, high: int) -> Optional[int]:
    """The one value of part ``key`` within ``[low, high]`` (None: absent or not one)."""
    value = parts.get(key)
    if value is None or "," in value:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


def _pattern(parts: dict, start: date) -> Optional[tuple[str, list]]:
    """``(pattern element name, [(child, text)...])`` of a rule's parts."""
    freq = parts.get("FREQ")
    try:
        interval = int(parts.get("INTERVAL", "1"))
    except ValueError:
        return None
    if interval < 1:
        return None
    keys = set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST"}
    weekday = _WEEKDAY_CODES[start.weekday()]
    if freq == "DAILY" and not keys:
        return "DailyRecurrence", [("Interval", str(interval))]
    if freq in ("DAILY", "WEEKLY") and keys <= {"BYDAY"}:
        days = [d for d in parts.get("BYDAY", weekday).split(",") if d]
        if any(d not in _DAY_NAMES for d in days) or (freq == "DAILY" and interval != 1):
            return None  # ordinals, or every n-th day of a set: no EWS pattern says it
        wkst = _DAY_NAMES.get(parts.get("WKST", "MO"))
        if wkst is None:
            return None
        ordered = sorted(set(days), key=_WEEKDAY_CODES.index)  # ISO order, as clients list them
        return "WeeklyRecurrence", [("Interval", str(interval)),
                                    ("DaysOfWeek", " ".join(_DAY_NAMES[d] for d in ordered)),
                                    ("FirstDayOfWeek", wkst)]
    if freq == "MONTHLY":
        if not keys or keys == {"BYMONTHDAY"}:
            day = start.day if not keys else _single(parts, "BYMONTHDAY", -1, 31)
            if day == -1:
                return "RelativeMonthlyRecurrence", [("Interval", str(interval)), ("DaysOfWeek", "Day"),
                                                     ("DayOfWeekIndex", "Last")]
            if day is None or day < 1:
                return None
            return "AbsoluteMonthlyRecurrence", [("Interval", str(interval)), ("DayOfMonth", str(day))]
        if keys <= {"BYDAY", "BYSETPOS"} and "BYDAY" in keys:
            relative = _relative(parts)
            if relative is None:
                return None
            return "RelativeMonthlyRecurrence", [("Interval", str(interval)), ("DaysOfWeek", relative[0]),
                                                 ("DayOfWeekIndex", relative[1])]
        return None
    if freq == "YEARLY" and interval == 1:
        month = start.month if "BYMONTH" not in keys else _single(parts, "BYMONTH", 1, 12)
        if month is None:
            return None
        rest = keys - {"BYMONTH"}
        if not rest or rest == {"BYMONTHDAY"}:
            day = start.day if not rest else _single(parts, "BYMONTHDAY", 1, 31)
            if day is None:
                return None
            return "AbsoluteYearlyRecurrence", [("DayOfMonth", str(day)), ("Month", _MONTH_NAMES[month - 1])]
        if rest <= {"BYDAY", "BYSETPOS"} and "BYDAY" in rest:
            relative = _relative(parts)
            if relative is None:
                return None
            return "RelativeYearlyRecurrence", [("DaysOfWeek", relative[0]), ("DayOfWeekIndex", relative[1]),
                                                ("Month", _MONTH_NAMES[month - 1])]
    return None


def until_date(until: str, zone=None) -> Optional[date]:
    """The last day an RRULE's UNTIL lets in, in the series' own ``zone`` (a tzinfo;
    None: UTC). What ``rrule_of`` writes (the end of a UTC day) is that UTC day."""
    text = until.strip().upper()
    try:
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d").date()
        if text.endswith("Z"):
            when = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            if text.endswith("T235959Z") or zone is None:
                return when.date()
            return when.astimezone(zone).date()
        return datetime.strptime(text, "%Y%m%dT%H%M%S").date()  # floating: the series' own time
    except ValueError:
        return None


def date_text(day: date, zone=None) -> str:
    """An xs:date with the zone's offset that day, as Exchange writes a range's dates
    (clients read a bare date as a midnight dateTime)."""
    offset = datetime.combine(day, time(12), zone).utcoffset() if zone is not None else None
    if not offset:
        return day.isoformat() + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{day.isoformat()}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def recurrence_element(rrule: str, start: date, zone=None):
    """The ``<t:Recurrence>`` of ``rrule`` for a series whose first day (its DTSTART's,
    in its own zone) is ``start``; None when EWS has no pattern for it."""
    parts = rule_parts(rrule)
    if parts is None or "FREQ" not in parts:
        return None
    pattern = _pattern(parts, start)
    if pattern is None:
        return None
    node = etree.Element(t("Recurrence"))
    kind, children = pattern
    holder = etree.SubElement(node, t(kind))
    for tag, value in children:
        etree.SubElement(holder, t(tag)).text = value
    first = date_text(start, zone)
    if "COUNT" in parts:
        try:
            count = int(parts["COUNT"])
        except ValueError:
            return None
        ending = etree.SubElement(node, t("NumberedRecurrence"))
        etree.SubElement(ending, t("StartDate")).text = first
        etree.SubElement(ending, t("NumberOfOccurrences")).text = str(count)
    elif "UNTIL" in parts:
        last = until_date(parts["UNTIL"], zone)
        if last is None:
            return None
        ending = etree.SubElement(node, t("EndDateRecurrence"))
        etree.SubElement(ending, t("StartDate")).text = first
        etree.SubElement(ending, t("EndDate")).text = date_text(last, zone)
    else:
        ending = etree.SubElement(node, t("NoEndRecurrence"))
        etree.SubElement(ending, t("StartDate")).text = first
    return node
