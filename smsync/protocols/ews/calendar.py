"""Stored iCalendar events as EWS ``<t:CalendarItem>``s, read-only so far.

An event's master (or a single event) is the item the collection stores; a CalendarView
expands recurrences (``smsync.formats.icalendar.expand_instances``: RRULE, RDATE,
EXDATE and overridden instances) into occurrences, each with an id of its own naming
the stored item and the instance's RECURRENCE-ID, so GetItem reads it back. Times are
sent in UTC, as EWS allows; an all-day event keeps IsAllDayEvent.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.formats.contentlines import Component, parse_components, unescape_text
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.extended import render_component
from smsync.protocols.ews.messages import ews_date
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews.soap import t, text

#: Separates the stored item's name from an occurrence's RECURRENCE-ID in an item key
#: (a NUL is in no item name).
OCCURRENCE = "\x00"
DEFAULT_FIELDS = frozenset({
    "item:ParentFolderId", "item:ItemClass", "item:Subject", "calendar:Start", "calendar:End",
    "calendar:IsAllDayEvent", "calendar:Location", "calendar:CalendarItemType",
    "calendar:Organizer", "calendar:LegacyFreeBusyStatus", "calendar:UID", "calendar:IsRecurring",
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


def first_instance(content: bytes) -> Instance:
    """The event's first occurrence (its DTSTART), for FindItem without a view."""
    calendar = load(content)
    master = master_of(calendar)
    zones = zones_of(calendar)
    dtstart = master.get("DTSTART")
    if dtstart is None:
        return Instance(None, None, None)
    begin = datetime.fromtimestamp(prop_time(dtstart, zones).epoch, timezone.utc)
    found = expand_instances(content, begin, begin.replace(year=begin.year + 1) if begin.year < 9998 else None)
    if found:
        _rid, start, end = found[0]
        return Instance(None, start, end)
    return Instance(None, begin, begin)


def instances(content: bytes, start: datetime, end: datetime) -> list[Instance]:
    """The occurrences overlapping ``[start, end)``."""
    return [Instance(rid, s, e) for rid, s, e in expand_instances(content, start, end)]


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
                          shape: Shape, instance: Optional[Instance] = None):
    """The ``<t:CalendarItem>`` of a stored event (its master or single event without
    ``instance``; with one, that occurrence) in ``shape``."""
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
    description = value("DESCRIPTION")
    if description is not None and wants("item:Body"):
        etree.SubElement(node, t("Body"), BodyType="Text").text = text(description)
    categories = value("CATEGORIES")
    if categories and wants("item:Categories"):
        holder = etree.SubElement(node, t("Categories"))
        for category in categories.split(","):
            etree.SubElement(holder, t("String")).text = text(category.strip())
    uid = event.value("UID")
    if uid and wants("calendar:UID"):
        etree.SubElement(node, t("UID")).text = text(uid)
    if instance.recurrence_id is not None and wants("calendar:RecurrenceId"):
        etree.SubElement(node, t("RecurrenceId")).text = ews_date(instance.recurrence_id)
    if instance.start is not None and wants("calendar:Start"):
        etree.SubElement(node, t("Start")).text = ews_date(instance.start)
    if instance.end is not None and wants("calendar:End"):
        etree.SubElement(node, t("End")).text = ews_date(instance.end)
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
    if wants("calendar:IsRecurring"):
        etree.SubElement(node, t("IsRecurring")).text = "true" if recurring else "false"
    if wants("calendar:CalendarItemType"):
        etree.SubElement(node, t("CalendarItemType")).text = kind
    organizer = event.get("ORGANIZER")
    if organizer is not None and wants("calendar:Organizer"):
        _mailbox(node, "Organizer", organizer.value, organizer.param("CN"))
    for field in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        listed = [a for a in event.get_all("ATTENDEE") if _attendee_list(a) == field]
        if listed and wants(f"calendar:{field}"):
            _attendees(node, field, listed)
    render_component(node, master_of(calendar), shape)  # ews-xprop: extended properties
    return node


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
