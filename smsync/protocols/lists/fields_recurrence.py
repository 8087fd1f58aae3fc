"""SharePoint's RecurrenceData XML (MS-OUTSPS RecurrenceDefinition) <-> RRULE, and
its XMLTZone (TimeZoneRule) <-> a zone's yearly rule; pure functions.

    <recurrence><rule><firstDayOfWeek>su</firstDayOfWeek>
      <repeat><weekly mo="TRUE" we="TRUE" weekFrequency="2"/></repeat>
      <repeatInstances>10</repeatInstances></rule></recurrence>

The patterns are daily (``dayFrequency``, or ``weekday="TRUE"``), weekly (day
attributes, ``weekFrequency``), monthly (``day``, ``monthFrequency``), monthlyByDay (day
attributes or ``day``/``weekday``/``weekend_day``, ``weekdayOfMonth`` first..fourth or
last), yearly (``month``, ``day``, ``yearFrequency``) and yearlyByDay; the range is
``repeatInstances`` (COUNT), ``windowEnd`` (UNTIL) or ``repeatForever``.

An RRULE these cannot say (hourly, several month days, the second-last Friday) is shown
as the nearest pattern of its frequency (``rrule_xml`` says it was approximate): the
Events converter keeps the stored RRULE as long as Outlook sends that pattern back.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.zonerules import Rule, TimeZoneInfo

from . import fields_common as fc

DAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")
_WEEKDAY = ("mo", "tu", "we", "th", "fr", "sa", "su")  # date.weekday() order
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_ORDINAL_NAMES = {v: k for k, v in _ORDINALS.items()}
_SETS = {"day": DAYS, "weekday": ("mo", "tu", "we", "th", "fr"), "weekend_day": ("su", "sa")}
#: Most instances or largest interval read from Outlook (SharePoint allows 999).
MAX_NUMBER = 999
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)


@attrs.frozen
class Recurrence:
    """A recurrence as the RRULE parts both sides can say (upper-case iCalendar
    values): ``freq``, ``interval``, ``byday`` (``("MO", "WE")``), ``setpos`` (1-4 or
    -1, for a BYDAY that picks one of the month's days), ``bymonthday``, ``bymonth``,
    ``count``, ``until`` (an aware UTC datetime, or a date for all-day events),
    ``wkst``."""

    freq: str
    interval: int = 1
    byday: tuple[str, ...] = ()
    setpos: Optional[int] = None
    bymonthday: Optional[int] = None
    bymonth: Optional[int] = None
    count: Optional[int] = None
    until: object = None
    wkst: str = "MO"

    def rrule(self) -> str:
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.bymonth is not None:
            parts.append(f"BYMONTH={self.bymonth}")
        if self.bymonthday is not None:
            parts.append(f"BYMONTHDAY={self.bymonthday}")
        if self.byday:
            parts.append("BYDAY=" + ",".join(self.byday))
        if self.setpos is not None:
            parts.append(f"BYSETPOS={self.setpos}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        elif isinstance(self.until, datetime):
            parts.append("UNTIL=" + self.until.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
        elif isinstance(self.until, date):
            parts.append("UNTIL=" + self.until.strftime("%Y%m%d"))
        if self.wkst != "MO":
            parts.append(f"WKST={self.wkst}")
        return ";".join(parts)


# -- XML -> recurrence ------------------------------------------------------------------


def _int(elem, name: str, default: Optional[int] = None, lo: int = 1, hi: int = MAX_NUMBER) -> Optional[int]:
    text = elem.get(name)
    if text is None:
        return default
    return fc.parse_int(text, f"RecurrenceData {name}", lo, hi)


def _days(elem) -> tuple[str, ...]:
    """The day attributes set to TRUE, in Sunday-first order, with the day sets."""
    days: set[str] = set()
    for name, value in elem.attrib.items():
        if value.strip().upper() != "TRUE":
            continue
        if name in DAYS:
            days.add(name)
        elif name in _SETS:
            days.update(_SETS[name])
    return tuple(d.upper() for d in DAYS if d in days)


def parse_recurrence(xml: str, all_day: bool) -> Recurrence:
    """A RecurrenceData value as a Recurrence; ``InvalidData`` for anything else.
    ``all_day`` makes ``windowEnd`` a date (UNTIL must match DTSTART's type)."""
    text = xml.strip()
    if not text or len(text) > 10_000:
        raise InvalidData("bad RecurrenceData")
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        raise InvalidData("RecurrenceData is not XML") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname != "recurrence":
        raise InvalidData("RecurrenceData without <recurrence>")
    for elem in root.iter():
        if isinstance(elem.tag, str) and elem.tag.startswith("{"):
            elem.tag = etree.QName(elem).localname
    rule = root.find("rule")
    repeat = rule.find("repeat") if rule is not None else None
    if repeat is None or len(repeat) != 1 or not isinstance(repeat[0].tag, str):
        raise InvalidData("RecurrenceData without one <repeat> pattern")
    pattern = repeat[0]
    first = (rule.findtext("firstDayOfWeek") or "mo").strip().lower()
    if first not in DAYS:
        raise InvalidData(f"bad firstDayOfWeek {first[:10]!r}")
    kind = pattern.tag
    days = _days(pattern)
    if kind == "daily":
        if (pattern.get("weekday") or "").upper() == "TRUE":
            rec = Recurrence("WEEKLY", byday=("MO", "TU", "WE", "TH", "FR"))
        else:
            rec = Recurrence("DAILY", _int(pattern, "dayFrequency", 1))
    elif kind == "weekly":
        if not days:
            raise InvalidData("weekly RecurrenceData without days")
        rec = Recurrence("WEEKLY", _int(pattern, "weekFrequency", 1), byday=days)
    elif kind == "monthly":
        rec = Recurrence("MONTHLY", _int(pattern, "monthFrequency", 1),
                         bymonthday=_int(pattern, "day", None, 1, 31))
    elif kind in ("monthlyByDay", "yearlyByDay"):
        which = (pattern.get("weekdayOfMonth") or "").strip().lower()
        if which not in _ORDINALS or not days:
            raise InvalidData(f"bad {kind} RecurrenceData")
        if kind == "monthlyByDay":
            rec = Recurrence("MONTHLY", _int(pattern, "monthFrequency", 1), byday=days, setpos=_ORDINALS[which])
        else:
            rec = Recurrence("YEARLY", _int(pattern, "yearFrequency", 1), byday=days, setpos=_ORDINALS[which],
                             bymonth=_int(pattern, "month", None, 1, 12))
    elif kind == "yearly":
        rec = Recurrence("YEARLY", _int(pattern, "yearFrequency", 1), bymonth=_int(pattern, "month", None, 1, 12),
                         bymonthday=_int(pattern, "day", None, 1, 31))
    else:
        raise InvalidData(f"unknown RecurrenceData pattern {kind[:20]!r}")
    rec = attrs.evolve(rec, wkst=first.upper())
    count_text, window = rule.findtext("repeatInstances"), rule.findtext("windowEnd")
    if count_text is not None:
        rec = attrs.evolve(rec, count=fc.parse_int(count_text, "repeatInstances", 1, MAX_NUMBER))
    elif window is not None:
        until = fc.parse_datetime(window, "windowEnd")
        rec = attrs.evolve(rec, until=until.date() if all_day else until)
    return rec


# -- RRULE -> XML -----------------------------------------------------------------------


def _rrule_parts(text: str) -> dict[str, str]:
    parts = {}
    for piece in text.strip().upper().split(";"):
        key, eq, value = piece.partition("=")
        if eq:
            parts[key.strip()] = value.strip()
    return parts


def _ints(text: Optional[str]) -> list[int]:
    out = []
    for v in (text or "").split(","):
        try:
            out.append(int(v))
        except ValueError:
            continue
    return out


def recurrence_of(rrule: str, start: datetime, until=None) -> tuple[Recurrence, bool]:
    """The Recurrence an RRULE is shown as, and whether it says the rule exactly.
    ``start`` is DTSTART's wall-clock time (what the rule leaves to it: a weekly rule's
    day, a monthly rule's day of the month); ``until`` the UNTIL already read (an aware
    datetime or a date)."""
    p = _rrule_parts(rrule)
    exact = not (set(p) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "COUNT",
                           "UNTIL", "WKST"})
    freq = p.get("FREQ", "DAILY")
    interval = max(1, min(MAX_NUMBER, (_ints(p.get("INTERVAL")) or [1])[0]))
    count = _ints(p.get("COUNT"))
    count = max(1, min(MAX_NUMBER, count[0])) if count else None
    exact = exact and (count is None or str(count) == p.get("COUNT"))
    wkst = p.get("WKST", "MO") if p.get("WKST", "MO") in [d.upper() for d in DAYS] else "MO"
    raw_days = [d for d in p.get("BYDAY", "").split(",") if d]
    plain = tuple(d for d in (d.upper() for d in DAYS) if d in raw_days)
    ordinal = [(int(d[:-2]), d[-2:]) for d in raw_days if len(d) > 2 and d[:-2].lstrip("+-").isdigit()]
    setpos = _ints(p.get("BYSETPOS"))
    months, monthdays = _ints(p.get("BYMONTH")), _ints(p.get("BYMONTHDAY"))
    weekday = _WEEKDAY[start.weekday()].upper()
    base = dict(interval=interval, count=count, until=until if count is None else None, wkst=wkst)

    def relative() -> Optional[tuple[tuple, int]]:
        if len(ordinal) == 1 and not plain and not setpos and ordinal[0][0] in _ORDINAL_NAMES:
            return (ordinal[0][1],), ordinal[0][0]
        if plain and len(setpos) == 1 and setpos[0] in _ORDINAL_NAMES and not ordinal:
            return plain, setpos[0]
        return None

    if freq == "DAILY":
        rec = Recurrence("DAILY", **base)
        exact = exact and not (raw_days or months or monthdays or setpos)
    elif freq == "WEEKLY":
        rec = Recurrence("WEEKLY", byday=plain or (weekday,), **base)
        exact = exact and not (ordinal or months or monthdays or setpos)
    elif freq == "MONTHLY":
        rel = relative()
        if rel is not None and not monthdays:
            rec = Recurrence("MONTHLY", byday=rel[0], setpos=rel[1], **base)
            exact = exact and not months
        elif monthdays == [-1] and not raw_days:
            rec = Recurrence("MONTHLY", byday=tuple(d.upper() for d in DAYS), setpos=-1, **base)
        else:
            day = monthdays[0] if len(monthdays) == 1 and 1 <= monthdays[0] <= 31 else start.day
            rec = Recurrence("MONTHLY", bymonthday=day, **base)
            exact = exact and not (raw_days or months or setpos) and len(monthdays) <= 1 and day == (
                monthdays or [start.day])[0]
    else:
        if freq != "YEARLY":
            exact = False
        month = months[0] if len(months) == 1 else start.month
        exact = exact and len(months) <= 1
        rel = relative()
        if rel is not None and not monthdays:
            rec = Recurrence("YEARLY", byday=rel[0], setpos=rel[1], bymonth=month, **base)
        else:
            day = monthdays[0] if len(monthdays) == 1 and 1 <= monthdays[0] <= 31 else start.day
            rec = Recurrence("YEARLY", bymonth=month, bymonthday=day, **base)
            exact = exact and not (raw_days or setpos) and len(monthdays) <= 1 and day == (monthdays or [start.day])[0]
    return rec, exact


def recurrence_xml(rec: Recurrence) -> str:
    """A Recurrence as RecurrenceData XML."""
    try:
        return _recurrence_xml_kept(rec)
    except TypeError:  # unhashable (a list for a tuple): made each time
        return _recurrence_xml(rec)


#: A calendar's series share a few patterns: each one's XML is made once.
_recurrence_xml_kept = functools.lru_cache(maxsize=1024)(lambda rec: _recurrence_xml(rec))


def _recurrence_xml(rec: Recurrence) -> str:
    def days(byday) -> str:
        return "".join(f' {d.lower()}="TRUE"' for d in byday)

    if rec.freq == "DAILY":
        pattern = f'<daily dayFrequency="{rec.interval}" />'
    elif rec.freq == "WEEKLY":
        pattern = f'<weekly{days(rec.byday)} weekFrequency="{rec.interval}" />'
    elif rec.freq == "MONTHLY" and rec.setpos is not None:
        pattern = (f'<monthlyByDay{days(rec.byday)} weekdayOfMonth="{_ORDINAL_NAMES[rec.setpos]}"'
                   f' monthFrequency="{rec.interval}" />')
    elif rec.freq == "MONTHLY":
        pattern = f'<monthly monthFrequency="{rec.interval}" day="{rec.bymonthday}" />'
    elif rec.setpos is not None:
        pattern = (f'<yearlyByDay yearFrequency="{rec.interval}"{days(rec.byday)}'
                   f' weekdayOfMonth="{_ORDINAL_NAMES[rec.setpos]}" month="{rec.bymonth}" />')
    else:
        pattern = f'<yearly yearFrequency="{rec.interval}" month="{rec.bymonth}" day="{rec.bymonthday}" />'
    if rec.count is not None:
        end = f"<repeatInstances>{rec.count}</repeatInstances>"
    elif isinstance(rec.until, datetime):
        end = f"<windowEnd>{fc.format_datetime(rec.until)}</windowEnd>"
    elif isinstance(rec.until, date):
        end = f"<windowEnd>{fc.format_date(rec.until)}</windowEnd>"
    else:
        end = "<repeatForever>FALSE</repeatForever>"
    return (f"<recurrence><rule><firstDayOfWeek>{rec.wkst.lower()}</firstDayOfWeek>"
            f"<repeat>{pattern}</repeat>{end}</rule></recurrence>")


def canonical(rec: Recurrence, start: datetime) -> Recurrence:
    """``rec`` with what DTSTART implies filled in, so that two ways of saying one
    pattern compare equal (a weekly rule without days, a monthly one without a day)."""
    weekday = _WEEKDAY[start.weekday()].upper()
    if rec.freq == "WEEKLY" and not rec.byday:
        rec = attrs.evolve(rec, byday=(weekday,))
    if rec.freq == "MONTHLY" and rec.setpos is None and rec.bymonthday is None:
        rec = attrs.evolve(rec, bymonthday=start.day)
    if rec.freq == "YEARLY":
        rec = attrs.evolve(rec, bymonth=rec.bymonth or start.month)
        if rec.setpos is None and rec.bymonthday is None:
            rec = attrs.evolve(rec, bymonthday=start.day)
    if rec.freq != "WEEKLY" or rec.interval == 1:
        # WKST only changes which days a multi-week rule picks.
        rec = attrs.evolve(rec, wkst="MO")
    return rec


# -- XMLTZone ---------------------------------------------------------------------------


def _transition(rule: Rule) -> str:
    which = "last" if rule.day >= 5 else _ORDINAL_NAMES.get(rule.day, "first")
    return (f'<transitionRule month="{rule.month}" day="{DAYS[rule.day_of_week]}" weekdayOfMonth="{which}" />'
            f"<transitionTime>{rule.hour}:{rule.minute}:{rule.second}</transitionTime>")


def timezone_xml(info: TimeZoneInfo) -> str:
    """A zone's yearly rule as XMLTZone (biases in minutes, UTC = local + bias)."""
    out = [f"<timeZoneRule><standardBias>{info.bias + info.standard_bias}</standardBias>"
           f"<additionalDaylightBias>{(info.daylight_bias - info.standard_bias) if info.has_dst else 0}"
           "</additionalDaylightBias>"]
    if info.has_dst and not info.standard_date.year and not info.daylight_date.year:
        out.append(f"<standardDate>{_transition(info.standard_date)}</standardDate>")
        out.append(f"<daylightDate>{_transition(info.daylight_date)}</daylightDate>")
    out.append("</timeZoneRule>")
    return "".join(out)


def _read_transition(elem) -> Optional[Rule]:
    if elem is None:
        return None
    rule = elem.find("transitionRule")
    if rule is None:
        raise InvalidData("XMLTZone date without transitionRule")
    day = (rule.get("day") or "").strip().lower()
    which = (rule.get("weekdayOfMonth") or "").strip().lower()
    if day not in DAYS or which not in _ORDINALS:
        raise InvalidData("bad XMLTZone transitionRule")
    month = _int(rule, "month", None, 1, 12)
    if month is None:
        raise InvalidData("XMLTZone transitionRule without month")
    clock = (elem.findtext("transitionTime") or "0:0:0").strip().split(":")
    try:
        h, m, s = (int(v) for v in (clock + ["0", "0"])[:3])
    except ValueError:
        raise InvalidData("bad XMLTZone transitionTime") from None
    if not (0 <= h <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
        raise InvalidData("bad XMLTZone transitionTime")
    return Rule(month, DAYS.index(day), 5 if which == "last" else _ORDINALS[which], h, m, s)


def parse_timezone(xml: str) -> TimeZoneInfo:
    """An XMLTZone value as a TimeZoneInfo; ``InvalidData`` for anything else."""
    text = xml.strip()
    if not text or len(text) > 10_000:
        raise InvalidData("bad XMLTZone")
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        raise InvalidData("XMLTZone is not XML") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname != "timeZoneRule":
        raise InvalidData("XMLTZone without <timeZoneRule>")
    try:
        bias = int((root.findtext("standardBias") or "0").strip())
        extra = int((root.findtext("additionalDaylightBias") or "0").strip())
    except ValueError:
        raise InvalidData("bad XMLTZone bias") from None
    if abs(bias) > 14 * 60 or abs(extra) > 180:
        raise InvalidData("XMLTZone bias out of range")
    std, dst = _read_transition(root.find("standardDate")), _read_transition(root.find("daylightDate"))
    if std is None or dst is None or extra == 0:
        return TimeZoneInfo(bias)
    return TimeZoneInfo(bias, standard_date=std, daylight_date=dst, daylight_bias=extra)
