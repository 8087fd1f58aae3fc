"""What SIF-E and SIF-T share: Outlook's recurrence pattern, time zone and reminder
fields, translated to and from vCalendar 1.0 so that ``vcalendar10`` does the zones,
rules and alarms for SIF exactly as it does for phones.

A SIF item is read by writing the vCalendar 1.0 item it stands for (``VCal`` lines) and
reading that; the stored item is written by writing it as vCalendar 1.0 and reading
the fields off that (``parse_vcal``). Outlook's pattern types: 0 daily, 1 weekly,
2 monthly (day of month), 3 month-nth (``Instance`` 5 = last), 5 yearly, 6 year-nth;
``DayOfWeekMask`` bits Sunday 1 ... Saturday 64.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, parse_components, split_raw
from smsync.formats.zonerules import RuleZone
from smsync.protocols.syncml.formats import sif
from smsync.protocols.syncml.formats.support import (
    decode_value,
    escape_legacy,
    join_soft_breaks,
    needs_qp,
    qp_encode,
    split_legacy,
    unescape_legacy,
)
from smsync.protocols.syncml.formats.vcaltimes import device_rule

_MASK_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # bit i
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def time_text(value: Optional[str]) -> Optional[str]:
    """A SIF date or date-time (``2026-12-06``, ``20261206T080000Z``,
    ``2026-12-06T08:00:00Z``) in vCalendar's basic form."""
    if not value:
        return None
    text = value.strip().replace("-", "").replace(":", "")
    if not re.match(r"^\d{8}(T\d{4,6}Z?)?$", text):
        raise InvalidData(f"bad SIF date {value[:40]!r}")
    return text


def sif_date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}"


class VCal:
    """The lines of a vCalendar 1.0 item being written."""

    def __init__(self, kind: str):
        self.kind = kind
        self.head: list[str] = []
        self.body: list[str] = []

    def add(self, name: str, value: Optional[str], params: list[str] = ()) -> None:
        """A property line; texts (SUMMARY, DESCRIPTION, LOCATION, X-) are escaped."""
        if value is None:
            return
        if name in ("SUMMARY", "DESCRIPTION", "LOCATION") or name.startswith("X-"):
            value = escape_legacy(value)
        head = ";".join([name, *params])
        if needs_qp(value):
            self.body.append(f"{head};ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:{qp_encode(value)}")
        else:
            self.body.append(f"{head}:{value}")

    def bytes(self) -> bytes:
        lines = ["BEGIN:VCALENDAR", "VERSION:1.0", *self.head, f"BEGIN:{self.kind}", *self.body,
                 f"END:{self.kind}", "END:VCALENDAR"]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# -- SIF -> vCalendar ---------------------------------------------------------------------


def _days(mask: Optional[str]) -> list[str]:
    if not mask or not mask.strip().isdigit():
        return []
    bits = int(mask)
    return [d for i, d in enumerate(_MASK_DAYS) if bits & (1 << i)]


def _int(value: Optional[str], default: int) -> int:
    return int(value) if value and value.strip().lstrip("-").isdigit() else default


def add_timezone(vcal: VCal, fields: sif.Fields) -> None:
    """TZ and DAYLIGHT lines for a SIF ``<Timezone>``."""
    tz = fields.get("Timezone")
    if not isinstance(tz, list):
        return
    for tag, value in tz:
        if tag == "BasicOffset" and isinstance(value, str) and value:
            vcal.head.append(f"TZ:{value}")
        elif tag == "DayLight" and isinstance(value, list):
            d = {k: v for k, v in value if isinstance(v, str)}
            if d.get("DSTOffset") and d.get("DSTStart") and d.get("DSTEnd"):
                vcal.head.append("DAYLIGHT:TRUE;{};{};{};{};{}".format(
                    d["DSTOffset"], time_text(d["DSTStart"]), time_text(d["DSTEnd"]),
                    d.get("StandardName", "").replace(";", " "), d.get("DSTName", "").replace(";", " ")))


def add_recurrence(vcal: VCal, fields: sif.Fields, start: Optional[str], all_day: bool) -> None:
    """RRULE, EXDATE and RDATE lines for a SIF recurrence pattern."""
    if not sif.flag(fields, "IsRecurring"):
        return
    kind = _int(sif.text(fields, "RecurrenceType"), 0)
    interval = max(_int(sif.text(fields, "Interval"), 1), 1)
    days = _days(sif.text(fields, "DayOfWeekMask"))
    start_day = datetime.strptime(start[:8], "%Y%m%d") if start else None
    instance = _int(sif.text(fields, "Instance"), 1)
    occurrence = "1-" if instance == 5 or instance < 0 else f"{max(instance, 1)}+"
    month = _int(sif.text(fields, "MonthOfYear"), start_day.month if start_day else 1)
    day_of_month = _int(sif.text(fields, "DayOfMonth"), start_day.day if start_day else 1)
    if kind in (5, 6) and interval >= 12 and interval % 12 == 0:
        interval //= 12  # Outlook counts years in months
    if kind == 0:
        rule = f"W1 {' '.join(days)}" if days else f"D{interval}"
    elif kind == 1:
        rule = f"W{interval} " + " ".join(days or ([_WEEKDAYS[start_day.weekday()]] if start_day else []))
    elif kind == 2:
        rule = f"MD{interval} {day_of_month}"
    elif kind == 3:
        rule = f"MP{interval} {occurrence} " + " ".join(days or ([_WEEKDAYS[start_day.weekday()]] if start_day else []))
    elif kind == 5:
        rule = f"YM{interval} {month}"
    elif kind == 6:
        rule = f"YM{interval} {month} MP1 {occurrence} " + " ".join(days[:1] or ["SU"])
    else:
        raise InvalidData(f"unknown SIF RecurrenceType {kind}")
    if sif.flag(fields, "NoEndDate"):
        rule += " #0"
    elif _int(sif.text(fields, "Occurrences"), 0) > 0:
        rule += f" #{_int(sif.text(fields, 'Occurrences'), 0)}"
    elif sif.text(fields, "PatternEndDate"):
        end = time_text(sif.text(fields, "PatternEndDate"))
        rule += " " + (end[:8] + "T000000" if all_day or len(end) == 8 else end)
    else:
        rule += " #0"
    vcal.add("RRULE", rule)
    exceptions = fields.get("Exceptions")
    if isinstance(exceptions, list):
        clock = _local_clock(vcal, start)
        for tag, name in (("ExcludeDate", "EXDATE"), ("IncludeDate", "RDATE")):
            values = []
            for t, v in exceptions:
                if t == tag and isinstance(v, str) and v:
                    text = time_text(v)
                    if len(text) == 8:
                        text += "T000000" if all_day else clock
                    values.append(text)
            if values:
                vcal.add(name, ";".join(values))


def vcal_categories(value: Optional[str]) -> Optional[str]:
    """SIF Categories (``A, B`` or ``A;B``) as a vCalendar 1.0 CATEGORIES value."""
    items = [v.strip() for v in re.split(r"[;,]", value or "") if v.strip()]
    return ";".join(escape_legacy(v, ",;") for v in items) or None


def sif_categories(item: Component) -> Optional[str]:
    """The SIF Categories of a vCalendar 1.0 item we wrote."""
    return ", ".join(split_legacy(item.value("CATEGORIES") or "")) or None


def _local_clock(vcal: VCal, start: Optional[str]) -> str:
    """``T``-time of day of ``start`` as the device's zone shows it: the time an
    exception given as a date (its local day) falls at."""
    if not start or len(start) <= 8:
        return ""
    if not start.endswith("Z"):
        return start[8:]
    head = [parse_components(f"BEGIN:X\r\n{line}\r\nEND:X\r\n".encode())[0].properties[0]
            for line in vcal.head]
    utc = datetime.strptime(start[:16], "%Y%m%dT%H%M%SZ")
    rule = device_rule(Component("VCALENDAR", head), utc.year)
    if rule is None:
        return start[8:]
    local = utc.replace(tzinfo=timezone.utc).astimezone(RuleZone(rule)).replace(tzinfo=None)
    return local.strftime("T%H%M%S")


def alarm_text(subject: Optional[str]) -> str:
    """A DALARM's display text (the item's subject), escaped for its ``;`` list."""
    return (subject or "Reminder").replace("\\", "\\\\").replace(";", "\\;")


def alarm_at(start: str, minutes: int) -> str:
    """The vCalendar time ``minutes`` before ``start`` (same form: UTC or local)."""
    when = datetime.strptime(start[:15].ljust(15, "0") if "T" in start else start[:8] + "T000000", "%Y%m%dT%H%M%S")
    when -= timedelta(minutes=minutes)
    return when.strftime("%Y%m%dT%H%M%S") + ("Z" if start.endswith("Z") else "")


# -- vCalendar -> SIF ---------------------------------------------------------------------


def parse_vcal(data: bytes) -> tuple[dict, Component]:
    """A vCalendar 1.0 item we wrote: its calendar-level lines (TZ, DAYLIGHT list) and its
    one component with values decoded (``prop.value``; texts unescaped, lists as written)."""
    roots = parse_components(join_soft_breaks(data.decode("utf-8")).encode("utf-8"))
    cal = roots[0]
    item = next(c for c in cal.components if c.name in ("VEVENT", "VTODO"))
    for prop in item.properties:
        prop.value = decode_value(prop)
        if prop.name in ("SUMMARY", "DESCRIPTION", "LOCATION") or prop.name.startswith("X-"):
            prop.value = unescape_legacy(prop.value)
    head = {"TZ": cal.value("TZ"), "DAYLIGHT": [p.value for p in cal.get_all("DAYLIGHT")]}
    return head, item


def timezone_field(head: dict) -> Optional[list]:
    if not head.get("TZ"):
        return None
    out: list = [("BasicOffset", head["TZ"])]
    for value in head["DAYLIGHT"]:
        parts = split_raw(value, ";") + [""] * 6
        if parts[0].upper() == "TRUE":
            out.append(("DayLight", [("DSTOffset", parts[1]), ("DSTStart", parts[2]), ("DSTEnd", parts[3]),
                                     ("StandardName", parts[4]), ("DSTName", parts[5])]))
    return out


def recurrence_fields(item: Component, start: Optional[str], all_day: bool) -> list[tuple[str, object]]:
    """SIF recurrence fields for the item's 1.0 RRULE, EXDATE and RDATE (``IsRecurring``
    0 when it has none SIF can say)."""
    rule = item.value("RRULE")
    tokens = rule.split() if rule else []
    out: list[tuple[str, object]] = []
    pattern = _pattern(tokens)
    if pattern is None or start is None:
        return [("IsRecurring", "0")]
    kind, interval, days, extra, duration = pattern
    out += [("IsRecurring", "1"), ("RecurrenceType", str(kind)), ("Interval", str(interval))]
    mask = sum(1 << _MASK_DAYS.index(d) for d in days)
    if mask:
        out.append(("DayOfWeekMask", str(mask)))
    out += extra
    out.append(("PatternStartDate", sif_date(start) if all_day else start))
    if duration == "#0":
        out.append(("NoEndDate", "1"))
    elif duration.startswith("#"):
        out += [("NoEndDate", "0"), ("Occurrences", duration[1:])]
    else:
        out += [("NoEndDate", "0"), ("PatternEndDate", sif_date(duration) if all_day else duration)]
    exceptions = []
    for name, tag in (("EXDATE", "ExcludeDate"), ("RDATE", "IncludeDate")):
        for prop in item.get_all(name):
            for value in re.split(r"[;,]", prop.value):
                if value.strip():
                    exceptions.append((tag, sif_date(value.strip()) if all_day else value.strip()))
    if exceptions:
        out.append(("Exceptions", exceptions))
    return out


def _pattern(tokens: list[str]):
    if not tokens:
        return None
    m = re.match(r"^(D|W|MP|MD|YM|YD)(\d+)$", tokens[0])
    if m is None:
        return None
    head, interval = m.group(1), int(m.group(2))
    rest, duration = tokens[1:-1], tokens[-1]
    if head == "D" and not rest:
        return 0, interval, [], [], duration
    if head == "W" and rest and all(t in _MASK_DAYS for t in rest):
        return 1, interval, rest, [], duration
    if head == "MD" and len(rest) == 1 and rest[0].isdigit():
        return 2, interval, [], [("DayOfMonth", rest[0])], duration
    if head == "MP" and len(rest) == 2 and re.match(r"^[1-5][+-]$", rest[0]) and rest[1] in _MASK_DAYS:
        return 3, interval, [rest[1]], [("Instance", _instance(rest[0]))], duration
    if head == "YM" and len(rest) == 1 and rest[0].isdigit():
        return 5, interval, [], [("MonthOfYear", rest[0])], duration
    if (head == "YM" and len(rest) == 4 and rest[0].isdigit() and rest[1] == "MP1"
            and re.match(r"^[1-5][+-]$", rest[2]) and rest[3] in _MASK_DAYS):
        return 6, interval, [rest[3]], [("MonthOfYear", rest[0]), ("Instance", _instance(rest[2]))], duration
    return None


def _instance(occurrence: str) -> str:
    return "5" if occurrence.endswith("-") else occurrence[0]


def reminder_minutes(item: Component, anchor: Optional[str]) -> Optional[int]:
    """Minutes before ``anchor`` of the item's first alarm (None without one)."""
    alarm = item.get("AALARM") or item.get("DALARM")
    if alarm is None or not anchor:
        return None
    run = split_raw(alarm.value, ";")[0].strip()
    try:
        a = datetime.strptime(anchor[:15] if "T" in anchor else anchor[:8] + "T000000", "%Y%m%dT%H%M%S")
        r = datetime.strptime(run[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return int((a - r).total_seconds() // 60)


def alarm_time(item: Component) -> Optional[str]:
    alarm = item.get("AALARM") or item.get("DALARM")
    return split_raw(alarm.value, ";")[0].strip() if alarm is not None else None
