"""EWS calendar items -> the iCalendar a store keeps: new events (CreateItem), edits of
an event's fields (UpdateItem) and deleted occurrences (DeleteItem of one occurrence).

An edit rewrites only the properties of the fields it names in the event's master and
keeps every other line -- VTIMEZONEs, overridden instances, alarms, X- properties -- so
what EWS cannot carry survives. A time is written in the zone the event already uses
(its DTSTART's TZID, when that is an IANA zone), else in UTC. Recurrence patterns
(daily, weekly, monthly by day or by weekday, yearly) with their ranges (no end, an end
date, a count) become an RRULE.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, serialize
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.ews import reminders, timezones
from smsync.protocols.ews.calendar import master_of, zone_name
from smsync.protocols.ews.contacts import escape_text
from smsync.protocols.ews.recurrence import DAY_SETS
from smsync.protocols.ews.errors import INVALID_PROPERTY_SET, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.soap import t, xs_bool
from smsync.scheduling import instances

_DAYS = {"Sunday": "SU", "Monday": "MO", "Tuesday": "TU", "Wednesday": "WE", "Thursday": "TH",
         "Friday": "FR", "Saturday": "SA"}
_INDEX = {"First": "1", "Second": "2", "Third": "3", "Fourth": "4", "Last": "-1"}
_MONTHS = {name: n for n, name in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"), start=1)}


def parse_when(value: Optional[str], zone: Optional[str] = None) -> datetime:
    """An EWS dateTime; one without an offset is local time in ``zone`` (the request's
    TimeZoneContext, an IANA name), else UTC as the schema's default says."""
    try:
        when = datetime.fromisoformat((value or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, f"{str(value)[:40]!r} is not a dateTime") from None
    if when.tzinfo:
        return when
    return when.replace(tzinfo=zoneinfo.ZoneInfo(zone) if zone else timezone.utc)


def _days(text: Optional[str]) -> list[str]:
    out = []
    for word in (text or "").split():
        if word not in _DAYS:
            raise EWSError(INVALID_PROPERTY_SET, f"{word[:20]} is not a day of the week")
        out.append(_DAYS[word])
    return out


def _relative(pattern) -> list[str]:
    """The BYDAY (and BYSETPOS) of a relative pattern: one weekday and its index
    (``BYDAY=2TU``), or a set EWS names as one word -- Day, Weekday, WeekendDay --
    and its index (``BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1``)."""
    index = _INDEX.get((pattern.findtext(t("DayOfWeekIndex")) or "").strip())
    word = (pattern.findtext(t("DaysOfWeek")) or "").strip()
    if index is not None and word in DAY_SETS:
        return ["BYDAY=" + ",".join(DAY_SETS[word]), f"BYSETPOS={index}"]
    days = _days(word)
    if index is None or len(days) != 1:
        raise EWSError(INVALID_PROPERTY_SET, "a relative pattern names one weekday and its index")
    return [f"BYDAY={index}{days[0]}"]


def rrule_of(recurrence) -> str:
    """The RRULE of an EWS ``<t:Recurrence>`` (``EWSError`` for one that is not)."""
    try:
        return _rrule_of(recurrence)
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, "a Recurrence with a value out of its type") from None


def _rrule_of(recurrence) -> str:
    parts: list[str] = []
    pattern = next((c for c in recurrence if isinstance(c.tag, str) and c.tag.endswith("Recurrence")
                    and c.tag.rpartition("}")[2] not in ("NoEndRecurrence", "EndDateRecurrence",
                                                         "NumberedRecurrence")), None)
    if pattern is None:
        raise EWSError(INVALID_PROPERTY_SET, "a Recurrence needs a pattern")
    kind = pattern.tag.rpartition("}")[2]
    interval = (pattern.findtext(t("Interval")) or "1").strip()
    if kind == "DailyRecurrence":
        parts = ["FREQ=DAILY", f"INTERVAL={int(interval)}"]
    elif kind == "WeeklyRecurrence":
        parts = ["FREQ=WEEKLY", f"INTERVAL={int(interval)}"]
        days = _days(pattern.findtext(t("DaysOfWeek")))
        if days:
            parts.append("BYDAY=" + ",".join(days))
        first = (pattern.findtext(t("FirstDayOfWeek")) or "Monday").strip()
        if first != "Monday":
            parts.append("WKST=" + _days(first)[0])
    elif kind == "AbsoluteMonthlyRecurrence":
        parts = ["FREQ=MONTHLY", f"INTERVAL={int(interval)}",
                 f"BYMONTHDAY={int(pattern.findtext(t('DayOfMonth')) or '1')}"]
    elif kind == "RelativeMonthlyRecurrence":
        parts = ["FREQ=MONTHLY", f"INTERVAL={int(interval)}"] + _relative(pattern)
    elif kind in ("AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence"):
        month = _MONTHS.get((pattern.findtext(t("Month")) or "").strip())
        if month is None:
            raise EWSError(INVALID_PROPERTY_SET, "a yearly pattern names its month")
        parts = ["FREQ=YEARLY", f"BYMONTH={month}"]
        if kind == "AbsoluteYearlyRecurrence":
            parts.append(f"BYMONTHDAY={int(pattern.findtext(t('DayOfMonth')) or '1')}")
        else:
            parts += _relative(pattern)
    else:
        raise EWSError(INVALID_PROPERTY_SET, f"{kind[:40]} is not served yet")
    numbered = recurrence.find(t("NumberedRecurrence"))
    ending = recurrence.find(t("EndDateRecurrence"))
    if numbered is not None:
        parts.append(f"COUNT={int(numbered.findtext(t('NumberOfOccurrences')) or '1')}")
    elif ending is not None:
        end = date.fromisoformat((ending.findtext(t("EndDate")) or "").strip()[:10])
        parts.append("UNTIL=" + end.strftime("%Y%m%d") + "T235959Z")
    return ";".join(parts)


def _zone_name(event: Component, name: str = "DTSTART", calendar: Optional[Component] = None) -> Optional[str]:
    """The IANA zone of the event's DTSTART (or ``name``) TZID; None for UTC, floating,
    a date, or a TZID that names no IANA zone (with ``calendar``: none its VTIMEZONE's
    rule or name says either, see ``calendar.zone_name``)."""
    start = event.get(name)
    tzid = start.param("TZID") if start is not None else None
    if not tzid:
        return None
    if calendar is not None:
        named = zone_name(calendar, tzid)
        return None if named is None or timezones.is_utc(named) else named
    try:
        zoneinfo.ZoneInfo(tzid.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return tzid.strip()


def _set_time(event: Component, name: str, when: datetime, all_day: bool, zone: Optional[str]) -> None:
    props = [p for p in event.properties if p.name == name]
    for prop in props:
        event.properties.remove(prop)
    if all_day:
        day = when.astimezone(zoneinfo.ZoneInfo(zone)).date() if zone is not None and when.tzinfo else when.date()
        prop = Property(name, day.strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    elif zone is not None:
        local = when.astimezone(zoneinfo.ZoneInfo(zone))
        prop = Property(name, local.strftime("%Y%m%dT%H%M%S"), [("TZID", [zone])])
    else:
        prop = Property(name, when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    event.properties.append(prop)


def _set_text(event: Component, name: str, value: Optional[str]) -> None:
    for prop in [p for p in event.properties if p.name == name]:
        event.properties.remove(prop)
    if value:
        event.properties.append(Property(name, escape_text(value)))


#: EWS Importance and Sensitivity <-> PRIORITY and CLASS (as tasks have them).
IMPORTANCES = {"High": "1", "Normal": "5", "Low": "9"}
SENSITIVITIES = {"Normal": "PUBLIC", "Private": "PRIVATE", "Confidential": "CONFIDENTIAL",
                 "Personal": "X-PERSONAL"}


def read_importance(node) -> dict:
    """The Importance and Sensitivity an item element sets (of the values EWS has)."""
    out = {}
    for field, known in (("Importance", IMPORTANCES), ("Sensitivity", SENSITIVITIES)):
        value = node.findtext(t(field))
        if value is not None:
            if value.strip() not in known:
                raise EWSError(SCHEMA_VALIDATION, f"{field} {value.strip()[:20]!r}")
            out[field] = value.strip()
    return out


def _minutes(value: str) -> int:
    try:
        minutes = int(value.strip())
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, f"ReminderMinutesBeforeStart {value.strip()[:20]!r}") from None
    if not -525600 * 10 <= minutes <= 525600 * 10:
        raise EWSError(INVALID_PROPERTY_SET, "a reminder more than ten years from the start")
    return minutes


def read_fields(node, zone: Optional[str] = None) -> dict:
    """The fields a ``<t:CalendarItem>`` (or one field of it in an update) sets; a time
    without an offset is local time in ``zone`` (the request's TimeZoneContext)."""
    out: dict = {}
    for field in ("StartTimeZone", "EndTimeZone", "MeetingTimeZone"):
        # A zone no Windows or IANA name says is not taken: a new event's times stay in
        # UTC (or the TimeZoneContext), an existing one keeps its zone.
        named = timezones.element_zone(node.find(t(field)))
        if named is not None:
            out["EndTimeZone" if field == "EndTimeZone" else "StartTimeZone"] = named
            if field == "MeetingTimeZone":
                out.setdefault("EndTimeZone", named)
    reminder = node.findtext(t("ReminderIsSet"))
    if reminder is not None:
        out["ReminderIsSet"] = xs_bool(reminder)
    minutes = node.findtext(t("ReminderMinutesBeforeStart"))
    if minutes is not None:
        out["ReminderMinutesBeforeStart"] = _minutes(minutes)
    out.update(read_importance(node))
    for field in ("Subject", "Location", "UID", "LegacyFreeBusyStatus"):
        value = node.findtext(t(field))
        if value is not None:
            out[field] = value.strip()
    body = node.find(t("Body"))
    if body is not None:
        out["Body"] = body.text or ""
    for field in ("Start", "End"):
        value = node.findtext(t(field))
        if value is not None:
            out[field] = parse_when(value, out.get(f"{field}TimeZone", out.get("StartTimeZone", zone)))
    all_day = node.findtext(t("IsAllDayEvent"))
    if all_day is not None:
        out["IsAllDayEvent"] = xs_bool(all_day)
    recurrence = node.find(t("Recurrence"))
    if recurrence is not None:
        out["Recurrence"] = rrule_of(recurrence)
    categories = node.find(t("Categories"))
    if categories is not None:
        out["Categories"] = [(s.text or "").strip() for s in categories if isinstance(s.tag, str)]
    for field in ATTENDEE_ROLES:
        holder = node.find(t(field))
        if holder is not None:
            out[field] = _attendees(holder)
    return out


#: The EWS attendee lists and the ATTENDEE parameters each is written with.
ATTENDEE_ROLES = {
    "RequiredAttendees": [("ROLE", ["REQ-PARTICIPANT"])],
    "OptionalAttendees": [("ROLE", ["OPT-PARTICIPANT"])],
    "Resources": [("CUTYPE", ["RESOURCE"]), ("ROLE", ["NON-PARTICIPANT"])],
}


def _attendees(holder) -> list[tuple[str, str]]:
    """``(address, name)`` of each ``<t:Attendee>`` of a list that has an address."""
    out = []
    for box in holder.iter(t("Mailbox")):
        address = (box.findtext(t("EmailAddress")) or "").strip()
        if "@" not in address or any(c in address for c in " \t\r\n<>\"\\;:,"):
            continue  # a name without an address cannot be invited
        name = (box.findtext(t("Name")) or "").replace("\r", " ").replace("\n", " ").strip()
        out.append((address, name if name.lower() != address.lower() else ""))
    return out


def _role_of(prop: Property) -> str:
    if (prop.param("CUTYPE") or "").upper() in ("RESOURCE", "ROOM"):
        return "Resources"
    if (prop.param("ROLE") or "").upper() == "OPT-PARTICIPANT":
        return "OptionalAttendees"
    return "RequiredAttendees"


def _set_attendees(event: Component, field: str, wanted: list, organizer: Optional[str]) -> None:
    """Make the ATTENDEEs of ``field``'s list ``wanted``: those already there keep their
    line (PARTSTAT and all), new ones are asked (NEEDS-ACTION, RSVP); the organizer's
    own line is left alone."""
    def address(prop):
        value = prop.value
        return (value[7:] if value.lower().startswith("mailto:") else value).lower()

    mine = [p for p in event.properties if p.name == "ATTENDEE" and _role_of(p) == field
            and (organizer is None or address(p) != organizer.lower())]
    kept = {address(p): p for p in mine}
    for prop in mine:
        event.properties.remove(prop)
    present = {address(p) for p in event.properties if p.name == "ATTENDEE"}
    for email, name in wanted:
        key = email.lower()
        if key in present:
            continue
        present.add(key)
        if key in kept:
            event.properties.append(kept[key])
            continue
        params = list(ATTENDEE_ROLES[field]) + [("PARTSTAT", ["NEEDS-ACTION"]), ("RSVP", ["TRUE"])]
        if name:
            params.insert(0, ("CN", [name.replace('"', "'")]))
        event.properties.append(Property("ATTENDEE", f"mailto:{email}", params))


def set_organizer(calendar: Component, account: str) -> bool:
    """Make ``account`` the organizer of an event that has attendees and no organizer.
    True when the event's organizer is ``account`` (and it has attendees)."""
    event = master_of(calendar)
    if not event.get_all("ATTENDEE"):
        return False
    organizer = event.get("ORGANIZER")
    if organizer is None:
        event.properties.append(Property("ORGANIZER", f"mailto:{account}"))
        return True
    value = organizer.value
    return (value[7:] if value.lower().startswith("mailto:") else value).lower() == account.lower()


def apply(calendar: Component, fields: dict, removed: frozenset = frozenset(),
          recurrence_id: Optional[datetime] = None) -> None:
    """Write ``fields`` into the event's master (with ``recurrence_id``, into that
    occurrence's override, made if need be) and clear the fields in ``removed``."""
    if recurrence_id is None:
        event = master_of(calendar)
    elif "Recurrence" in fields:
        raise EWSError(INVALID_PROPERTY_SET, "an occurrence has no recurrence of its own")
    else:
        event = override(calendar, recurrence_id)
        removed = removed - {"Recurrence"}  # it has none to clear (clients send every field)
    organizer = event.get("ORGANIZER")
    organizer_address = None
    if organizer is not None:
        organizer_address = organizer.value[7:] if organizer.value.lower().startswith("mailto:") else organizer.value
    for field in ATTENDEE_ROLES:
        if field in fields or field in removed:
            _set_attendees(event, field, fields.get(field, []), organizer_address)
    zone, end_zone = _zones(calendar, event, fields)
    start_prop = event.get("DTSTART")
    was_all_day = start_prop is not None and (start_prop.param("VALUE") or "").upper() == "DATE"
    all_day = fields.get("IsAllDayEvent", was_all_day)
    # A zone changed alone rewrites the times in it (the same instants).
    if "Start" in fields or "IsAllDayEvent" in fields or (
            not all_day and start_prop is not None and zone != _zone_name(event, "DTSTART", calendar)):
        start = fields.get("Start")
        if start is None and start_prop is not None:
            start = datetime.fromtimestamp(prop_time(start_prop, zones_of(calendar)).epoch, timezone.utc)
        if start is not None:
            _set_time(event, "DTSTART", start, all_day, zone)
    end_prop = event.get("DTEND")
    if "End" in fields or "IsAllDayEvent" in fields or (
            not all_day and end_prop is not None and end_zone != _zone_name(event, "DTEND", calendar)):
        end = fields.get("End")
        if end is None and end_prop is not None:
            end = datetime.fromtimestamp(prop_time(end_prop, zones_of(calendar)).epoch, timezone.utc)
        if end is not None:
            if all_day and "End" in fields and end.time() != datetime.min.time():
                end = end + timedelta(days=1)  # an all-day end is the next day's start
            for prop in [p for p in event.properties if p.name == "DURATION"]:
                event.properties.remove(prop)
            _set_time(event, "DTEND", end, all_day, end_zone)
    for field, name in (("Subject", "SUMMARY"), ("Location", "LOCATION"), ("Body", "DESCRIPTION")):
        if field in fields or field in removed:
            _set_text(event, name, fields.get(field))
    if "LegacyFreeBusyStatus" in fields:
        _set_text(event, "TRANSP", "TRANSPARENT" if fields["LegacyFreeBusyStatus"] == "Free" else "OPAQUE")
    if "Categories" in fields or "Categories" in removed:
        for prop in [p for p in event.properties if p.name == "CATEGORIES"]:
            event.properties.remove(prop)
        wanted = [c for c in fields.get("Categories", []) if c]
        if wanted:
            event.properties.append(Property("CATEGORIES", ",".join(escape_text(c) for c in wanted)))
    if "Recurrence" in fields or "Recurrence" in removed:
        for prop in [p for p in event.properties if p.name == "RRULE"]:
            event.properties.remove(prop)
        if fields.get("Recurrence"):
            event.properties.append(Property("RRULE", fields["Recurrence"]))
    _apply_reminder(event, fields, removed)
    if "Importance" in fields or "Importance" in removed:
        _set_kept(event, "PRIORITY", IMPORTANCES.get(fields.get("Importance", "Normal")), ("", "0", "5"))
    if "Sensitivity" in fields or "Sensitivity" in removed:
        _set_kept(event, "CLASS", SENSITIVITIES.get(fields.get("Sensitivity", "Normal")), ("", "PUBLIC"))
    add_zones(calendar)
    _bump(event)


def _zones(calendar: Component, event: Component, fields: dict) -> tuple[Optional[str], Optional[str]]:
    """The IANA zones (None: UTC) the event's start and end are written in: those the
    update names, else those it has (an end without its own zone takes the start's)."""
    def named(field: str) -> Optional[str]:
        zone = fields[field]
        return None if timezones.is_utc(zone) else zone

    start = named("StartTimeZone") if "StartTimeZone" in fields else _zone_name(event, "DTSTART", calendar)
    if "EndTimeZone" in fields:
        end = named("EndTimeZone")
    elif "StartTimeZone" in fields or event.get("DTEND") is None:
        end = start
    else:
        end = _zone_name(event, "DTEND", calendar)
    return start, end


def _set_kept(event: Component, name: str, value: Optional[str], same: tuple) -> None:
    """Set ``name`` to ``value``, leaving it alone when what it holds means the same
    (Normal is no PRIORITY, 0 or 5: a client saving every field changes nothing)."""
    held = (event.value(name) or "").strip().upper()
    if value == "5" and held in same or value == "PUBLIC" and held in same:
        return
    _set_text(event, name, value)


def _apply_reminder(event: Component, fields: dict, removed: frozenset) -> None:
    """ReminderIsSet and ReminderMinutesBeforeStart onto the event's reminder VALARM."""
    if "ReminderIsSet" in removed or fields.get("ReminderIsSet") is False:
        reminders.set_event_reminder(event, None)
        return
    held = reminders.event_minutes(event)
    minutes = fields.get("ReminderMinutesBeforeStart")
    if fields.get("ReminderIsSet") is True:
        reminders.set_event_reminder(event, minutes if minutes is not None else
                                     held if held is not None else reminders.DEFAULT_MINUTES)
    elif minutes is not None and held is not None:
        reminders.set_event_reminder(event, minutes)  # a new time for the reminder there is


def add_zones(calendar: Component) -> None:
    """Add a VTIMEZONE for each IANA TZID the events use that has none (RFC 5545 wants
    one for every TZID; CalDAV clients read the zone's rules from it)."""
    have = {(c.value("TZID") or "").strip() for c in calendar.components if c.name == "VTIMEZONE"}
    year = datetime.now(timezone.utc).year
    at = 0
    for event in [c for c in calendar.components if c.name == "VEVENT"]:
        for prop in event.properties:
            tzid = (prop.param("TZID") or "").strip()
            if not tzid or tzid in have or timezones.iana_of(tzid) != tzid:
                continue
            have.add(tzid)
            calendar.components.insert(at, timezones.vtimezone_for(tzid, year))
            at += 1


def _bump(event: Component) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        for prop in [p for p in event.properties if p.name == name]:
            event.properties.remove(prop)
        event.properties.append(Property(name, stamp))
    sequence = event.get("SEQUENCE")
    if sequence is not None and sequence.value.isdigit():
        sequence.value = str(int(sequence.value) + 1)


def new_event(fields: dict, organizer: Optional[str] = None, zone: Optional[str] = None) -> tuple[str, bytes]:
    """``(uid, iCalendar bytes)`` of a new event with ``fields``; its times are kept
    in the zone its StartTimeZone names, else in ``zone`` (the request's
    TimeZoneContext, an IANA name), else in UTC."""
    if zone is not None and "StartTimeZone" not in fields:
        fields = {**fields, "StartTimeZone": zone}
    if "Start" not in fields or "End" not in fields:
        raise EWSError(SCHEMA_VALIDATION, "a calendar item needs Start and End")
    if fields["End"] < fields["Start"]:
        raise EWSError("ErrorCalendarEndDateIsEarlierThanStartDate", "the end is before the start")
    uid = fields.get("UID") or str(uuid.uuid4())
    event = Component("VEVENT", [Property("UID", escape_text(uid))])
    calendar = Component("VCALENDAR", [Property("VERSION", "2.0"),
                                       Property("PRODID", "-//smsync//EWS//EN")], [event])
    apply(calendar, fields)
    if organizer:
        event.properties.append(Property("ORGANIZER", f"mailto:{organizer}"))
    return uid, serialize(calendar)


def exclude(calendar: Component, recurrence_id: datetime) -> None:
    """Delete one occurrence: an EXDATE in the master's own form, and its override gone."""
    event = master_of(calendar)
    zones = zones_of(calendar)
    calendar.components = [c for c in calendar.components if not (
        c.name == "VEVENT" and c.get("RECURRENCE-ID") is not None
        and prop_time(c.get("RECURRENCE-ID"), zones).epoch == int(recurrence_id.timestamp()))]
    start = event.get("DTSTART")
    all_day = start is not None and (start.param("VALUE") or "").upper() == "DATE"
    zone = _zone_name(event)
    if all_day:
        prop = Property("EXDATE", recurrence_id.strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    elif zone is not None:
        prop = Property("EXDATE", recurrence_id.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y%m%dT%H%M%S"),
                        [("TZID", [zone])])
    else:
        prop = Property("EXDATE", recurrence_id.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    event.properties.append(prop)
    _bump(event)




def override(calendar: Component, recurrence_id: datetime) -> Component:
    """The VEVENT overriding the occurrence at ``recurrence_id`` (UTC): the one stored,
    else a new one -- a copy of the master (alarms, attendees, X- properties and all)
    without the series' lines, at the occurrence's times, with RECURRENCE-ID and times
    in the master's own form (a date, its zone, or UTC). The core's, which the
    scheduler uses for an answer to one occurrence, so both make the same override."""
    try:
        return instances.override(calendar, recurrence_id)
    except InvalidData:
        raise EWSError("ErrorItemCorrupt", "the stored item holds no series") from None
