"""A stored VEVENT (with its VTIMEZONE, RRULE, EXDATEs and RECURRENCE-ID overrides) as
rows of an Events list (MS-OUTSPS appointment fields), and back.

A series is several rows (``to_rows``): the master (EventType 1), one row per override
(EventType 4, its own fields, ``RecurrenceID`` the instance it replaces,
``MasterSeriesItemID`` the master's list item id) and one per EXDATE (EventType 3,
"Deleted: " and the title). A single event is one row (EventType 0).

================  =============================================================
Field             VEVENT
================  =============================================================
Title             SUMMARY
Location          LOCATION
Description       DESCRIPTION
Category          CATEGORIES (joined with ", "; written back as one category)
EventDate         DTSTART, UTC (an all-day event's first day at 00:00:00Z)
EndDate           DTEND, UTC (all-day: the last day at 23:59:00Z); for a recurring
                  master the end of its last instance (``FOREVER`` when it has none)
Duration          seconds of one instance (all-day: whole days less a minute)
fAllDayEvent      DTSTART is a DATE
fRecurrence       the master has an RRULE
RecurrenceData    the RRULE (``fields_recurrence``)
EventType         0 single, 1 master, 3 deleted occurrence, 4 changed occurrence
RecurrenceID      RECURRENCE-ID of an override, EXDATE of a deletion (UTC)
MasterSeriesItemID  ``info.item_id`` of the series (rows 3 and 4; "" without one)
UID               UID
XMLTZone          the zone of DTSTART as a yearly rule ("" for UTC and floating)
TimeZone          SharePoint's id of that zone, for the few zones it is known for
================  =============================================================

``from_row`` merges: a field left out or sent as the stored event shows it leaves the
event as it is (a time zone, an RRULE the list can only approximate, alarms, attendees,
X- properties...); a changed time is written in the zone the event already has, so an
event in Europe/Berlin stays there. A new timed event takes its zone from XMLTZone (or
TimeZone), else UTC. Rows of EventType 3 and 4 edit the series ``existing`` holds.

``info`` (optional everywhere): ``info.uid`` is a new event's UID when the row has
none; ``info.item_id`` is written as MasterSeriesItemID.
"""

from __future__ import annotations

import copy
import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.model import CollectionKind
from smsync.formats.contentlines import Component, Property, escape_text, text_list
from smsync.formats.icaltime import (
    Time,
    Zone,
    build_rrule,
    parse_duration,
    parse_rrule,
    prop_times,
    simple_step,
    zones_of,
)
from smsync.formats.zonerules import iana_info, iana_name, info_from_zone, synthetic_tzid, vtimezone

from . import fields_common as fc
from . import fields_ical as fi
from . import fields_recurrence as fr

SINGLE, MASTER, DELETED, EXCEPTION = 0, 1, 3, 4
#: EndDate of a series without end.
FOREVER = "4000-12-31T23:59:00Z"
#: Instances walked to find a finite series' last one.
MAX_WALK = 10_000
CATEGORIES = ("Meeting", "Work hours", "Business", "Holiday", "Get-together", "Gifts", "Birthday",
              "Anniversary")
#: SharePoint's ids (SPTimeZone.ID) of the zones this server names by id.
SP_TIMEZONES = {2: "Europe/London", 3: "Europe/Paris", 4: "Europe/Berlin", 10: "America/New_York",
                11: "America/Chicago", 12: "America/Denver", 13: "America/Los_Angeles"}
_SP_IDS = {name: str(i) for i, name in SP_TIMEZONES.items()}
#: Longest instance accepted (a year; SharePoint's own limit is far below).
MAX_DURATION = 366 * 86400

#: The collections this list type shows, and its SharePoint list template
#: (``ServerTemplate`` of GetList: 105 Contacts, 106 Events, 107 Tasks).
KIND = CollectionKind.CALENDAR
SERVER_TEMPLATE = 106

FIELDS = (
    fc.Field("Title", "Text", "Title", required=True),
    fc.Field("Location", "Text", "Location"),
    fc.Field("EventDate", "DateTime", "Start Time", required=True, format="DateTime"),
    fc.Field("EndDate", "DateTime", "End Time", required=True, format="DateTime"),
    fc.Field("Description", "Note", "Description"),
    fc.Field("Category", "Choice", "Category", choices=CATEGORIES),
    fc.Field("fAllDayEvent", "AllDayEvent", "All Day Event"),
    fc.Field("fRecurrence", "Recurrence", "Recurrence"),
    fc.Field("RecurrenceData", "Note", "RecurrenceData"),
    fc.Field("EventType", "Integer", "Event Type"),
    fc.Field("MasterSeriesItemID", "Integer", "MasterSeriesItemID"),
    fc.Field("RecurrenceID", "DateTime", "Recurrence ID", format="DateTime"),
    fc.Field("UID", "Guid", "UID"),
    fc.Field("Duration", "Integer", "Duration"),
    fc.Field("TimeZone", "Integer", "TimeZone"),
    fc.Field("XMLTZone", "Note", "XMLTZone"),
)
NAMES = fc.field_names(FIELDS)
#: What the recurrence of a series is made of (an override never changes these).
_SERIES = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@attrs.frozen
class _Span:
    """An instance as the list sees it: UTC instants; an all-day one from the first
    day's midnight to the midnight after the last day (as UTC, whatever the zone)."""

    start: datetime
    end: datetime
    all_day: bool

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def _utc(epoch: int) -> datetime:
    return _UTC_EPOCH + timedelta(seconds=epoch)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _span(comp: Component, zones: dict) -> tuple[Time, _Span]:
    start = fi.read_time(comp.get("DTSTART"), zones)
    if start is None:
        raise InvalidData("VEVENT without DTSTART")
    end_prop, dur_prop = comp.get("DTEND"), comp.get("DURATION")
    try:
        if end_prop is not None:
            end_epoch = fi.read_time(end_prop, zones).epoch
        elif dur_prop is not None:
            end_epoch = parse_duration(dur_prop.value).end_epoch(start)
        else:
            end_epoch = start.epoch + (86400 if start.is_date else 0)
        if start.is_date:
            first = start.local.date()
            last = max(_utc(end_epoch).date(), first + timedelta(days=1))
            return start, _Span(_midnight(first), _midnight(last), True)
        return start, _Span(_utc(start.epoch), _utc(max(end_epoch, start.epoch)), False)
    except (ValueError, OverflowError):
        raise InvalidData("unreadable event times") from None


def _end_text(span: _Span) -> str:
    if span.all_day:
        return fc.format_date(span.end.date() - timedelta(days=1)).replace("T00:00:00Z", "T23:59:00Z")
    return fc.format_datetime(span.end)


def _duration(span: _Span) -> int:
    return span.seconds - 60 if span.all_day else span.seconds


def _instant_text(when: datetime, all_day: bool) -> str:
    return fc.format_date(when.date()) if all_day else fc.format_datetime(when)


_NO_ZONE = {"TimeZone": "", "XMLTZone": ""}
#: ``(zone, year)`` -> its TimeZone and XMLTZone fields: the events of a calendar share
#: a few zones (each an object of icaltime's caches), and a zone's rule in a year is
#: found by scanning it when it is no IANA zone.
_ZONE_FIELDS: dict = {}
_ZONE_FIELDS_MAX = 1024


def _zone_fields(cal: Component, master: Component, start: Time, zones: Optional[dict] = None) -> dict[str, str]:
    """The TimeZone and XMLTZone fields (a dict shared: not to be changed)."""
    tzid, zone = fi.item_zone(cal, master, zones)
    if zone is None or start.is_date:
        return _NO_ZONE
    year = start.local.year
    key = (zone, year)
    found = _ZONE_FIELDS.get(key)
    if found is None:
        info = info_from_zone(zone, year)
        name = getattr(getattr(zone, "info", None), "key", None) or iana_name(info, year) or ""
        found = {"TimeZone": _SP_IDS.get(name, ""), "XMLTZone": fr.timezone_xml(info)}
        if len(_ZONE_FIELDS) >= _ZONE_FIELDS_MAX:
            _ZONE_FIELDS.clear()
        _ZONE_FIELDS[key] = found
    return found


def _base_row(comp: Component, zones: dict, uid: str, tz: dict, span: Optional[_Span] = None) -> dict[str, str]:
    if span is None:
        _, span = _span(comp, zones)
    return {
        "Title": fc.text_of(comp.value("SUMMARY")),
        "Location": fc.text_of(comp.value("LOCATION")),
        "Description": fc.text_of(comp.value("DESCRIPTION")),
        "Category": ", ".join(text_list(comp.get_all("CATEGORIES"))),
        "EventDate": _instant_text(span.start, span.all_day),
        "EndDate": _end_text(span),
        "Duration": str(_duration(span)),
        "fAllDayEvent": fc.format_bool(span.all_day),
        "fRecurrence": "0",
        "RecurrenceData": "",
        "EventType": str(SINGLE),
        "RecurrenceID": "",
        "MasterSeriesItemID": "",
        "UID": uid,
        **tz,
    }


def _until(rule, all_day: bool):
    if rule.until is None:
        return None
    if rule.until.is_date or all_day:
        return rule.until.local.date()
    return _utc(rule.until.epoch)


def _series(master: Component, start: Time, span: _Span) -> tuple[str, str]:
    """``(RecurrenceData, EndDate)`` of a recurring master."""
    try:
        rule = parse_rrule(master.get("RRULE").value, start.zone)
        rec, _ = fr.recurrence_of(master.get("RRULE").value, start.local, _until(rule, start.is_date))
        if rule.infinite:
            return fr.recurrence_xml(rec), FOREVER
        last = None
        step = simple_step(rule)
        if step is not None and rule.count is not None and rule.until is None:
            # The walk below, by arithmetic: the last of the first COUNT (at most
            # MAX_WALK + 1) instances, each a step after the one before.
            try:
                last = start.local + step * (min(rule.count, MAX_WALK + 1) - 1)
            except OverflowError:
                last = None  # where the walk stops early
        if last is None:
            last = start.local
            for i, when in enumerate(build_rrule(rule, start.local, start.zone)):
                last = max(last, when)
                if i >= MAX_WALK:
                    break
    except (ValueError, OverflowError, TypeError):
        raise InvalidData("unreadable RRULE") from None
    if span.all_day:
        first = _midnight(last.date())
        end = _end_text(_Span(first, first + (span.end - span.start), True))
    else:
        end = fc.format_datetime(_utc(start.zone.epoch(last) + span.seconds))
    return fr.recurrence_xml(rec), end


def _exdates(master: Component, start: Time, zones: dict) -> list[datetime]:
    """The instants (all-day: midnights UTC) the master's EXDATEs remove."""
    out = []
    for prop in master.get_all("EXDATE"):
        try:
            values = prop_times(prop, zones)
            for when, _ in values:
                if start.is_date:
                    out.append(_midnight(when.local.date()))
                elif when.is_date:
                    out.append(_utc(start.zone.epoch(datetime.combine(when.local.date(), start.local.time()))))
                else:
                    out.append(_utc(when.epoch))
        except (ValueError, OverflowError):
            raise InvalidData("unreadable EXDATE") from None
    return sorted(set(out))


def _rid(comp: Component, zones: dict, all_day: bool) -> datetime:
    when = fi.read_time(comp.get("RECURRENCE-ID"), zones)
    return _midnight(when.local.date()) if all_day or when.is_date else _utc(when.epoch)


class _Indexed:
    """A component's properties by name, for reading: what ``to_rows`` asks of a
    VEVENT (``get``, ``value``, ``get_all``) a dozen times, found in one pass."""

    __slots__ = ("_first", "_comp")

    def __init__(self, comp: Component):
        first: dict = {}
        for prop in comp.properties:
            if prop.name not in first:
                first[prop.name] = prop
        self._first = first
        self._comp = comp

    def get(self, name: str) -> Optional[Property]:
        return self._first.get(name.upper())

    def value(self, name: str) -> Optional[str]:
        prop = self._first.get(name.upper())
        return None if prop is None else prop.value

    def get_all(self, name: str) -> list:
        return self._comp.get_all(name) if name.upper() in self._first else []


def to_rows(content: bytes, info=None) -> list[dict[str, str]]:
    """The stored event as Events list rows: the event (or the series' master) first,
    then a row per override (EventType 4) and per deleted occurrence (EventType 3).
    ``InvalidData`` for content that is not a VEVENT."""
    # Read for showing only: VTIMEZONEs shared with the calendar's other items.
    cal = fi.load_shown(content)
    master, overrides = fi.items_of(cal, "VEVENT")
    zones = fi.zones_shown(cal)
    master = _Indexed(master)
    uid = fc.text_of(master.value("UID")).strip()
    start, span = _span(master, zones)
    tz = _zone_fields(cal, master, start, zones)
    row = _base_row(master, zones, uid, tz, span)
    if master.get("RECURRENCE-ID") is not None or master.get("RRULE") is None:
        return [row]
    xml, end = _series(master, start, span)
    row.update(EventType=str(MASTER), fRecurrence="1", RecurrenceData=xml, EndDate=end)
    series = {"fRecurrence": "1", "RecurrenceData": xml, "UID": uid,
              "MasterSeriesItemID": str(getattr(info, "item_id", "") or "")}
    rows = [row]
    for override in overrides:
        exception = _base_row(override, zones, uid, tz)
        exception.update(series, EventType=str(EXCEPTION),
                         RecurrenceID=_instant_text(_rid(override, zones, span.all_day), span.all_day))
        rows.append(exception)
    for when in _exdates(master, start, zones):
        deleted = dict(row, **series, EventType=str(DELETED), Title="Deleted: " + row["Title"],
                       RecurrenceID=_instant_text(when, span.all_day),
                       EventDate=_instant_text(when, span.all_day),
                       EndDate=_end_text(_Span(when, when + (span.end - span.start), span.all_day)))
        rows.append(deleted)
    return rows


def to_row(content: bytes, info=None) -> dict[str, str]:
    """The row of the event (a series' master); see ``to_rows``."""
    return to_rows(content, info)[0]


# -- rows to events -----------------------------------------------------------------------


def _event_type(fields: dict) -> Optional[int]:
    text = fields.get("EventType", "").strip()
    if not text:
        return None
    value = fc.parse_int(text, "EventType", 0, 4)
    if value not in (SINGLE, MASTER, DELETED, EXCEPTION):
        raise InvalidData(f"unsupported EventType {value}")
    return value


def _zone_named(name: str, year: int) -> tuple[str, Zone, Component]:
    vtz = vtimezone(iana_info(name, year), name)
    return name, zones_of(Component("VCALENDAR", [], [vtz]))[name], vtz


def _row_zone(fields: dict, year: int) -> tuple[Optional[str], Optional[Zone], Optional[Component]]:
    """The zone a new event's times go in: XMLTZone's rule (an IANA zone with that rule
    when there is one), else TimeZone's, else UTC (``(None, None, None)``)."""
    xml = fields.get("XMLTZone", "").strip()
    if xml:
        info = fr.parse_timezone(xml)
        name = iana_name(info, year)
        if name == "UTC" or (name is None and not info.has_dst and info.bias == 0):
            return None, None, None
        if name is not None:
            return _zone_named(name, year)
        tzid = synthetic_tzid(info, "Outlook")
        vtz = vtimezone(info, tzid)
        return tzid, zones_of(Component("VCALENDAR", [], [vtz]))[tzid], vtz
    sp_id = fields.get("TimeZone", "").strip()
    if sp_id:
        name = SP_TIMEZONES.get(fc.parse_int(sp_id, "TimeZone", -1, 1000))
        if name is not None:
            return _zone_named(name, year)
    return None, None, None


@attrs.frozen
class _Plan:
    """What a row says about an instance's times, read before anything is changed."""

    span: _Span
    duration: int


def _plan(value, recurring: bool, all_day: bool, by_duration: bool = False) -> _Plan:
    """The row's instance times; ``by_duration``: the end is EventDate plus Duration
    (a master's EndDate is its series' end)."""
    start_text = value("EventDate")
    if not start_text.strip():
        raise InvalidData("an event needs an EventDate")
    start = fc.parse_datetime(start_text, "EventDate")
    end_text = value("EndDate")
    end = fc.parse_datetime(end_text, "EndDate") if end_text.strip() else start
    if recurring or by_duration:
        dur_text = value("Duration")
        if dur_text.strip():
            seconds = fc.parse_int(dur_text, "Duration", 0, MAX_DURATION)
        else:
            # SharePoint's rule: an instance ends at EndDate's time of day.
            clock = datetime.combine(start.date(), end.timetz())
            seconds = int((clock - start).total_seconds()) % 86400
        end = start + timedelta(seconds=seconds)
    elif end < start:
        raise InvalidData("EndDate before EventDate")
    elif (end - start).total_seconds() > MAX_DURATION * 10:
        raise InvalidData("event longer than ten years")
    if all_day:
        first = start.date()
        if recurring:
            last = first + timedelta(days=max(1, math.ceil((end - start).total_seconds() / 86400)))
        elif end.time() == time(0) and end.date() > first:
            last = end.date()  # an exclusive end, as iCalendar has it
        else:
            last = max(end.date(), first) + timedelta(days=1)
        span = _Span(_midnight(first), _midnight(last), True)
    else:
        span = _Span(start, end, False)
    return _Plan(span, span.seconds)


def _write_times(cal: Component, comp: Component, plan: _Plan, zone_of) -> None:
    """DTSTART and DTEND for ``plan``, each rewritten only when its instant changed."""
    zones = zones_of(cal)
    span = plan.span
    old = None
    if comp.get("DTSTART") is not None:
        _, old = _span(comp, zones)
    if span.all_day:
        if old is None or not old.all_day or old.start != span.start:
            fi.set_time(comp, "DTSTART", span.start.date(), None, None)
        if old is None or not old.all_day or old.end != span.end:
            fi.set_time(comp, "DTEND", span.end.date(), None, None)
            fi.replace(comp, "DURATION", None)
        return
    if old is not None and not old.all_day and old.start == span.start and old.end == span.end:
        return
    # (A floating event's changed times are written as UTC: the list's times are instants.)
    tzid, zone, vtz = zone_of()
    if vtz is not None:
        fi.ensure_vtimezone(cal, tzid, vtz)
    if old is None or old.all_day or old.start != span.start:
        fi.set_time(comp, "DTSTART", span.start, tzid, zone)
    if old is None or old.all_day or old.end != span.end or comp.get("DTEND") is None:
        fi.set_time(comp, "DTEND", span.end, tzid, zone)
        fi.replace(comp, "DURATION", None)


def _apply(cal: Component, comp: Component, fields: dict, shown: dict, new: bool, zone_of,
           master: bool, force_times: bool = False) -> None:
    """Change ``comp`` as the row says (see the module docstring)."""
    def changed(name: str) -> bool:
        return fc.differs(fields, shown, name) or (new and name in fields)

    def value(name: str) -> str:
        return fields[name] if name in fields else shown.get(name, "")

    # Everything is read before anything changes: a bad row changes nothing.
    all_day = fc.parse_bool(value("fAllDayEvent"), "fAllDayEvent")
    recurring = master and fc.parse_bool(value("fRecurrence"), "fRecurrence")
    times = new or force_times or any(changed(n) for n in ("EventDate", "EndDate", "fAllDayEvent", "Duration", "fRecurrence"))
    # A series made single without a new EndDate: its EndDate was the series' end.
    by_duration = master and not recurring and shown.get("fRecurrence") == "1" and not changed("EndDate")
    plan = _plan(value, recurring, all_day, by_duration) if times else None
    rec = None
    rule_changed = master and (new or changed("fRecurrence") or changed("RecurrenceData")
                               or changed("fAllDayEvent"))
    if rule_changed and recurring:
        rec = fr.parse_recurrence(value("RecurrenceData"), all_day)

    for name, prop in (("Title", "SUMMARY"), ("Location", "LOCATION"), ("Description", "DESCRIPTION")):
        if changed(name):
            fi.set_text(comp, prop, fc.ical_text(fields[name].strip() if name != "Description" else fields[name]))
    if changed("Category"):
        fi.set_text(comp, "CATEGORIES", escape_text(fields["Category"].strip()))
    if plan is not None:
        _write_times(cal, comp, plan, zone_of)
    if not rule_changed:
        return
    if not recurring:
        comp.properties = [p for p in comp.properties if p.name not in _SERIES]
        # Without a rule there are no instances to override.
        cal.components = [c for c in cal.components if c is comp or c.name != "VEVENT"]
        return
    start, _ = _span(comp, zones_of(cal))
    wall = start.local
    old = comp.get("RRULE")
    if old is not None and shown.get("RecurrenceData") and shown.get("fAllDayEvent") == fc.format_bool(all_day):
        before = fr.parse_recurrence(shown["RecurrenceData"], all_day)
        if fr.canonical(before, wall) == fr.canonical(rec, wall):
            return  # the rule Outlook was shown: the stored RRULE says it (maybe better)
    fi.replace(comp, "RRULE", Property("RRULE", rec.rrule()))


def _instance_prop(name: str, when: datetime, master: Component, cal: Component) -> Property:
    """A RECURRENCE-ID or EXDATE for the instance at ``when`` written as the master's
    DTSTART is (DATE, TZID, UTC or floating)."""
    start = master.get("DTSTART")
    if (start.param("VALUE") or "").upper() == "DATE" or len(start.value.strip()) == 8:
        return Property(name, when.strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    tzid, zone = fi.item_zone(cal, master)
    if tzid is not None:
        return Property(name, fi.to_local(zone, when).strftime("%Y%m%dT%H%M%S"), [("TZID", [tzid])])
    if start.value.strip().upper().endswith("Z"):
        return Property(name, when.strftime("%Y%m%dT%H%M%SZ"))
    return Property(name, when.strftime("%Y%m%dT%H%M%S"))


def _exception(cal: Component, master: Component, overrides: list, fields: dict, rows: list,
               kind: int) -> None:
    zones = zones_of(cal)
    start, span = _span(master, zones)
    text = fields.get("RecurrenceID", "")
    if not text.strip():
        raise InvalidData("an occurrence row needs its RecurrenceID")
    when = fc.parse_datetime(text, "RecurrenceID")
    if span.all_day:
        when = _midnight(when.date())
    match = [o for o in overrides if _rid(o, zones, span.all_day) == when]
    if kind == DELETED:
        cal.components = [c for c in cal.components if not any(c is o for o in match)]
        if when not in _exdates(master, start, zones):
            master.properties.append(_instance_prop("EXDATE", when, master, cal))
        return
    tzid, zone = fi.item_zone(cal, master)

    def zone_of():
        return tzid, zone, None

    key = _instant_text(when, span.all_day)
    if match:
        override = match[0]
        shown = next((r for r in rows[1:] if r["EventType"] == str(EXCEPTION) and r["RecurrenceID"] == key), {})
        before = fi.dump(override)
        _apply(cal, override, fields, shown, False, zone_of, False)
        if fi.dump(override) != before:
            fi.touch(override)
        return
    # A new override: the master's properties (attendees, alarms...) for that instance.
    override = copy.deepcopy(master)
    override.properties = [p for p in override.properties
                           if p.name not in _SERIES and p.name not in ("DTSTART", "DTEND", "DURATION")]
    at = next((i for i, p in enumerate(override.properties) if p.name == "UID"), -1) + 1
    override.properties.insert(at, _instance_prop("RECURRENCE-ID", when, master, cal))
    # What Outlook was shown of that instance: the master's fields at its time.
    shown = dict(rows[0], EventDate=key, EventType=str(EXCEPTION), fRecurrence="0", RecurrenceData="",
                 EndDate=_end_text(_Span(when, when + (span.end - span.start), span.all_day)))
    _apply(cal, override, dict(fields, fRecurrence="0"), shown, False, zone_of, False, force_times=True)
    cal.components.append(override)


def from_row(fields: dict[str, str], existing: Optional[bytes] = None, info=None) -> bytes:
    """The event to store for an Events list row: a new event (EventType 0 or 1), or
    ``existing`` changed as the row says -- the event or master (EventType 0, 1 or
    none), an occurrence changed (4) or deleted (3). ``InvalidData`` for a row that
    cannot be read or does not fit the stored event."""
    fc.check_size(fields)
    kind = _event_type(fields)
    if existing is None:
        if kind in (DELETED, EXCEPTION):
            raise InvalidData("an occurrence row needs its series")
        uid = fields.get("UID", "").strip() or getattr(info, "uid", None) or fi.new_uid()
        event = Component("VEVENT", [Property("UID", escape_text(uid)), Property("DTSTAMP", fi.stamp())])
        cal = fi.new_calendar(event)
        if not fields.get("EventDate", "").strip():
            raise InvalidData("an event needs an EventDate")
        chosen = _row_zone(fields, fc.parse_datetime(fields["EventDate"], "EventDate").year)
        _apply(cal, event, fields, {}, True, lambda: chosen, True)
        return fi.dump(cal)
    cal = fi.load_calendar(existing)
    master, overrides = fi.items_of(cal, "VEVENT")
    rows = to_rows(existing, info)
    if kind in (DELETED, EXCEPTION):
        if master.get("RRULE") is None or master.get("RECURRENCE-ID") is not None:
            raise InvalidData("an occurrence row for an event that does not recur")
        _exception(cal, master, overrides, fields, rows, kind)
    else:
        stored_zone = fi.item_zone(cal, master)

        def zone_of():
            if stored_zone[0] is not None:
                return stored_zone[0], stored_zone[1], None
            start = fc.parse_datetime(fields.get("EventDate") or rows[0]["EventDate"], "EventDate")
            return _row_zone(fields, start.year)

        _apply(cal, master, fields, rows[0], False, zone_of, True)
    fi.drop_unused_zones(cal)
    if fi.dump(cal) == fi.dump(fi.load_calendar(existing)):
        return existing  # nothing changed: not even DTSTAMP moves
    fi.touch(master)
    return fi.dump(cal)
