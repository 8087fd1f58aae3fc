"""EAS Calendar items (MS-ASCAL) <-> iCalendar VEVENT objects.

``to_application_data`` shows a stored event (master, EXDATEs and RECURRENCE-ID
overrides) as an ``AirSync:ApplicationData``; ``from_application_data`` turns a device's
one into the iCalendar bytes to store. With ``existing`` it starts from the stored
object and touches only what EAS carries, and of that only what the device actually
changed: a field the device leaves out keeps its stored value, and a field whose value
is what the stored object would have shown keeps its stored form (parameters and all).
So what a CalDAV client set that EAS has no field for (X- properties, URL, ATTACH,
attendee parameters, further VALARMs ...) survives an edit on the phone.

Mappings worth knowing: BusyStatus is TRANSP plus X-MICROSOFT-CDO-BUSYSTATUS;
Sensitivity 1 (personal) is CLASS:X-PERSONAL; AttendeeStatus 0 is an ATTENDEE without
PARTSTAT; MeetingStatus is derived (attendees: 1, cancelled: 5) since whether the
account is the organizer is not known here; all-day events are DATE values, shown to
devices as midnight UTC; RRULEs EAS cannot express are not shown (the event shows as
its first instance) and are kept as long as the device sends no Recurrence.
"""

from __future__ import annotations

import copy
import functools
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import (
    Component,
    Property,
    content_lines,
    parse_components,
    parse_lines,
    serialize,
    share_blocks,
    split_raw,
    unescape_text,
)
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.icaltime import (
    IanaZone,
    Time,
    Zone,
    parse_duration,
    parse_time,
    prop_time,
    prop_times,
    zones_of,
)
from smsync.protocols.eas.convert import (
    BASE,
    ConversionError,
    body_element,
    body_text,
    eas_compact_date,
    parse_eas_date,
)
from smsync.protocols.eas.timezone import UTC_INFO, build_blob, device_zone, info_from_zone
from smsync.protocols.eas.wbxml import Element

CLASS = "Calendar"
CAL = "Calendar:"
PRODID = "-//smsync//EAS//EN"

_EPOCH = datetime(1970, 1, 1)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # EAS DayOfWeek bit i is _DAYS[i]
_BUSY = {"FREE": "0", "TENTATIVE": "1", "BUSY": "2", "OOF": "3", "WORKINGELSEWHERE": "4"}
_BUSY_NAMES = {v: k for k, v in _BUSY.items()}
_CLASSES = {"PUBLIC": "0", "X-PERSONAL": "1", "PRIVATE": "2", "CONFIDENTIAL": "3"}
_CLASS_NAMES = {v: k for k, v in _CLASSES.items()}
_PARTSTAT = {"TENTATIVE": "2", "ACCEPTED": "3", "DECLINED": "4", "NEEDS-ACTION": "5"}
_PARTSTAT_NAMES = {v: k for k, v in _PARTSTAT.items()}
_UTC_IDS = ("UTC", "Etc/UTC", "GMT", "Etc/GMT")


def _version(version: str) -> tuple[int, int]:
    try:
        major, _, minor = (version or "").partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        return (14, 1)


def _e(tag: str, text=None, children=(), ns: str = CAL) -> Element:
    return Element(ns, tag, tuple(children), None if text is None else str(text))


@functools.lru_cache(maxsize=512)
def _leaf(tag: str, text: str, ns: str = CAL) -> Element:
    """``_e(tag, text)`` for the fields that take few values (BusyStatus, AttendeeType,
    the Timezone blob of a calendar...): Elements are immutable, so events share one."""
    return _e(tag, text, ns=ns)


def _escape(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c >= " " or c in "\n\t")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _split_list(value: str) -> list[str]:
    """The items of a TEXT list (cut at commas not escaped), unescaped. (A look-behind
    for the backslash took ``\\\\,`` -- an escaped backslash, then a comma -- for an
    escaped comma.)"""
    return [unescape_text(v) for v in split_raw(value, ",") if v != ""]


def _load(data: bytes) -> tuple[Component, list[Component]]:
    try:
        roots = parse_components(data)
    except InvalidData as e:
        raise ConversionError(f"unreadable iCalendar: {e}") from None
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise ConversionError("not one VCALENDAR")
    events = [c for c in roots[0].components if c.name == "VEVENT"]
    if not events:
        raise ConversionError("no VEVENT")
    return roots[0], events


class _ShownZone:
    """What showing an event needs of one of its calendar's VTIMEZONEs: its TZID, its
    icaltime zone and (``info``) its EAS rule in a year.

    Every event of a calendar repeats the same VTIMEZONE, so ``_load_shown`` reads each
    distinct one once and shares it between events. Nothing here can be changed through
    it: the VTIMEZONE component it was read from stays private (``info_from_zone`` only
    reads it) and the per-year rules are immutable values.
    """

    __slots__ = ("name", "tzid", "zone", "_vtimezone", "_infos")

    def __init__(self, vtimezone: Component):
        # zones_of on the VTIMEZONE alone: its TZID and zone are exactly the entry it
        # makes in its calendar's zones, errors (no TZID, unreadable rules) included.
        ((self.tzid, self.zone),) = zones_of(Component("VCALENDAR", [], [vtimezone])).items()
        self.name = "VTIMEZONE"
        self._vtimezone = vtimezone
        self._infos: dict[int, object] = {}

    def info(self, year: int):
        """``info_from_zone`` of the VTIMEZONE in ``year`` (ConversionError likewise)."""
        info = self._infos.get(year)
        if info is None:
            info = info_from_zone(self._vtimezone, year)
            if len(self._infos) >= 64:
                self._infos.clear()
            self._infos[year] = info
        return info


#: VTIMEZONE blocks (their lines joined) -> their _ShownZone, or None for one that
#: does not read on its own (it is then parsed in place, errors and all).
_SHOWN_ZONES: dict[str, Optional[_ShownZone]] = {}
_SHOWN_ZONES_MAX = 256
#: Longer blocks are not kept (a cache of a few huge crafted ones would hold memory).
_SHOWN_ZONE_MAX_TEXT = 16384


def _shown_zone(lines: list[str]) -> Optional[_ShownZone]:
    key = "\n".join(lines)
    try:
        return _SHOWN_ZONES[key]
    except KeyError:
        pass
    try:
        (comp,) = parse_lines(lines)
        shown = _ShownZone(comp)
    except Exception:  # noqa: BLE001 - read in place instead, where it fails as it always did
        shown = None
    if len(key) <= _SHOWN_ZONE_MAX_TEXT:
        if len(_SHOWN_ZONES) >= _SHOWN_ZONES_MAX:
            _SHOWN_ZONES.clear()
        _SHOWN_ZONES[key] = shown
    return shown


def _load_shown(data: bytes) -> tuple[list[Component], list[_ShownZone]]:
    """``_load`` for showing an event: its VEVENTs and its calendar's VTIMEZONEs (in
    order), each VTIMEZONE written as its lines usually are read once per distinct text.

    A block of lines from ``BEGIN:VTIMEZONE`` to the next ``END:VTIMEZONE`` that parses
    on its own parses the same inside any calendar, so the calendar is parsed with the
    block's shared reading standing in for it. Anything unusual (a block that does not
    parse, one that is not a child of the VCALENDAR, an error anywhere) goes the way of
    ``_load``, which gives the same result or error as before.
    """
    try:
        lines = content_lines(data)
    except InvalidData as e:
        raise ConversionError(f"unreadable iCalendar: {e}") from None
    shared = share_blocks(lines, "VTIMEZONE", _shown_zone)
    if shared:
        try:
            roots = parse_lines(lines)
        except InvalidData:
            roots = None
        if (roots is None or len(roots) != 1 or roots[0].name != "VCALENDAR"
                or sum(c.__class__ is _ShownZone for c in roots[0].components) != shared):
            shared = 0  # the rare odd object: read it all as _load does
    if not shared:
        cal, events = _load(data)
        return events, [_ShownZone(c) for c in cal.components if c.name == "VTIMEZONE"]
    cal = roots[0]
    events = [c for c in cal.components if c.name == "VEVENT"]
    if not events:
        raise ConversionError("no VEVENT")
    return events, [c if c.__class__ is _ShownZone else _ShownZone(c)
                    for c in cal.components if c.name == "VTIMEZONE"]


def _master(events: list[Component]) -> Component:
    return next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])


# -- times ------------------------------------------------------------------------------


def _utc(epoch: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=epoch)


#: Epochs of 1000-01-01 and 10000-01-01: between them ``_compact`` formats the fields
#: of ``time.gmtime`` (as ``eas_compact_date`` writes them, faster).
_COMPACT_RANGE = (-30610224000, 253402300800)


def _compact(epoch: int) -> str:
    if epoch.__class__ is int and _COMPACT_RANGE[0] <= epoch < _COMPACT_RANGE[1]:
        return "%04d%02d%02dT%02d%02d%02dZ" % time.gmtime(epoch)[:6]
    return eas_compact_date(_utc(epoch))


def _local(epoch: int, zone: Zone) -> tuple[datetime, bool]:
    """The wall-clock time of ``epoch`` in ``zone`` and whether it reads back exactly
    (the second pass of an hour that repeats does not)."""
    utc = _EPOCH + timedelta(seconds=epoch)
    guess = utc
    for _ in range(3):
        offset = (guess - _EPOCH) - timedelta(seconds=zone.epoch(guess))
        candidate = utc + offset
        if zone.epoch(candidate) == epoch:
            return candidate, True
        guess = candidate
    return guess, False


def _end_epoch(comp: Component, start: Time, zones) -> int:
    end = comp.get("DTEND")
    if end is not None:
        return prop_time(end, zones).epoch
    duration = comp.get("DURATION")
    if duration is not None:
        return parse_duration(duration.value).end_epoch(start)
    return start.epoch + (86400 if start.is_date else 0)


def _times(comp: Component, zones) -> tuple[Time, int, int]:
    prop = comp.get("DTSTART")
    if prop is None:
        raise ConversionError("VEVENT without DTSTART")
    start = prop_time(prop, zones)
    return start, start.epoch, _end_epoch(comp, start, zones)


def _time_value(epoch: int, tzid: Optional[str], zones, is_date: bool) -> Property:
    """A DTSTART-like property for ``epoch``: a DATE (``epoch`` at midnight UTC), or
    the local time in ``tzid``, or UTC when there is no zone or the local time would
    not read back as ``epoch``."""
    if is_date:
        return Property("X", _utc(epoch).strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    if tzid is not None:
        local, exact = _local(epoch, zones[tzid])
        if exact:
            return Property("X", local.strftime("%Y%m%dT%H%M%S"), [("TZID", [tzid])])
    return Property("X", _utc(epoch).strftime("%Y%m%dT%H%M%SZ"))


def _set_time(comp: Component, name: str, value: Property) -> None:
    old = comp.get(name)
    value.name = name
    if old is None:
        comp.properties.append(value)
    else:
        comp.properties[comp.properties.index(old)] = value


def _remove(comp: Component, *names: str) -> None:
    comp.properties = [p for p in comp.properties if p.name not in names]


def _set_text(comp: Component, name: str, text: Optional[str]) -> None:
    """Set (or with None or "" remove) a TEXT property, keeping its place and params."""
    old = comp.get(name)
    if not text:
        _remove(comp, name)
    elif old is None:
        comp.properties.append(Property(name, _escape(text)))
    else:
        old.value = _escape(text)


# -- the fields of one component --------------------------------------------------------


def _text(comp: Component, name: str) -> Optional[str]:
    value = comp.value(name)
    return unescape_text(value) if value else None


def _busy(comp: Component) -> str:
    cdo = (comp.value("X-MICROSOFT-CDO-BUSYSTATUS") or "").strip().upper()
    if cdo in _BUSY:
        return _BUSY[cdo]
    if (comp.value("TRANSP") or "").strip().upper() == "TRANSPARENT":
        return "0"
    if (comp.value("STATUS") or "").strip().upper() == "TENTATIVE":
        return "1"
    return "2"


def _sensitivity(comp: Component) -> str:
    return _CLASSES.get((comp.value("CLASS") or "PUBLIC").strip().upper(), "2")


def _alarm(comp: Component) -> Optional[Component]:
    return next((c for c in comp.components if c.name == "VALARM" and c.get("TRIGGER") is not None), None)


def _reminder(comp: Component, start: Time, end_epoch: int, zones) -> Optional[str]:
    alarm = _alarm(comp)
    if alarm is None:
        return None
    trigger = alarm.get("TRIGGER")
    try:
        if (trigger.param("VALUE") or "").upper() == "DATE-TIME":
            seconds = start.epoch - parse_time(trigger.value, None).epoch
        else:
            offset = parse_duration(trigger.value).total
            if (trigger.param("RELATED") or "").upper() == "END":
                offset += end_epoch - start.epoch
            seconds = -offset
    except InvalidData:
        return None
    return str(seconds // 60) if seconds >= 0 else None


def _categories(comp: Component) -> tuple[str, ...]:
    return tuple(v for p in comp.get_all("CATEGORIES") for v in _split_list(p.value))


def _email(value: str) -> str:
    value = value.strip()
    return value[7:] if value.lower().startswith("mailto:") else value


def _attendee(prop: Property) -> tuple[str, str, str, str]:
    email = _email(prop.value)
    params: dict[str, str] = {}  # each parameter's first value, as Property.param gives it
    for key, values in prop.params:
        if key not in params:
            params[key] = values[0] if values else ""
    name = params.get("CN") or email
    status = _PARTSTAT.get((params.get("PARTSTAT") or "").upper(), "0")
    cutype = (params.get("CUTYPE") or "").upper()
    role = (params.get("ROLE") or "").upper()
    kind = "3" if cutype in ("RESOURCE", "ROOM") else "2" if role in ("OPT-PARTICIPANT", "NON-PARTICIPANT") else "1"
    return email, name, status, kind


def _cancelled(comp: Component) -> bool:
    return (comp.value("STATUS") or "").strip().upper() == "CANCELLED"


def _meeting_status(comp: Component) -> str:
    cancelled = _cancelled(comp)
    if comp.get("ATTENDEE") is None:
        return "0"
    return "5" if cancelled else "1"


def _response_requested(comp: Component) -> Optional[str]:
    attendees = comp.get_all("ATTENDEE")
    if not attendees:
        return None
    return "1" if any((a.param("RSVP") or "").upper() == "TRUE" for a in attendees) else "0"


def _location_element(text: str, ver) -> Element:
    if ver >= (16, 0):
        return _e("Location", None, [_e("DisplayName", text, ns=BASE)], ns=BASE)
    return _e("Location", text)


def _location_text(app: Element) -> Optional[str]:
    """The device's location: None if it sent none, "" to clear it."""
    location = app.find(CAL, "Location")
    if location is not None:
        return location.text or ""
    location = app.find(BASE, "Location")
    if location is not None:
        name = location.find(BASE, "DisplayName")
        return (name.text or "") if name is not None else ""
    return None


# -- recurrence -------------------------------------------------------------------------

_RECURRENCE_ORDER = ("Type", "Occurrences", "Interval", "WeekOfMonth", "DayOfWeek", "MonthOfYear",
                     "Until", "DayOfMonth", "FirstDayOfWeek")


def _byday(value: str) -> list[tuple[Optional[int], int]]:
    out = []
    for item in value.split(","):
        match = re.match(r"^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$", item.strip().upper())
        if match is None:
            raise ValueError(item)
        out.append((int(match.group(1)) if match.group(1) else None, _DAYS.index(match.group(2))))
    return out


def _mask(days) -> int:
    return sum(1 << d for d in set(days))


def _recurrence(comp: Component, start: Time, zones, ver) -> Optional[Element]:
    """The Recurrence element of a master's RRULE, or None (no RRULE, or one EAS cannot
    express)."""
    rules = comp.get_all("RRULE")
    if len(rules) != 1:
        return None
    try:
        parts = {}
        for piece in rules[0].value.strip().upper().split(";"):
            if piece:
                key, _, value = piece.partition("=")
                parts[key] = value
        fields = _rule_fields(parts, start, zones, comp)
    except (ValueError, IndexError, InvalidData):
        return None
    if fields is None:
        return None
    if "FirstDayOfWeek" in fields and ver < (14, 1):
        del fields["FirstDayOfWeek"]
    return _e("Recurrence", None, [_e(k, fields[k]) for k in _RECURRENCE_ORDER if k in fields])


def _rule_fields(parts: dict, start: Time, zones, comp) -> Optional[dict]:
    freq = parts.pop("FREQ", "")
    fields: dict = {}
    interval = int(parts.pop("INTERVAL", "1"))
    if interval < 1 or interval > 999:
        return None
    if "COUNT" in parts:
        fields["Occurrences"] = str(int(parts.pop("COUNT")))
    if "UNTIL" in parts:
        until = parse_time(parts.pop("UNTIL"), start.zone)
        epoch = until.epoch
        if until.is_date and not start.is_date:
            epoch = Time(datetime.combine(until.local.date(), start.local.time()), start.zone).epoch
        fields["Until"] = _compact(epoch)
    if "WKST" in parts:
        fields["FirstDayOfWeek"] = str(_DAYS.index(parts.pop("WKST")))
    byday = _byday(parts.pop("BYDAY")) if "BYDAY" in parts else []
    months = [int(v) for v in parts.pop("BYMONTH", "").split(",") if v]
    monthdays = [int(v) for v in parts.pop("BYMONTHDAY", "").split(",") if v]
    setpos = [int(v) for v in parts.pop("BYSETPOS", "").split(",") if v]
    if parts:
        return None  # BYHOUR, BYYEARDAY, BYWEEKNO...: nothing EAS has
    weekday = (start.local.weekday() + 1) % 7
    fields["Interval"] = str(interval)
    plain_days = byday and all(n is None for n, _ in byday)

    def nth_weekday() -> bool:
        if setpos:
            if len(setpos) != 1 or not plain_days or setpos[0] not in (1, 2, 3, 4, -1):
                return False
            nth, days = setpos[0], [d for _, d in byday]
        else:
            if len(byday) != 1 or byday[0][0] not in (1, 2, 3, 4, -1):
                return False
            nth, days = byday[0][0], [byday[0][1]]
        fields["WeekOfMonth"] = str(5 if nth == -1 else nth)
        fields["DayOfWeek"] = str(_mask(days))
        return True

    if freq in ("DAILY", "WEEKLY"):
        if months or monthdays or setpos or (byday and not plain_days):
            return None
        fields["Type"] = "0" if freq == "DAILY" else "1"
        if byday or freq == "WEEKLY":
            fields["DayOfWeek"] = str(_mask([d for _, d in byday] or [weekday]))
        return fields
    if freq not in ("MONTHLY", "YEARLY") or len(months) > 1 or len(monthdays) > 1:
        return None
    if freq == "MONTHLY" and months:
        return None
    if freq == "YEARLY":
        fields["MonthOfYear"] = str(months[0] if months else start.local.month)
    if byday:
        if monthdays or not nth_weekday():
            return None
        fields["Type"] = "3" if freq == "MONTHLY" else "6"
        return fields
    if setpos or (monthdays and not 1 <= monthdays[0] <= 31):
        return None
    fields["Type"] = "2" if freq == "MONTHLY" else "5"
    fields["DayOfMonth"] = str(monthdays[0] if monthdays else start.local.day)
    return fields


def _number(element: Element, tag: str, low: int, high: int) -> Optional[int]:
    child = element.find(CAL, tag)
    if child is None:
        return None
    text = (child.text or "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConversionError(f"Recurrence {tag} {text!r} out of range"[:80])
    return int(text)


def _read_recurrence(rec: Element, start_local: datetime) -> dict:
    """A device's Recurrence as a dict of its fields, defaults filled from the start.

    Raises:
        ConversionError: a missing or unknown Type, values out of range, or both
            Occurrences and Until.
    """
    kind = _number(rec, "Type", 0, 6)
    if kind is None or kind == 4:
        raise ConversionError("Recurrence without a valid Type")
    fields = {"Type": kind, "Interval": _number(rec, "Interval", 1, 999) or 1}
    occurrences = _number(rec, "Occurrences", 1, 999999)
    until = rec.find(CAL, "Until")
    if occurrences is not None and until is not None:
        raise ConversionError("Recurrence with both Occurrences and Until")
    if occurrences is not None:
        fields["Occurrences"] = occurrences
    if until is not None:
        fields["Until"] = parse_eas_date(until.text)
    fdow = _number(rec, "FirstDayOfWeek", 0, 6)
    if fdow is not None:
        fields["FirstDayOfWeek"] = fdow
    dow = _number(rec, "DayOfWeek", 1, 127)
    weekday = 1 << ((start_local.weekday() + 1) % 7)
    if kind == 0:
        if dow is not None and dow != 127:
            fields["DayOfWeek"] = dow
    elif kind == 1:
        fields["DayOfWeek"] = dow or weekday
    elif kind in (2, 5):
        fields["DayOfMonth"] = _number(rec, "DayOfMonth", 1, 31) or start_local.day
    else:
        week = _number(rec, "WeekOfMonth", 1, 5)
        if week is None or dow is None:
            raise ConversionError("Recurrence of the nth weekday without WeekOfMonth and DayOfWeek")
        fields["WeekOfMonth"], fields["DayOfWeek"] = week, dow
    if kind in (5, 6):
        fields["MonthOfYear"] = _number(rec, "MonthOfYear", 1, 12) or start_local.month
    return fields


def _rrule_text(fields: dict, all_day: bool, until_zone: Zone) -> str:
    kind = fields["Type"]
    parts = ["FREQ=" + {0: "DAILY", 1: "WEEKLY", 2: "MONTHLY", 3: "MONTHLY", 5: "YEARLY", 6: "YEARLY"}[kind]]
    if fields["Interval"] != 1:
        parts.append(f"INTERVAL={fields['Interval']}")
    if "Occurrences" in fields:
        parts.append(f"COUNT={fields['Occurrences']}")
    if "Until" in fields:
        until = fields["Until"]
        if all_day:
            local, _ = _local(int(until.timestamp()), until_zone)
            parts.append("UNTIL=" + local.strftime("%Y%m%d"))
        else:
            parts.append("UNTIL=" + until.strftime("%Y%m%dT%H%M%SZ"))
    days = [_DAYS[i] for i in range(7) if fields.get("DayOfWeek", 0) & (1 << i)]
    if kind in (5, 6):
        parts.append(f"BYMONTH={fields['MonthOfYear']}")
    if kind in (0, 1) and days:
        parts.append("BYDAY=" + ",".join(days))
    elif kind in (2, 5):
        parts.append(f"BYMONTHDAY={fields['DayOfMonth']}")
    elif kind in (3, 6):
        nth = -1 if fields["WeekOfMonth"] == 5 else fields["WeekOfMonth"]
        if len(days) == 1:
            parts.append(f"BYDAY={nth}{days[0]}")
        else:
            parts.append("BYDAY=" + ",".join(days))
            parts.append(f"BYSETPOS={nth}")
    if "FirstDayOfWeek" in fields:
        parts.append("WKST=" + _DAYS[fields["FirstDayOfWeek"]])
    return ";".join(parts)


# -- iCalendar -> EAS -------------------------------------------------------------------


def _zone_info(cal: Component, prop: Property, zones, year: int):
    tzid = prop.param("TZID")
    if tzid is None:
        return UTC_INFO
    zone = zones.get(tzid.strip())
    if isinstance(zone, IanaZone):
        return info_from_zone(zone.info, year)
    for comp in cal.components:
        if comp.name == "VTIMEZONE" and (comp.value("TZID") or "").strip() == tzid.strip():
            return info_from_zone(comp, year)
    return UTC_INFO


def _shown_zone_info(vtimezones: list[_ShownZone], prop: Property, zones, year: int):
    """``_zone_info`` over the VTIMEZONEs ``_load_shown`` gives."""
    tzid = prop.param("TZID")
    if tzid is None:
        return UTC_INFO
    tzid = tzid.strip()
    zone = zones.get(tzid)
    if isinstance(zone, IanaZone):
        return info_from_zone(zone.info, year)
    for vtz in vtimezones:
        if vtz.tzid == tzid:
            return vtz.info(year)
    return UTC_INFO


def _common(comp: Component, zones, ver, truncation, master: Optional[Component],
            times: tuple[Time, int, int], master_times: Optional[tuple[Time, int, int]]) -> list[Element]:
    """The fields an event and an exception share, in schema order; for an exception
    (``master`` given) only those that differ from the master's. ``times`` and
    ``master_times`` are the ``_times`` of ``comp`` and ``master``."""
    start = times[0]
    out = []

    def differs(fn, *args):
        return master is None or fn(comp, *args) != fn(master, *args)

    if master is None or start.is_date != master_times[0].is_date:
        out.append(_leaf("AllDayEvent", "1" if start.is_date else "0"))
    description = _text(comp, "DESCRIPTION")
    shown_body = description if master is None else description != _text(master, "DESCRIPTION")
    if ver >= (12, 0) and shown_body:
        out.append(body_element(description or "", truncation))
    busy = _busy(comp)
    if master is None or busy != _busy(master):
        out.append(_leaf("BusyStatus", busy))
    return out


def _event_elements(comp: Component, zones, ver, truncation, master: Optional[Component] = None,
                    times: Optional[tuple[Time, int, int]] = None,
                    master_times: Optional[tuple[Time, int, int]] = None) -> list[Element]:
    """The elements of an event (or, with ``master``, of an exception to it); ``times``
    and ``master_times`` are the ``_times`` of each when already known."""
    if times is None:
        times = _times(comp, zones)
    if master is not None and master_times is None:
        master_times = _times(master, zones)
    start, s, e = times
    out = _common(comp, zones, ver, truncation, master, times, master_times)
    if master is None:
        organizer = comp.get("ORGANIZER")
        if organizer is not None:
            email = _email(organizer.value)
            out.append(Element(CAL, "OrganizerName", (), organizer.param("CN") or email))
            out.append(Element(CAL, "OrganizerEmail", (), email))
        stamp = comp.get("DTSTAMP")
        if stamp is not None:
            try:
                out.append(Element(CAL, "DtStamp", (), _compact(prop_time(stamp, zones).epoch)))
            except InvalidData:
                pass
    out.append(Element(CAL, "EndTime", (), _compact(e)))
    location = _text(comp, "LOCATION")
    if location and (master is None or location != _text(master, "LOCATION")):
        out.append(_location_element(location, ver))
    reminder = _reminder(comp, start, e, zones)
    if reminder is not None and (master is None or reminder != _reminder(master, master_times[0], master_times[2], zones)):
        out.append(_leaf("Reminder", reminder))
    sensitivity = _sensitivity(comp)
    if master is None or sensitivity != _sensitivity(master):
        out.append(_leaf("Sensitivity", sensitivity))
    subject = _text(comp, "SUMMARY")
    if subject and (master is None or subject != _text(master, "SUMMARY")):
        out.append(Element(CAL, "Subject", (), subject))
    out.append(Element(CAL, "StartTime", (), _compact(s)))
    return out


def _attendee_elements(comp: Component, ver) -> list[Element]:
    out = []
    for prop in comp.get_all("ATTENDEE"):
        email, name, status, kind = _attendee(prop)
        if not email:
            continue
        if ver >= (12, 0):
            children = (Element(CAL, "Email", (), email), Element(CAL, "Name", (), name),
                        _leaf("AttendeeStatus", status), _leaf("AttendeeType", kind))
        else:
            children = (Element(CAL, "Email", (), email), Element(CAL, "Name", (), name))
        out.append(Element(CAL, "Attendee", children))
    return out


def _exception_key(epoch: int, ver) -> Element:
    if ver >= (16, 0):
        return _e("InstanceId", _compact(epoch), ns=BASE)
    return _e("ExceptionStartTime", _compact(epoch))


def _exceptions(master: Component, overrides: list[Component], master_times: tuple[Time, int, int],
                zones, ver, truncation) -> list[Element]:
    start = master_times[0]
    out: dict[int, Element] = {}
    for prop in master.get_all("EXDATE"):
        for t, _ in prop_times(prop, zones):
            epoch = t.epoch
            if t.is_date and not start.is_date:
                epoch = Time(datetime.combine(t.local.date(), start.local.time()), start.zone).epoch
            out[epoch] = _e("Exception", None, [_leaf("Deleted", "1"), _exception_key(epoch, ver)])
    for comp in overrides:
        rid = prop_time(comp.get("RECURRENCE-ID"), zones).epoch
        if _cancelled(comp) and not _cancelled(master):  # one instance called off
            out[rid] = _e("Exception", None, [_leaf("Deleted", "1"), _exception_key(rid, ver)])
            continue
        children = [_exception_key(rid, ver)] + _event_elements(comp, zones, ver, truncation, master,
                                                                 master_times=master_times)
        cats = _categories(comp)
        if cats != _categories(master):
            children.append(_e("Categories", None, [_e("Category", c) for c in cats]))
        out[rid] = _e("Exception", None, children)
    return [out[k] for k in sorted(out)]


def to_application_data(data: bytes, version: str, truncation: Optional[int] = None) -> Element:
    """The ``AirSync:ApplicationData`` of a stored VEVENT object for a device speaking
    EAS ``version``, the body cut to ``truncation`` bytes.

    Raises:
        ConversionError: the data is no readable VEVENT object.
    """
    try:
        return _to_application_data(data, _version(version), truncation)
    except InvalidData as e:
        raise ConversionError(f"unreadable event: {e}"[:120]) from None
    except (ValueError, OverflowError) as e:
        if isinstance(e, ConversionError):
            raise
        raise ConversionError(f"unreadable event times: {e}"[:120]) from None


def _to_application_data(data: bytes, ver, truncation) -> Element:
    events, vtimezones = _load_shown(data)
    zones = {}
    for vtz in vtimezones:
        zones[vtz.tzid] = vtz.zone
    master = _master(events)
    overrides = [e for e in events if e is not master and e.get("RECURRENCE-ID") is not None]
    times = _times(master, zones)
    start = times[0]
    info = _shown_zone_info(vtimezones, master.get("DTSTART"), zones, start.local.year)
    children = [_leaf("Timezone", build_blob(info))]
    children += _event_elements(master, zones, ver, truncation, None, times)
    uid = _text(master, "UID")
    if uid:
        children.append(Element(CAL, "UID", (), uid))
    children.append(_leaf("MeetingStatus", _meeting_status(master)))
    attendees = _attendee_elements(master, ver)
    if attendees:
        children.append(_e("Attendees", None, attendees))
    categories = _categories(master)
    if categories:
        children.append(_e("Categories", None, [_e("Category", c) for c in categories]))
    recurrence = _recurrence(master, start, zones, ver)
    if recurrence is not None:
        children.append(recurrence)
        exceptions = _exceptions(master, overrides, times, zones, ver, truncation)
        if exceptions:
            children.append(_e("Exceptions", None, exceptions))
    requested = _response_requested(master)
    if requested is not None and ver >= (14, 0):
        children.append(_leaf("ResponseRequested", requested))
    return Element("AirSync:", "ApplicationData", tuple(children))


# -- EAS -> iCalendar -------------------------------------------------------------------


def _child_text(app: Element, tag: str, ns: str = CAL) -> Optional[str]:
    """None if the device left the element out, else its text ("" when empty)."""
    child = app.find(ns, tag)
    return None if child is None else (child.text or "")


def _apply_simple(comp: Component, app: Element, ver, start: Time, end_epoch: int, zones) -> None:
    """The fields of ``app`` an event and an exception share, applied where they differ
    from what ``comp`` shows."""
    subject = _child_text(app, "Subject")
    if subject is not None and subject != (_text(comp, "SUMMARY") or ""):
        _set_text(comp, "SUMMARY", subject)
    location = _location_text(app)
    if location is not None and location != (_text(comp, "LOCATION") or ""):
        _set_text(comp, "LOCATION", location)
    if ver >= (12, 0):
        body = body_text(app)
        if body is not None and body != (_text(comp, "DESCRIPTION") or ""):
            _set_text(comp, "DESCRIPTION", body)
    busy = _child_text(app, "BusyStatus")
    if busy in _BUSY_NAMES and busy != _busy(comp):
        _remove(comp, "TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS")
        comp.properties.append(Property("TRANSP", "TRANSPARENT" if busy == "0" else "OPAQUE"))
        comp.properties.append(Property("X-MICROSOFT-CDO-BUSYSTATUS", _BUSY_NAMES[busy]))
    sensitivity = _child_text(app, "Sensitivity")
    if sensitivity in _CLASS_NAMES and sensitivity != _sensitivity(comp):
        _remove(comp, "CLASS")
        comp.properties.append(Property("CLASS", _CLASS_NAMES[sensitivity]))
    reminder = _child_text(app, "Reminder")
    if reminder is not None and reminder != (_reminder(comp, start, end_epoch, zones) or ""):
        alarm = _alarm(comp)
        if not reminder.strip().isdigit():
            if alarm is not None:
                comp.components.remove(alarm)
        elif alarm is not None:
            _remove(alarm, "TRIGGER")
            alarm.properties.append(Property("TRIGGER", f"-PT{int(reminder)}M"))
        else:
            comp.components.append(Component("VALARM", [
                Property("ACTION", "DISPLAY"), Property("DESCRIPTION", "Reminder"),
                Property("TRIGGER", f"-PT{int(reminder)}M")]))
    categories = app.find(CAL, "Categories")
    if categories is not None:
        values = tuple(c.text for c in categories.children if c.tag == "Category" and c.text)
        if values != _categories(comp):
            _remove(comp, "CATEGORIES")
            if values:
                comp.properties.append(Property("CATEGORIES", ",".join(_escape(v) for v in values)))
    status = _child_text(app, "MeetingStatus")
    if status is not None and status.isdigit():
        cancelled = int(status) & 4 != 0
        if cancelled != _cancelled(comp):
            _remove(comp, "STATUS")
            if cancelled:
                comp.properties.append(Property("STATUS", "CANCELLED"))
    stamp = _child_text(app, "DtStamp")
    if stamp:
        _set_time(comp, "DTSTAMP", Property("X", parse_eas_date(stamp).strftime("%Y%m%dT%H%M%SZ")))


def _apply_people(comp: Component, app: Element, ver) -> None:
    email = _child_text(app, "OrganizerEmail")
    name = _child_text(app, "OrganizerName")
    organizer = comp.get("ORGANIZER")
    if email:
        if organizer is None or _email(organizer.value).lower() != email.lower():
            _remove(comp, "ORGANIZER")
            organizer = Property("ORGANIZER", "mailto:" + email)
            comp.properties.append(organizer)
    if organizer is not None and name and name != (organizer.param("CN") or _email(organizer.value)):
        organizer.set_param("CN", [name])
    attendees = app.find(CAL, "Attendees")
    if attendees is not None:
        old = {_email(p.value).lower(): p for p in comp.get_all("ATTENDEE")}
        new = []
        for child in attendees.children:
            if child.tag != "Attendee":
                continue
            email = _child_text(child, "Email")
            if not email:
                continue
            prop = old.get(email.lower()) or Property("ATTENDEE", "mailto:" + email)
            _, shown_name, status, kind = _attendee(prop)
            name = _child_text(child, "Name")
            if name and name != shown_name:
                prop.set_param("CN", [name])
            new_status = _child_text(child, "AttendeeStatus")
            if new_status in ("0", "2", "3", "4", "5") and new_status != status:
                prop.set_param("PARTSTAT", [_PARTSTAT_NAMES[new_status]] if new_status != "0" else None)
            new_kind = _child_text(child, "AttendeeType")
            if new_kind in ("1", "2", "3") and new_kind != kind:
                prop.set_param("CUTYPE", ["RESOURCE"] if new_kind == "3" else None)
                prop.set_param("ROLE", ["OPT-PARTICIPANT"] if new_kind == "2" else None)
            new.append(prop)
        first = next((i for i, p in enumerate(comp.properties) if p.name == "ATTENDEE"), len(comp.properties))
        _remove(comp, "ATTENDEE")
        comp.properties[first:first] = new
    requested = _child_text(app, "ResponseRequested")
    if requested in ("0", "1") and requested != _response_requested(comp):
        for prop in comp.get_all("ATTENDEE"):
            prop.set_param("RSVP", ["TRUE"] if requested == "1" else None)


def _all_day_epochs(s: datetime, e: datetime, zone: Zone) -> tuple[int, int]:
    """An all-day event's start and end as midnights UTC of its local dates (the end
    rounded up to a whole day, at least one day after the start)."""
    start_local, _ = _local(int(s.timestamp()), zone)
    end_local, _ = _local(int(e.timestamp()), zone)
    first = start_local.date()
    last = end_local.date() + (timedelta(days=1) if end_local.time() != datetime.min.time() else timedelta(0))
    if last <= first:
        last = first + timedelta(days=1)
    midnight = lambda d: int((datetime.combine(d, datetime.min.time()) - _EPOCH).total_seconds())  # noqa: E731
    return midnight(first), midnight(last)


def _same_zone(cal: Component, master: Optional[Component], old_zones, info):
    """The stored event's TZID (None: UTC) when its rule is the device's, else False."""
    prop = master.get("DTSTART") if master is not None else None
    if prop is None:
        return False
    try:
        start = prop_time(prop, old_zones)
        if start.is_date:
            return False
        shown = _zone_info(cal, prop, old_zones, start.local.year)
    except (InvalidData, ConversionError):
        return False
    if shown.rule_key() != info.rule_key():
        return False
    tzid = prop.param("TZID")
    return tzid.strip() if tzid and tzid.strip() in old_zones else None


class _Target:
    """Where a device's times are written: the TZID (None: UTC) and the zones of the
    calendar being built."""

    def __init__(self, cal: Component, tzid: Optional[str]):
        self.cal = cal
        self.tzid = tzid
        self.zones = zones_of(cal)

    @property
    def zone(self) -> Zone:
        return self.zones[self.tzid] if self.tzid is not None else Zone()


def _target(cal: Component, master: Optional[Component], app: Element, old_zones) -> tuple[_Target, Zone]:
    """The TZID the device's times go to (adding its VTIMEZONE) and the zone in which
    the device meant its all-day dates."""
    blob = _child_text(app, "Timezone")
    if blob:
        dz = device_zone(blob)
        tzid = None if dz.tzid in _UTC_IDS else dz.tzid
        kept = _same_zone(cal, master, old_zones, dz.info)
        if kept is not False:
            tzid = kept  # the device echoes the stored zone's rule: keep its TZID
        if tzid is not None and not any(c.name == "VTIMEZONE" and (c.value("TZID") or "").strip() == tzid
                                        for c in cal.components):
            cal.components.insert(0, dz.vtimezone)
        target = _Target(cal, tzid)
        return target, target.zone
    tzid = None
    if master is not None and master.get("DTSTART") is not None:
        tzid = master.get("DTSTART").param("TZID")
        tzid = tzid.strip() if tzid else None
        if tzid is not None and tzid not in old_zones:
            tzid = None
    target = _Target(cal, tzid)
    return target, target.zone


def _apply_times(comp: Component, app: Element, target: _Target, device: Zone,
                 default_all_day: bool, default: Optional[tuple[int, int]], is_new: bool) -> tuple[bool, int, int]:
    """Apply StartTime/EndTime/AllDayEvent; returns (all day, start epoch, end epoch)."""
    start_text, end_text = _child_text(app, "StartTime"), _child_text(app, "EndTime")
    flag = _child_text(app, "AllDayEvent")
    all_day = flag == "1" if flag else default_all_day
    if not start_text and default is None:
        raise ConversionError("Calendar item without StartTime")
    s = parse_eas_date(start_text) if start_text else _utc(default[0])
    if end_text:
        e = parse_eas_date(end_text)
    elif default is not None and not start_text:
        e = _utc(default[1])
    elif default is not None:
        e = s + timedelta(seconds=default[1] - default[0])
    else:
        e = s
    if e < s:
        raise ConversionError("Calendar item ending before it starts")
    if all_day:
        s_epoch, e_epoch = _all_day_epochs(s, e, device)
    else:
        s_epoch, e_epoch = int(s.timestamp()), int(e.timestamp())
    if is_new or default != (s_epoch, e_epoch) or default_all_day != all_day or _child_text(app, "Timezone"):
        old_tzid = comp.get("DTSTART").param("TZID") if comp.get("DTSTART") is not None else None
        if not is_new and default == (s_epoch, e_epoch) and default_all_day == all_day and old_tzid == target.tzid:
            return all_day, s_epoch, e_epoch
        _set_time(comp, "DTSTART", _time_value(s_epoch, target.tzid, target.zones, all_day))
        _remove(comp, "DURATION")
        _set_time(comp, "DTEND", _time_value(e_epoch, target.tzid, target.zones, all_day))
    return all_day, s_epoch, e_epoch


def _new_calendar(uid: str) -> tuple[Component, Component]:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    event = Component("VEVENT", [Property("UID", _escape(uid)), Property("DTSTAMP", now)])
    cal = Component("VCALENDAR", [Property("VERSION", "2.0"), Property("PRODID", PRODID)], [event])
    return cal, event


def from_application_data(app: Element, version: str, existing: Optional[bytes] = None) -> bytes:
    """The iCalendar bytes to store for a device's Calendar ``ApplicationData``.

    With ``existing`` (the stored object) the result is that object with only what the
    device changed replaced: elements left out keep the stored values, properties EAS
    has no field for are kept, the UID stays. Without it a new VCALENDAR is made
    (PRODID, VERSION, VTIMEZONE when a zone is used, DTSTAMP, the device's UID or a new
    one).

    Raises:
        ConversionError: no StartTime for a new item, unreadable dates or time zone, an
            end before the start, a Recurrence that is no rule, or data that would not
            be a valid calendar object.
    """
    try:
        data = _from_application_data(app, _version(version), existing)
        summarize_calendar(data)
        return data
    except InvalidData as e:
        raise ConversionError(f"not a valid event: {e}"[:120]) from None
    except (ValueError, OverflowError) as e:
        if isinstance(e, ConversionError):
            raise
        raise ConversionError(f"unreadable event: {e}"[:120]) from None


def _from_application_data(app: Element, ver, existing: Optional[bytes]) -> bytes:
    if existing is not None:
        cal, events = _load(existing)
        old_zones = zones_of(cal)
        master = _master(events)
        old_overrides = [e for e in events if e is not master and e.get("RECURRENCE-ID") is not None]
        _, s0, e0 = _times(master, old_zones)
        default, default_all_day = (s0, e0), prop_time(master.get("DTSTART"), old_zones).is_date
        old_rids = {prop_time(o.get("RECURRENCE-ID"), old_zones).epoch: o for o in old_overrides}
    else:
        cal, master = _new_calendar(_child_text(app, "UID") or _child_text(app, "ClientUid") or str(uuid.uuid4()))
        old_zones, old_overrides, old_rids = {}, [], {}
        default, default_all_day = None, False
    target, device = _target(cal, master if existing is not None else None, app, old_zones)
    all_day, s, e = _apply_times(master, app, target, device, default_all_day, default, existing is None)
    zones = target.zones
    start = prop_time(master.get("DTSTART"), zones)
    _apply_simple(master, app, ver, start, e, zones)
    _apply_people(master, app, ver)

    rec = app.find(CAL, "Recurrence")
    if rec is not None:
        if not rec.children:
            _remove(master, "RRULE")
        else:
            fields = _read_recurrence(rec, start.local)
            shown = _recurrence(master, start, zones, (16, 1))
            if shown is None or _read_recurrence(shown, start.local) != fields:
                _remove(master, "RRULE", "RDATE")
                master.properties.append(Property("RRULE", _rrule_text(fields, all_day, device)))

    overrides = old_overrides
    exceptions = app.find(CAL, "Exceptions")
    if exceptions is not None:
        overrides = _apply_exceptions(master, exceptions, ver, target, device, all_day, s, e, old_rids, old_zones)
    if master.get("RRULE") is None and master.get("RDATE") is None:
        if exceptions is not None and any(c.tag == "Exception" for c in exceptions.children):
            raise ConversionError("Exceptions for an item that does not recur")
        overrides = []

    others = [c for c in cal.components if c.name != "VEVENT"]
    used = {p.param("TZID").strip() for c in [master, *overrides] for p in _all_props(c) if p.param("TZID")}
    others = [c for c in others if c.name != "VTIMEZONE" or (c.value("TZID") or "").strip() in used]
    cal.components = others + [master] + list(overrides)
    return serialize(cal)


def _all_props(comp: Component):
    yield from comp.properties
    for sub in comp.components:
        yield from _all_props(sub)


def _apply_exceptions(master: Component, exceptions: Element, ver, target: _Target, device: Zone,
                      all_day: bool, s: int, e: int, old_rids: dict, old_zones) -> list[Component]:
    deleted: dict[int, None] = {}
    overrides: dict[int, Component] = {}
    for exc in exceptions.children:
        if exc.tag != "Exception":
            continue
        key = _child_text(exc, "ExceptionStartTime") or _child_text(exc, "InstanceId", BASE)
        if not key:
            raise ConversionError("Exception without ExceptionStartTime")
        when = parse_eas_date(key)
        if all_day:
            rid, _ = _all_day_epochs(when, when, device)
        else:
            rid = int(when.timestamp())
        if _child_text(exc, "Deleted") == "1":
            deleted[rid] = None
            overrides.pop(rid, None)
            continue
        deleted.pop(rid, None)
        comp = old_rids.get(rid)
        fresh = comp is None
        if comp is not None:
            ostart, os, oe = _times(comp, old_zones)
            default, default_all_day = (os, oe), ostart.is_date
        else:
            comp = copy.deepcopy(master)
            _remove(comp, "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
            default, default_all_day = (rid, rid + (e - s)), all_day
        _set_time(comp, "RECURRENCE-ID", _time_value(rid, target.tzid, target.zones, all_day))
        _, os, oe = _apply_times(comp, exc, target, device, default_all_day, default, fresh)
        ostart = prop_time(comp.get("DTSTART"), target.zones)
        _apply_simple(comp, exc, ver, ostart, oe, target.zones)
        overrides[rid] = comp
    _remove(master, "EXDATE")
    for rid in sorted(deleted):
        value = _time_value(rid, target.tzid, target.zones, all_day)
        value.name = "EXDATE"
        master.properties.append(value)
    return [overrides[k] for k in sorted(overrides)]

