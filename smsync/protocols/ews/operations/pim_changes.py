"""UpdateItem and CreateItem of collection items: contacts (fields merged into the stored
vCard), calendar items (fields merged into the event's master, new events) and tasks
(fields merged into the stored VTODO, new tasks), for ``changes``' operations."""

from __future__ import annotations

import re

from smsync.model import CollectionKind
from smsync.protocols.ews import calendar, calendar_edit, contacts, items, meetings, tasks
from smsync.protocols.ews import extended, item_writes, timezones
from smsync.protocols.ews.errors import (
    INVALID_OPERATION,
    INVALID_PROPERTY_SET,
    ITEM_NOT_FOUND,
    EWSError,
)
from smsync.protocols.ews.soap import t


#: Contact FieldURIs an update may set, and the field each is.
_CONTACT_FIELDS = {f"contacts:{name}": name for name in (
    "DisplayName", "FileAs", "GivenName", "MiddleName", "Surname", "Nickname", "CompanyName",
    "Department", "JobTitle", "Birthday")}
_CONTACT_FIELDS["item:Body"] = "Body"
_INDEXED = {"contacts:EmailAddress": "EmailAddresses", "contacts:PhoneNumber": "PhoneNumbers"}


def contact_changes(updates) -> tuple[dict, frozenset]:
    """``(fields set, fields cleared)`` of a contact's ``<t:Updates>``."""
    fields: dict = {}
    removed = set()
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        action = update.tag.rpartition("}")[2]
        plain = update.find(t("FieldURI"))
        indexed = update.find(t("IndexedFieldURI"))
        if plain is not None and plain.get("FieldURI") in _CONTACT_FIELDS:
            field = _CONTACT_FIELDS[plain.get("FieldURI")]
            if action == "DeleteItemField":
                removed.add(field)
                continue
            holder = update.find(t("Contact"))
            if holder is None:
                raise EWSError(INVALID_PROPERTY_SET, "a contact update carries a Contact")
            fields.update({k: v for k, v in contacts.read_fields(holder).items() if k == field})
        elif indexed is not None and indexed.get("FieldURI") in _INDEXED:
            field = _INDEXED[indexed.get("FieldURI")]
            key = indexed.get("FieldIndex", "")
            value = ""
            if action != "DeleteItemField":
                holder = update.find(t("Contact"))
                entries = contacts.read_fields(holder).get(field, {}) if holder is not None else {}
                value = entries.get(key, "")
            fields.setdefault(field, {})[key] = value
        elif plain is not None and plain.get("FieldURI") in ("item:Subject", "contacts:CompleteName"):
            continue  # made from the names: nothing of its own to keep
        else:
            uri = (plain if plain is not None else indexed)
            shown = uri.get("FieldURI") if uri is not None else "?"
            raise EWSError(INVALID_PROPERTY_SET, f"{str(shown)[:60]} cannot be changed on a contact here yet")
    return fields, frozenset(removed)


async def update_collection_item(ctx, ref, change, resolution: str, change_key,
                                 send_mode: str = meetings.SEND_TO_NONE):
    found = await items.collection_item(ctx, ref)
    info = found.item.info
    if calendar.OCCURRENCE in ref.key and info.component != "VEVENT":
        raise EWSError(ITEM_NOT_FOUND, "only events have occurrences")
    if info.component == "VEVENT":
        return await _update_event(ctx, ref, found, change, resolution, change_key, send_mode)
    if info.component == "VTODO":
        return await _update_task(ctx, ref, found, change, resolution, change_key)
    if info.component != "VCARD":
        raise EWSError(INVALID_OPERATION, "note items are not changed yet")
    item_writes.check_change_key(info, resolution, change_key)
    props, updates = extended.split_updates(change.find(t("Updates")))
    fields, removed = contact_changes(updates)
    card = contacts.load(found.item.content)
    contacts.apply(card, fields, removed)
    extended.set_in(card, props)
    new = await item_writes.replace(found, ref.key, contacts.serialize(card))
    return item_writes.answer("Contact", ref, new)


#: CalendarItem FieldURIs an update may set (MeetingTimeZone, Exchange 2007's, sets the
#: start's and the end's zone); the UID cannot change, ReminderDueBy is read-only.
_EVENT_FIELDS = {"item:Subject": "Subject", "item:Body": "Body", "item:Categories": "Categories",
                 "item:Importance": "Importance", "item:Sensitivity": "Sensitivity",
                 "item:ReminderIsSet": "ReminderIsSet",
                 "item:ReminderMinutesBeforeStart": "ReminderMinutesBeforeStart",
                 "calendar:StartTimeZone": "StartTimeZone", "calendar:EndTimeZone": "EndTimeZone",
                 "calendar:MeetingTimeZone": "StartTimeZone",
                 "calendar:Start": "Start", "calendar:End": "End", "calendar:Location": "Location",
                 "calendar:IsAllDayEvent": "IsAllDayEvent",
                 "calendar:LegacyFreeBusyStatus": "LegacyFreeBusyStatus",
                 "calendar:Recurrence": "Recurrence",
                 "calendar:RequiredAttendees": "RequiredAttendees",
                 "calendar:OptionalAttendees": "OptionalAttendees", "calendar:Resources": "Resources"}
#: Fields clients saving every field send (exchangelib's ``save()``) that an event has
#: no place for: taken and dropped rather than failing the whole update.
_EVENT_IGNORED = {"calendar:UID", "item:ReminderDueBy", "item:InReplyTo", "item:Culture", "calendar:When",
                  "calendar:ConferenceType", "calendar:AllowNewTimeProposal", "calendar:IsResponseRequested",
                  "calendar:MeetingWorkspaceUrl", "calendar:NetShowUrl"}
#: Fields a DeleteItemField leaves as they are: a series keeps its zone.
_EVENT_KEPT = {"StartTimeZone", "EndTimeZone"}


def event_changes(updates, zone=None) -> tuple[dict, frozenset]:
    """``(fields set, fields cleared)`` of a calendar item's ``<t:Updates>``; times
    without an offset are local in ``zone`` (the request's TimeZoneContext)."""
    fields: dict = {}
    removed = set()
    for action, field, update, plain in item_writes.field_updates(updates, _EVENT_FIELDS, _EVENT_IGNORED,
                                                                  "a calendar item here yet"):
        if action == "DeleteItemField":
            if field in ("Start", "End"):
                raise EWSError(INVALID_PROPERTY_SET, "a calendar item keeps its start and end")
            if field not in _EVENT_KEPT:
                removed.add(field)
            continue
        holder = update.find(t("CalendarItem"))
        if holder is None:
            raise EWSError(INVALID_PROPERTY_SET, "a calendar item update carries a CalendarItem")
        wanted = {field, "EndTimeZone"} if plain.get("FieldURI") == "calendar:MeetingTimeZone" else {field}
        fields.update({k: v for k, v in calendar_edit.read_fields(holder, zone).items() if k in wanted})
    return fields, frozenset(removed)


async def _update_event(ctx, ref, found, change, resolution: str, change_key, send_mode: str):
    info = found.item.info
    item_writes.check_change_key(info, resolution, change_key)
    props, updates = extended.split_updates(change.find(t("Updates")))
    fields, removed = event_changes(updates, timezones.iana_of(ctx.timezone))
    parsed = calendar.load(found.item.content)
    # One occurrence's change is an override (RECURRENCE-ID) in the same stored item.
    name, rid = calendar.split_key(ref.key)
    if rid is not None and calendar.occurrence(found.item.content, rid) is None:
        raise EWSError(ITEM_NOT_FOUND, "no such occurrence")
    if rid is not None and props:
        # They are kept on the master (what every occurrence shows): one occurrence's
        # own would be lost, so it is refused rather than applied to the series.
        raise EWSError("ErrorInvalidPropertySet", "extended properties belong to the whole series")
    if rid is None and "Recurrence" in removed and not calendar.pattern_said(parsed):
        # A rule EWS has no pattern for was never sent: a client clearing the field it
        # did not get (as those saving every field do) must not end the series.
        removed = removed - {"Recurrence"}
    calendar_edit.apply(parsed, fields, removed, rid)
    extended.set_in(calendar.master_of(parsed), props)
    calendar_edit.set_organizer(parsed, ctx.account)
    content, plan = await meetings.plan_put(ctx, send_mode, found.item.content, contacts.serialize(parsed))
    new = await item_writes.replace(found, name, content)
    await meetings.carry_out(ctx, plan)
    return item_writes.answer("CalendarItem", ref, new)


async def create_event(ctx, node, saved, send_mode: str = meetings.SEND_TO_NONE):
    folder, collection = await item_writes.target(ctx, saved, "calendar", CollectionKind.CALENDAR,
                                       "calendar items are saved only in calendars")
    zone = timezones.iana_of(ctx.timezone)
    fields = calendar_edit.read_fields(node, zone)
    # An event with attendees is a meeting the account organizes.
    organizer = ctx.account if any(fields.get(f) for f in calendar_edit.ATTENDEE_ROLES) else None
    uid, content = calendar_edit.new_event(fields, organizer, zone)
    content = extended.stamp(content, node, "VEVENT")
    content, plan = await meetings.plan_put(ctx, send_mode, None, content)
    name = re.sub(r"[^A-Za-z0-9@._-]", "-", uid)[:100] + ".ics"
    info = await collection.put(name, content, if_none_match=True)
    await meetings.carry_out(ctx, plan)
    return item_writes.created("CalendarItem", ctx, folder, info)


async def create_contact(ctx, node, saved):
    folder, collection = await item_writes.target(ctx, saved, "contacts", CollectionKind.ADDRESSBOOK,
                                       "contacts are saved only in contact folders")
    uid, content = contacts.new_card(contacts.read_fields(node))
    content = extended.stamp(content, node, "VCARD")
    info = await collection.put(f"{uid}.vcf", content, if_none_match=True)
    return item_writes.created("Contact", ctx, folder, info)


#: Task FieldURIs an update may set, and the field each is.
_TASK_FIELDS = {"item:Subject": "Subject", "item:Body": "Body", "item:Categories": "Categories",
                "item:Importance": "Importance", "item:Sensitivity": "Sensitivity",
                "task:StartDate": "StartDate", "task:DueDate": "DueDate",
                "task:CompleteDate": "CompleteDate", "task:Status": "Status",
                "task:PercentComplete": "PercentComplete", "task:IsComplete": "IsComplete",
                "item:ReminderIsSet": "ReminderIsSet", "item:ReminderDueBy": "ReminderDueBy",
                "task:Recurrence": "Recurrence"}
#: Fields clients send that a VTODO has no place for; taken and dropped, as Exchange's
#: read-only ones are.
_TASK_IGNORED = {"item:ReminderMinutesBeforeStart",
                 "task:StatusDescription", "task:ChangeCount", "task:IsRecurring", "task:Owner"}


def task_changes(updates) -> tuple[dict, frozenset]:
    """``(fields set, fields cleared)`` of a task's ``<t:Updates>``."""
    fields: dict = {}
    removed = set()
    for action, field, update, _ in item_writes.field_updates(updates, _TASK_FIELDS, _TASK_IGNORED,
                                                             "a task here yet"):
        if action == "DeleteItemField":
            removed.add(field)
            continue
        holder = update.find(t("Task"))
        if holder is None:
            raise EWSError(INVALID_PROPERTY_SET, "a task update carries a Task")
        wanted = {field, "RecurrenceStart"} if field == "Recurrence" else {field}
        fields.update({k: v for k, v in tasks.read_fields(holder).items() if k in wanted})
    return fields, frozenset(removed)


async def _update_task(ctx, ref, found, change, resolution: str, change_key):
    info = found.item.info
    item_writes.check_change_key(info, resolution, change_key)
    props, updates = extended.split_updates(change.find(t("Updates")))
    fields, removed = task_changes(updates)
    parsed = tasks.load(found.item.content)
    tasks.apply(parsed, fields, removed)
    extended.set_in(tasks.todo_of(parsed), props)
    new = await item_writes.replace(found, ref.key, tasks.serialize(parsed))
    return item_writes.answer("Task", ref, new)


async def create_task(ctx, node, saved):
    folder, collection = await item_writes.target(ctx, saved, "tasks", CollectionKind.TASKS,
                                       "tasks are saved only in task folders")
    uid, content = tasks.new_task(tasks.read_fields(node))
    content = extended.stamp(content, node, "VTODO")
    info = await collection.put(f"{uid}.ics", content, if_none_match=True)
    return item_writes.created("Task", ctx, folder, info)
