"""Stored iCalendar events as EWS ``<t:CalendarItem>``s, read-only so far.

An event's master (or a single event) is the item the collection stores; a CalendarView
expands recurrences (``smsync.formats.icalendar.expand_instances``: RRULE, RDATE,
EXDATE and overridden instances) into occurrences, each with an id of its own naming
the stored item and the instance's RECURRENCE-ID, so GetItem reads it back. Times are
sent in UTC, as EWS allows; an all-day event keeps IsAllDayEvent.
"""

from __future__ import annotations

import copy
import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.errors import SmsyncError
from smsync.formats.contentlines import Component, parse_components, serialize, unescape_text
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import prop_time, prop_times, zones_of
from smsync.formats.zonerules import iana_name, info_from_zone
from smsync.protocols.ews import ids, reminders, timezones
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.extended import render_component
from smsync.protocols.ews.messages import ews_date
from smsync.protocols.ews.recurrence import recurrence_element, rule_parts
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews import item_attachments
from smsync.protocols.ews.soap import t, text

#: Separates the stored item's name from an occurrence's RECURRENCE-ID in an item key
#: (a NUL is in no item name).
OCCURRENCE = "\x00"
DEFAULT_FIELDS = frozenset({
    "item:ParentFolderId", "item:ItemClass", "item:Subject", "calendar:Start", "calendar:End",
    "calendar:IsAllDayEvent", "calendar:Location", "calendar:CalendarItemType",
    "calendar:Organizer", "calendar:LegacyFreeBusyStatus", "calendar:UID", "calendar:IsRecurring",
    "calendar:IsMeeting", "calendar:IsCancelled", "calendar:MyResponseType",
})


@attrs.frozen
class Instance:
    """One occurrence (or a single event): its RECURRENCE-ID (None for a single event
    or a master) and start and end in UTC."""

    recurrence_id: Optional[datetime]
    start: Optional[datetime]
    end: Optional[datetime]


def load(content: bytes) -> Component:
    calendars = [c for c in parse_components(content) if c.name == "VCALENDAR"]
    if not calendars:
        raise EWSError("ErrorItemCorrupt", "the stored item is not iCalendar")
    return calendars[0]


def _events(calendar: Component) -> list[Component]:
    return [c for c in calendar.components if c.name == "VEVENT"]


def master_of(calendar: Component) -> Component:
    events = _events(calendar)
    if not events:
        raise EWSError("ErrorItemCorrupt", "the stored item holds no event")
    return next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])


def is_recurring(calendar: Component) -> bool:
    master = master_of(calendar)
    return master.get("RRULE") is not None or master.get("RDATE") is not None


def years_after(when: datetime, years: int) -> datetime:
    """``when`` moved ``years`` years on (29 February becomes 28 February in a year
    without one, where ``replace`` would raise)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


def first_instance(content: bytes) -> Instance:
    """The event's first occurrence (its DTSTART), for FindItem without a view."""
    calendar = load(content)
    master = master_of(calendar)
    zones = zones_of(calendar)
    dtstart = master.get("DTSTART")
    if dtstart is None:
        return Instance(None, None, None)
    begin = datetime.fromtimestamp(prop_time(dtstart, zones).epoch, timezone.utc)
    found = expand_instances(content, begin, years_after(begin, 1) if begin.year < 9998 else None)
    if found:
        _rid, start, end = found[0]
        return Instance(None, start, end)
    return Instance(None, begin, begin)


def instances(content: bytes, start: datetime, end: datetime) -> list[Instance]:
    """The occurrences overlapping ``[start, end)``."""
    return [Instance(rid, s, e) for rid, s, e in expand_instances(content, start, end)]


def occurrence(content: bytes, recurrence_id: datetime) -> Optional[Instance]:
    """The occurrence of a series at ``recurrence_id``, overridden or not (None: the
    series has none there, or it was deleted)."""
    near = timedelta(days=400)
    for instance in instances(content, recurrence_id - near, recurrence_id + near):
        if instance.recurrence_id == recurrence_id:
            return instance
    # An override moved further away than that.
    return next((i for i in overrides(content) if i.recurrence_id == recurrence_id), None)


def _event_for(calendar: Component, recurrence_id: Optional[datetime]) -> Component:
    """The VEVENT an occurrence takes its fields from: its override, else the master."""
    if recurrence_id is None:
        return master_of(calendar)
    zones = zones_of(calendar)
    wanted = int(recurrence_id.timestamp())
    for event in _events(calendar):
        rid = event.get("RECURRENCE-ID")
        if rid is not None and prop_time(rid, zones).epoch == wanted:
            return event
    return master_of(calendar)


def occurrence_key(name: str, recurrence_id: Optional[datetime]) -> str:
    if recurrence_id is None:
        return name
    return f"{name}{OCCURRENCE}{recurrence_id.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


def split_key(key: str) -> tuple[str, Optional[datetime]]:
    """``(item name, RECURRENCE-ID or None)`` of an item key."""
    name, sep, rid = key.partition(OCCURRENCE)
    if not sep:
        return name, None
    try:
        return name, datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise EWSError("ErrorInvalidIdMalformed", "not an occurrence id") from None


def _mailbox(parent, tag: str, value: str, name: Optional[str]) -> None:
    address = value.split(":", 1)[1] if value.lower().startswith("mailto:") else value
    holder = etree.SubElement(parent, t(tag))
    box = etree.SubElement(holder, t("Mailbox"))
    etree.SubElement(box, t("Name")).text = text(name or address)
    etree.SubElement(box, t("EmailAddress")).text = text(address)
    etree.SubElement(box, t("RoutingType")).text = "SMTP"


def calendar_item_element(account: str, source: str, name: str, revision: int, content: bytes,
                          shape: Shape, instance: Optional[Instance] = None, version: Optional[str] = None):
    """The ``<t:CalendarItem>`` of a stored event (its master or single event without
    ``instance``; with one, that occurrence) in ``shape``, for a client of ``version``
    (None: Exchange 2010 or later; its zones are StartTimeZone and EndTimeZone, an
    Exchange 2007 client's the MeetingTimeZone)."""
    calendar = load(content)
    recurring = is_recurring(calendar)
    if instance is None:
        instance = first_instance(content)
    event = _event_for(calendar, instance.recurrence_id)

    def wants(uri: str) -> bool:
        return shape.wants(uri, uri in DEFAULT_FIELDS)

    def value(prop: str) -> Optional[str]:
        raw = event.value(prop)
        return unescape_text(raw) if raw is not None else None

    if instance.recurrence_id is None:
        kind = "RecurringMaster" if recurring else "Single"
    else:
        kind = "Exception" if event.get("RECURRENCE-ID") is not None else "Occurrence"
    node = etree.Element(t("CalendarItem"))
    ref = ids.ItemRef(account, ids.ITEM, source, occurrence_key(name, instance.recurrence_id))
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(revision))
    if wants("item:ParentFolderId"):
        etree.SubElement(node, t("ParentFolderId"),
                         Id=ids.folder_id(ids.FolderRef(account, ids.COLLECTION, source)))
    if wants("item:ItemClass"):
        etree.SubElement(node, t("ItemClass")).text = "IPM.Appointment"
    if wants("item:Subject"):
        etree.SubElement(node, t("Subject")).text = text(value("SUMMARY") or "")
    if wants("item:Sensitivity"):
        etree.SubElement(node, t("Sensitivity")).text = sensitivity_of(event)
    description = value("DESCRIPTION")
    if description is not None and wants("item:Body"):
        etree.SubElement(node, t("Body"), BodyType="Text").text = text(description)
    categories = value("CATEGORIES")
    if categories and wants("item:Categories"):
        holder = etree.SubElement(node, t("Categories"))
        for category in categories.split(","):
            etree.SubElement(holder, t("String")).text = text(category.strip())
    if wants("item:Importance"):
        etree.SubElement(node, t("Importance")).text = importance_of(event)
    _reminder(node, event, instance, wants)
    # ExtendedProperty comes before the calendar fields (ItemType's sequence); they
    # are kept on the master, for the series and each occurrence alike.
    item_attachments.render(node, ids.ItemRef(account, ids.ITEM, source, name), calendar, wants)  # ews-drafts
    render_component(node, master_of(calendar), shape)
    uid = event.value("UID")
    if uid and wants("calendar:UID"):
        etree.SubElement(node, t("UID")).text = text(uid)
    if instance.recurrence_id is not None and wants("calendar:RecurrenceId"):
        etree.SubElement(node, t("RecurrenceId")).text = ews_date(instance.recurrence_id)
    if instance.start is not None and wants("calendar:Start"):
        etree.SubElement(node, t("Start")).text = ews_date(instance.start)
    if instance.end is not None and wants("calendar:End"):
        etree.SubElement(node, t("End")).text = ews_date(instance.end)
    if instance.recurrence_id is not None and wants("calendar:OriginalStart"):
        etree.SubElement(node, t("OriginalStart")).text = ews_date(instance.recurrence_id)
    dtstart = event.get("DTSTART")
    all_day = dtstart is not None and (dtstart.param("VALUE") or "").upper() == "DATE"
    if wants("calendar:IsAllDayEvent"):
        etree.SubElement(node, t("IsAllDayEvent")).text = "true" if all_day else "false"
    if wants("calendar:LegacyFreeBusyStatus"):
        free = (event.value("TRANSP") or "").upper() == "TRANSPARENT"
        etree.SubElement(node, t("LegacyFreeBusyStatus")).text = "Free" if free else "Busy"
    location = value("LOCATION")
    if location and wants("calendar:Location"):
        etree.SubElement(node, t("Location")).text = text(location)
    state = meeting_state(event, account)
    if wants("calendar:IsMeeting"):
        etree.SubElement(node, t("IsMeeting")).text = _bool(state.is_meeting)
    if wants("calendar:IsCancelled"):
        etree.SubElement(node, t("IsCancelled")).text = _bool(state.is_cancelled)
    if wants("calendar:IsRecurring"):
        etree.SubElement(node, t("IsRecurring")).text = "true" if recurring else "false"
    if state.is_meeting and wants("calendar:IsResponseRequested"):
        etree.SubElement(node, t("IsResponseRequested")).text = _bool(state.response_requested)
    if wants("calendar:CalendarItemType"):
        etree.SubElement(node, t("CalendarItemType")).text = kind
    if wants("calendar:MyResponseType"):
        etree.SubElement(node, t("MyResponseType")).text = state.my_response
    organizer = event.get("ORGANIZER")
    if organizer is not None and wants("calendar:Organizer"):
        _mailbox(node, "Organizer", organizer.value, organizer.param("CN"))
    for field in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        listed = [a for a in event.get_all("ATTENDEE") if _attendee_list(a) == field]
        if listed and wants(f"calendar:{field}"):
            _attendees(node, field, listed)
    if instance.start is not None and instance.end is not None and wants("calendar:Duration"):
        etree.SubElement(node, t("Duration")).text = xs_duration(instance.end - instance.start)
    start_zone, end_zone = event_zones(event, calendar)
    year = (instance.start or datetime.now(timezone.utc)).year
    if wants("calendar:TimeZone"):
        shown = timezones.zone_text(start_zone, year)
        if shown:
            etree.SubElement(node, t("TimeZone")).text = shown
    if wants("calendar:AppointmentState"):
        etree.SubElement(node, t("AppointmentState")).text = str(state.appointment_state)
    if kind == "RecurringMaster":
        _series(node, ids.ItemRef(account, ids.ITEM, source, name), revision, content, calendar, wants)
    if version == "Exchange2007_SP1":
        zone = timezones.meeting_zone(start_zone, year) if wants("calendar:MeetingTimeZone") else None
        if zone is not None:
            node.append(zone)
    else:
        for field, iana in (("StartTimeZone", start_zone), ("EndTimeZone", end_zone)):
            zone = timezones.definition(field, iana, year) if wants(f"calendar:{field}") else None
            if zone is not None:
                node.append(zone)
    if version is not None and version.startswith(("Exchange2013", "Exchange2016")) and wants("calendar:IsOrganizer"):
        etree.SubElement(node, t("IsOrganizer")).text = _bool(state.my_response == "Organizer")
    return node


def _bool(value: bool) -> str:
    return "true" if value else "false"


def xs_duration(delta: timedelta) -> str:
    """An xs:duration as Exchange writes an item's Duration (``PT1H30M``, ``P1D``)."""
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    out = "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return out if out != "P" else "PT0S"


#: PRIORITY (1-9, 0 undefined) <-> Importance, as tasks have them.
def importance_of(component: Component) -> str:
    priority = (component.value("PRIORITY") or "").strip()
    if not priority.isdigit() or int(priority) in (0, 5):
        return "Normal"
    return "High" if int(priority) < 5 else "Low"


_FROM_CLASS = {"PRIVATE": "Private", "CONFIDENTIAL": "Confidential", "X-PERSONAL": "Personal"}


def sensitivity_of(component: Component) -> str:
    return _FROM_CLASS.get((component.value("CLASS") or "").strip().upper(), "Normal")


def zone_name(calendar: Component, tzid: Optional[str]) -> Optional[str]:
    """The IANA zone a TZID stands for: itself, the zone of a Windows id (Outlook's
    TZIDs), the zone inside a prefixed name (``/mozilla.org/.../Europe/Berlin``), or the
    first common zone with the same rule as its VTIMEZONE; None when none is."""
    tzid = (tzid or "").strip()
    if not tzid:
        return None
    named = timezones.iana_of(tzid)
    if named is not None:
        return named
    try:
        zone = zones_of(calendar).get(tzid)
        info = getattr(zone, "info", None)
        if isinstance(info, zoneinfo.ZoneInfo):
            return info.key
        if zone is None:
            return None
        year = datetime.now(timezone.utc).year
        return iana_name(info_from_zone(zone, year), year)
    except SmsyncError:
        return None


def event_zones(event: Component, calendar: Optional[Component] = None) -> tuple[str, str]:
    """The IANA zones of an event's start and end: their TZIDs' (an end without one
    takes the start's); UTC for UTC, floating and all-day times."""
    holder = calendar if calendar is not None else Component("VCALENDAR")
    start_prop, end_prop = event.get("DTSTART"), event.get("DTEND")
    start = zone_name(holder, start_prop.param("TZID")) if start_prop is not None else None
    end = zone_name(holder, end_prop.param("TZID")) if end_prop is not None else None
    start = start or "Etc/UTC"
    return start, end or start


def _reminder(node, event: Component, instance: Instance, wants) -> None:
    """ReminderDueBy, ReminderIsSet and ReminderMinutesBeforeStart from the event's
    reminder VALARM (``reminders``)."""
    minutes = reminders.event_minutes(event)
    if minutes is not None and instance.start is not None and wants("item:ReminderDueBy"):
        etree.SubElement(node, t("ReminderDueBy")).text = ews_date(instance.start - timedelta(minutes=minutes))
    if wants("item:ReminderIsSet"):
        etree.SubElement(node, t("ReminderIsSet")).text = _bool(minutes is not None)
    if wants("item:ReminderMinutesBeforeStart"):
        etree.SubElement(node, t("ReminderMinutesBeforeStart")).text = str(
            minutes if minutes is not None else reminders.DEFAULT_MINUTES)


@attrs.frozen
class MeetingState:
    """What an event is to the account: a meeting (it has attendees), cancelled, the
    account's own response (Organizer, Accept, Tentative, Decline, NoResponseReceived,
    Unknown) and whether a response is asked for."""

    is_meeting: bool
    is_cancelled: bool
    my_response: str
    response_requested: bool

    @property
    def appointment_state(self) -> int:
        """The AppointmentState bits: 1 a meeting, 2 received (not organized by the
        account), 4 cancelled."""
        bits = 1 if self.is_meeting else 0
        if self.is_meeting and self.my_response != "Organizer":
            bits |= 2
        return bits | (4 if self.is_cancelled else 0)


_RESPONSES = {"ACCEPTED": "Accept", "TENTATIVE": "Tentative", "DECLINED": "Decline",
              "NEEDS-ACTION": "NoResponseReceived", "": "NoResponseReceived"}


def _address(value: str) -> str:
    return (value[7:] if value.lower().startswith("mailto:") else value).strip().lower()


def meeting_state(event: Component, account: str) -> MeetingState:
    """The ``MeetingState`` of ``event`` for ``account``."""
    attendees = event.get_all("ATTENDEE")
    cancelled = (event.value("STATUS") or "").strip().upper() == "CANCELLED"
    organizer = event.get("ORGANIZER")
    me = account.lower()
    if not attendees:
        return MeetingState(False, cancelled, "Organizer", False)
    if organizer is None or _address(organizer.value) == me:
        asked = any((a.param("RSVP") or "").upper() == "TRUE" for a in attendees if _address(a.value) != me)
        return MeetingState(True, cancelled, "Organizer", asked)
    mine = next((a for a in attendees if _address(a.value) == me), None)
    if mine is None:
        return MeetingState(True, cancelled, "Unknown", False)
    response = _RESPONSES.get((mine.param("PARTSTAT") or "").strip().upper(), "Unknown")
    return MeetingState(True, cancelled, response, (mine.param("RSVP") or "").upper() == "TRUE")


def _attendee_list(attendee) -> str:
    """The EWS list an ATTENDEE belongs in, by its CUTYPE and ROLE."""
    if (attendee.param("CUTYPE") or "").upper() in ("RESOURCE", "ROOM"):
        return "Resources"
    if (attendee.param("ROLE") or "").upper() == "OPT-PARTICIPANT":
        return "OptionalAttendees"
    return "RequiredAttendees"


def _attendees(node, field: str, attendees) -> None:
    """The EWS list ``field`` of ``attendees`` (ATTENDEE properties), added to ``node``."""
    holder = etree.SubElement(node, t(field))
    for attendee in attendees:
        one = etree.SubElement(holder, t("Attendee"))
        address = attendee.value.split(":", 1)[1] if attendee.value.lower().startswith("mailto:") else attendee.value
        box = etree.SubElement(one, t("Mailbox"))
        etree.SubElement(box, t("Name")).text = text(attendee.param("CN") or address)
        etree.SubElement(box, t("EmailAddress")).text = text(address)
        etree.SubElement(box, t("RoutingType")).text = "SMTP"
        status = {"ACCEPTED": "Accept", "DECLINED": "Decline", "TENTATIVE": "Tentative"}.get(
            (attendee.param("PARTSTAT") or "").upper(), "NoResponseReceived")
        etree.SubElement(one, t("ResponseType")).text = status


# -- a series' master: its pattern, first and last, modified and deleted occurrences -----


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def overrides(content: bytes) -> list[Instance]:
    """The overridden instances of a series (each RECURRENCE-ID with its own start and
    end), by RECURRENCE-ID."""
    calendar = load(content)
    only = Component("VCALENDAR", list(calendar.properties),
                     [c for c in calendar.components if c.name != "VEVENT" or c.get("RECURRENCE-ID") is not None])
    if not any(c.name == "VEVENT" for c in only.components):
        return []
    try:
        found = expand_instances(serialize(only), None, None)
    except SmsyncError:
        return []  # an override without times: the series is served without it
    return sorted((Instance(rid, s, e) for rid, s, e in found if rid is not None),
                  key=lambda i: i.recurrence_id)


def deleted(calendar: Component) -> list[datetime]:
    """The start of each deleted occurrence (the master's EXDATEs), in order. A date
    deleting a day of a timed series is that day's occurrence."""
    master = master_of(calendar)
    zones = zones_of(calendar)
    dtstart = master.get("DTSTART")
    if dtstart is None:
        return []
    start = prop_time(dtstart, zones)
    out = set()
    for prop in master.get_all("EXDATE"):
        for when, _ in prop_times(prop, zones):
            if when.is_date and not start.is_date:
                out.add(start.zone.epoch(datetime.combine(when.local.date(), start.local.time())))
            else:
                out.add(when.epoch)
    return [_utc(e) for e in sorted(out)]


def bounds(content: bytes) -> tuple[Optional[Instance], Optional[Instance]]:
    """``(first, last)`` occurrence of a series; ``last`` None for a series without end
    (or too long to walk), ``first`` None when no occurrence is left."""
    calendar = load(content)
    master = master_of(calendar)
    rules = [rule_parts(p.value) or {} for p in master.get_all("RRULE")]
    endless = any("COUNT" not in r and "UNTIL" not in r for r in rules)
    if not endless:
        try:
            found = expand_instances(content, None, None)
        except SmsyncError:
            found = []
        if found:
            return Instance(*found[0]), Instance(*found[-1])
    try:
        begin = first_instance(content).start
        for years in (1, 10, 100):
            if begin is None or begin.year + years > 9998:
                break
            found = expand_instances(content, begin - timedelta(days=1), years_after(begin, years))
            if found:
                return Instance(*found[0]), None
    except SmsyncError:
        pass  # a series too dense to walk that far: no first occurrence named
    return None, None


def _occurrence_info(parent, tag: str, ref, revision: int, instance: Instance) -> None:
    """An OccurrenceInfoType: the occurrence's ItemId, Start, End and OriginalStart."""
    node = etree.SubElement(parent, t(tag))
    key = occurrence_key(ref.key, instance.recurrence_id)
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(attrs.evolve(ref, key=key)),
                     ChangeKey=ids.change_key(revision))
    etree.SubElement(node, t("Start")).text = ews_date(instance.start)
    etree.SubElement(node, t("End")).text = ews_date(instance.end)
    etree.SubElement(node, t("OriginalStart")).text = ews_date(instance.recurrence_id or instance.start)


def pattern_said(calendar: Component) -> bool:
    """Whether the series' RRULE is one EWS has a pattern for (and so is sent)."""
    master = master_of(calendar)
    rule, dtstart = master.get("RRULE"), master.get("DTSTART")
    if rule is None or dtstart is None:
        return False
    start = prop_time(dtstart, zones_of(calendar))
    return recurrence_element(rule.value, start.local.date()) is not None


def _series(node, ref, revision: int, content: bytes, calendar: Component, wants) -> None:
    """A master's Recurrence, FirstOccurrence, LastOccurrence, ModifiedOccurrences and
    DeletedOccurrences, in the schema's order (each only when asked for: walking a
    series costs)."""
    master = master_of(calendar)
    dtstart = master.get("DTSTART")
    if dtstart is None:
        return
    start = prop_time(dtstart, zones_of(calendar))
    rule = master.get("RRULE")
    if rule is not None and wants("calendar:Recurrence"):
        pattern = recurrence_element(rule.value, start.local.date(), _tzinfo(dtstart))
        if pattern is not None:
            node.append(pattern)
    if wants("calendar:FirstOccurrence") or wants("calendar:LastOccurrence"):
        first, last = bounds(content)
        if first is not None and first.start is not None and wants("calendar:FirstOccurrence"):
            _occurrence_info(node, "FirstOccurrence", ref, revision, first)
        if last is not None and last.start is not None and wants("calendar:LastOccurrence"):
            _occurrence_info(node, "LastOccurrence", ref, revision, last)
    if wants("calendar:ModifiedOccurrences"):
        changed = [i for i in overrides(content) if i.start is not None]
        if changed:
            holder = etree.SubElement(node, t("ModifiedOccurrences"))
            for instance in changed:
                _occurrence_info(holder, "Occurrence", ref, revision, instance)
    if wants("calendar:DeletedOccurrences"):
        gone = deleted(calendar)
        if gone:
            holder = etree.SubElement(node, t("DeletedOccurrences"))
            for when in gone:
                etree.SubElement(etree.SubElement(holder, t("DeletedOccurrence")), t("Start")).text = ews_date(when)


def _tzinfo(dtstart):
    """The IANA zone of a DTSTART's TZID (None: UTC, floating or unknown)."""
    tzid = dtstart.param("TZID")
    if not tzid:
        return None
    try:
        return zoneinfo.ZoneInfo(tzid.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


# -- occurrences by InstanceIndex (t:OccurrenceItemId) ---------------------------------

#: How far ahead an endless series is walked for an InstanceIndex, in years.
_INDEX_WINDOWS = (1, 5, 25, 100)


def occurrence_at(content: bytes, index: int) -> datetime:
    """The RECURRENCE-ID of occurrence ``index`` (1-based) of a series, counted over its
    pattern as Exchange counts: a deleted occurrence keeps its place (and is
    ``ErrorCalendarOccurrenceIsDeletedFromRecurrence``), a moved one too."""
    calendar = load(content)
    if not is_recurring(calendar):
        raise EWSError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "the item is not a series")
    if index < 1:
        raise EWSError("ErrorSchemaValidation", "an InstanceIndex starts at 1")
    master = copy.deepcopy(master_of(calendar))
    master.properties = [p for p in master.properties if p.name != "EXDATE"]
    bare = serialize(Component("VCALENDAR", list(calendar.properties),
                               [c for c in calendar.components if c.name != "VEVENT"] + [master]))
    rules = [rule_parts(p.value) or {} for p in master.get_all("RRULE")]
    endless = any("COUNT" not in r and "UNTIL" not in r for r in rules)
    found: list = []
    try:
        if not endless:
            found = expand_instances(bare, None, None)
        else:
            begin = first_instance(bare).start
            for years in _INDEX_WINDOWS:
                if begin is None or begin.year + years > 9998:
                    break
                found = expand_instances(bare, None, years_after(begin, years))
                if len(found) >= index:
                    break
    except SmsyncError:
        found = []  # past what is walked: as out of range
    if len(found) < index:
        raise EWSError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "no such occurrence")
    rid = sorted(r for r, _s, _e in found if r is not None)[index - 1]
    if rid in deleted(calendar):
        raise EWSError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "that occurrence was deleted")
    return rid
