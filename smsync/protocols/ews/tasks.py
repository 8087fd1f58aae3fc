"""EWS Tasks (``<t:Task>``) <-> the VTODO a store keeps, converted at the edge.

Each EWS field lives in one VTODO property: Subject in SUMMARY, Body in DESCRIPTION,
StartDate in DTSTART, DueDate in DUE, CompleteDate in COMPLETED, PercentComplete in
PERCENT-COMPLETE, Importance in PRIORITY (High 1, Normal 5, Low 9), Sensitivity in CLASS,
Categories in CATEGORIES and Status in STATUS (NotStarted NEEDS-ACTION, InProgress
IN-PROCESS, Completed COMPLETED). WaitingOnOthers and Deferred have no iCalendar status:
they are kept in ``X-SMSYNC-EWS-STATUS`` beside the nearest STATUS (IN-PROCESS,
NEEDS-ACTION) so CalDAV clients see something sensible and EWS gets its own value back.
IsComplete is Status == Completed. The reminder (ReminderIsSet, ReminderDueBy) is the
first display VALARM, relative or absolute (``reminders``; written absolute); the
Recurrence is the RRULE, in the calendar's patterns (``recurrence``: a series needs a
DTSTART, taken from the due date or the pattern's start when the task has none). An update (``apply``) rewrites only the properties of
the fields it sets or deletes and keeps every other line -- other VALARMs, X- properties,
VTIMEZONEs -- so what EWS cannot carry survives an EWS edit. Extended properties are
kept in the VTODO too (``extended``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional

from lxml import etree

from smsync.formats.contentlines import Component, Property, serialize, text_list, unescape_text
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.ews import ids, reminders
from smsync.protocols.ews.calendar import load as load_calendar
from smsync.protocols.ews.calendar_edit import IMPORTANCES, SENSITIVITIES, parse_when, read_importance, rrule_of
from smsync.protocols.ews.recurrence import recurrence_element
from smsync.protocols.ews.contacts import escape_text
from smsync.protocols.ews.errors import INVALID_PROPERTY_SET, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.extended import render_component
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews import item_attachments
from smsync.protocols.ews.item_elements import item_element
from smsync.protocols.ews.soap import t, text, xs_bool

#: The EWS status kept beside a STATUS that cannot say it.
EXTRA_STATUS = "X-SMSYNC-EWS-STATUS"
#: EWS status -> iCalendar STATUS.
STATUSES = {"NotStarted": "NEEDS-ACTION", "InProgress": "IN-PROCESS", "Completed": "COMPLETED",
            "WaitingOnOthers": "IN-PROCESS", "Deferred": "NEEDS-ACTION"}
_FROM_STATUS = {"NEEDS-ACTION": "NotStarted", "IN-PROCESS": "InProgress", "COMPLETED": "Completed",
                "CANCELLED": "Deferred"}
_FROM_CLASS = {v: k for k, v in SENSITIVITIES.items()}
#: Task fields whose values are EWS dateTimes, and the VTODO property of each.
DATES = {"StartDate": "DTSTART", "DueDate": "DUE", "CompleteDate": "COMPLETED"}
DEFAULT_FIELDS = frozenset({"item:Subject", "item:ItemClass", "item:ParentFolderId",
                            "item:Importance", "item:Sensitivity", "item:Categories",
                            "task:StartDate", "task:DueDate", "task:CompleteDate",
                            "task:Status", "task:PercentComplete", "task:IsComplete"})


def load(content: bytes) -> Component:
    """The stored VCALENDAR holding a VTODO (``ErrorItemCorrupt`` otherwise)."""
    calendar = load_calendar(content)
    todo_of(calendar)
    return calendar


def todo_of(calendar: Component) -> Component:
    """The task of a stored calendar: its VTODO without a RECURRENCE-ID (else the first)."""
    todos = [c for c in calendar.components if c.name == "VTODO"]
    if not todos:
        raise EWSError("ErrorItemCorrupt", "the stored item is not a task")
    return next((c for c in todos if c.get("RECURRENCE-ID") is None), todos[0])


def ews_time(prop: Property, calendar: Component) -> Optional[str]:
    """``prop``'s time as EWS dateTime text in UTC (None for a value it cannot read)."""
    try:
        epoch = prop_time(prop, zones_of(calendar)).epoch
    except Exception:  # a value no client should have stored: the field is left out
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fields_of(calendar: Component) -> dict:
    """The EWS fields a stored task holds: name -> value (dates as EWS dateTime text,
    PercentComplete as an int, IsComplete as a bool, Categories as a list)."""
    todo = todo_of(calendar)
    out: dict = {}
    for field, name in (("Subject", "SUMMARY"), ("Body", "DESCRIPTION")):
        value = todo.value(name)
        if value:
            out[field] = unescape_text(value)
    for field, name in DATES.items():
        prop = todo.get(name)
        if prop is not None:
            when = ews_time(prop, calendar)
            if when is not None:
                out[field] = when
    status = (todo.value("STATUS") or "").strip().upper()
    extra = (todo.value(EXTRA_STATUS) or "").strip()
    if extra in STATUSES and STATUSES[extra] == (status or "NEEDS-ACTION"):
        out["Status"] = extra  # only while the STATUS beside it was not changed elsewhere
    else:
        out["Status"] = _FROM_STATUS.get(status, "Completed" if todo.get("COMPLETED") is not None else "NotStarted")
    percent = (todo.value("PERCENT-COMPLETE") or "").strip()
    if percent.isdigit():
        out["PercentComplete"] = min(int(percent), 100)
    elif out["Status"] == "Completed":
        out["PercentComplete"] = 100
    else:
        out["PercentComplete"] = 0
    out["IsComplete"] = out["Status"] == "Completed"
    priority = (todo.value("PRIORITY") or "").strip()
    if priority.isdigit() and int(priority):
        out["Importance"] = "High" if int(priority) < 5 else "Normal" if int(priority) == 5 else "Low"
    else:
        out["Importance"] = "Normal"
    out["Sensitivity"] = _FROM_CLASS.get((todo.value("CLASS") or "").strip().upper(), "Normal")
    categories = text_list(todo.get_all("CATEGORIES"))
    if categories:
        out["Categories"] = categories
    start, due = (_instant(todo.get(name), calendar) for name in ("DTSTART", "DUE"))
    due_by = reminders.task_due_by(todo, start, due)
    if due_by is not None:
        out["ReminderDueBy"] = due_by.strftime("%Y-%m-%dT%H:%M:%SZ")
    rule = todo.get("RRULE")
    first = start or due
    if rule is not None and first is not None:
        local = todo.get("DTSTART") or todo.get("DUE")
        try:
            day = prop_time(local, zones_of(calendar)).local.date()
        except Exception:  # a value no client should have stored
            day = first.date()
        out["IsRecurring"] = True
        if recurrence_element(rule.value, day) is not None:  # else no EWS pattern says it
            out["Recurrence"] = rule.value
            out["RecurrenceStart"] = day.isoformat()
    return out


def _instant(prop: Optional[Property], calendar: Component) -> Optional[datetime]:
    when = ews_time(prop, calendar) if prop is not None else None
    return datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if when else None


def task_element(account: str, source: str, name: str, revision: int, content: bytes, shape: Shape):
    """The ``<t:Task>`` of a stored VTODO in ``shape`` (elements in the schema's order)."""
    calendar = load(content)
    fields = fields_of(calendar)

    def wants(uri: str) -> bool:
        return shape.wants(uri, uri in DEFAULT_FIELDS)

    ref = ids.ItemRef(account, ids.ITEM, source, name)
    node = item_element("Task", "IPM.Task", ref, revision, wants)
    if wants("item:Subject"):
        etree.SubElement(node, t("Subject")).text = text(fields.get("Subject", ""))
    if wants("item:Sensitivity"):
        etree.SubElement(node, t("Sensitivity")).text = fields["Sensitivity"]
    if "Body" in fields and wants("item:Body"):
        etree.SubElement(node, t("Body"), BodyType="Text").text = text(fields["Body"])
    if "Categories" in fields and wants("item:Categories"):
        holder = etree.SubElement(node, t("Categories"))
        for category in fields["Categories"]:
            etree.SubElement(holder, t("String")).text = text(category)
    if wants("item:Importance"):
        etree.SubElement(node, t("Importance")).text = fields["Importance"]
    if "ReminderDueBy" in fields and wants("item:ReminderDueBy"):
        etree.SubElement(node, t("ReminderDueBy")).text = fields["ReminderDueBy"]
    if wants("item:ReminderIsSet"):
        etree.SubElement(node, t("ReminderIsSet")).text = "true" if "ReminderDueBy" in fields else "false"
    # ExtendedProperty is ItemType's, before the task's own fields.
    render_component(node, todo_of(calendar), shape)
    if "CompleteDate" in fields and wants("task:CompleteDate"):
        etree.SubElement(node, t("CompleteDate")).text = fields["CompleteDate"]
    if "DueDate" in fields and wants("task:DueDate"):
        etree.SubElement(node, t("DueDate")).text = fields["DueDate"]
    if wants("task:IsComplete"):
        etree.SubElement(node, t("IsComplete")).text = "true" if fields["IsComplete"] else "false"
    if wants("task:IsRecurring"):
        etree.SubElement(node, t("IsRecurring")).text = "true" if fields.get("IsRecurring") else "false"
    if wants("task:PercentComplete"):
        etree.SubElement(node, t("PercentComplete")).text = str(fields["PercentComplete"])
    if "Recurrence" in fields and wants("task:Recurrence"):
        node.append(recurrence_element(fields["Recurrence"], date.fromisoformat(fields["RecurrenceStart"])))
    if "StartDate" in fields and wants("task:StartDate"):
        etree.SubElement(node, t("StartDate")).text = fields["StartDate"]
    if wants("task:Status"):
        etree.SubElement(node, t("Status")).text = fields["Status"]
    item_attachments.render(node, ref, calendar, wants)  # ews-drafts
    return node


# -- EWS -> VTODO ----------------------------------------------------------------------


def _percent(value: str) -> int:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise EWSError(SCHEMA_VALIDATION, f"PercentComplete {value[:20]!r} is not a number") from None
    if not 0 <= number <= 100:
        raise EWSError(INVALID_PROPERTY_SET, "PercentComplete is between 0 and 100")
    return int(number)


def read_fields(node) -> dict:
    """The fields a ``<t:Task>`` element (or one field of it in an update) sets."""
    out: dict = {}
    subject = node.findtext(t("Subject"))
    if subject is not None:
        out["Subject"] = subject.strip()
    body = node.find(t("Body"))
    if body is not None:
        out["Body"] = body.text or ""
    for field in DATES:
        value = node.findtext(t(field))
        if value is not None:
            out[field] = parse_when(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = node.findtext(t("Status"))
    if status is not None:
        if status.strip() not in STATUSES:
            raise EWSError(SCHEMA_VALIDATION, f"Status {status.strip()[:20]!r}")
        out["Status"] = status.strip()
    percent = node.findtext(t("PercentComplete"))
    if percent is not None:
        out["PercentComplete"] = _percent(percent)
    complete = node.findtext(t("IsComplete"))
    if complete is not None:
        out["IsComplete"] = xs_bool(complete)
    out.update(read_importance(node))
    categories = node.find(t("Categories"))
    if categories is not None:
        out["Categories"] = [(s.text or "").strip() for s in categories if isinstance(s.tag, str)]
    reminder = node.findtext(t("ReminderIsSet"))
    if reminder is not None:
        out["ReminderIsSet"] = xs_bool(reminder)
    due_by = node.findtext(t("ReminderDueBy"))
    if due_by is not None:
        out["ReminderDueBy"] = parse_when(due_by).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    recurrence = node.find(t("Recurrence"))
    if recurrence is not None:
        out["Recurrence"] = rrule_of(recurrence)
        first = recurrence.findtext(".//" + t("StartDate"))
        if first:
            out["RecurrenceStart"] = first.strip()[:10]
    return out


def _set(todo: Component, name: str, value: Optional[str]) -> None:
    """Replace every ``name`` property by one with ``value`` (None or "": remove them)."""
    todo.properties = [p for p in todo.properties if p.name != name]
    if value:
        todo.properties.append(Property(name, value))


def _utc(value: str) -> str:
    return parse_when(value).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def apply(calendar: Component, fields: dict, removed: frozenset = frozenset()) -> None:
    """Write ``fields`` (as ``read_fields`` gives) into the calendar's VTODO and clear the
    fields in ``removed``; every property no field names is left as it was."""
    todo = todo_of(calendar)
    for field, name in (("Subject", "SUMMARY"), ("Body", "DESCRIPTION")):
        if field in fields or field in removed:
            _set(todo, name, escape_text(fields[field]) if fields.get(field) else None)
    status = fields.get("Status")
    if status is None and fields.get("IsComplete") is True:
        status = "Completed"
    elif status is None and fields.get("IsComplete") is False and todo.value("STATUS") == "COMPLETED":
        status = "NotStarted"
    if "Status" in removed:
        status = "NotStarted"
    if status is not None:
        _set(todo, "STATUS", STATUSES[status])
        _set(todo, EXTRA_STATUS, status if status in ("WaitingOnOthers", "Deferred") else None)
        if status == "Completed":
            # As Exchange does: a completed task is 100% done, completed now unless told.
            fields = {"PercentComplete": 100, **fields}
            if todo.get("COMPLETED") is None and "CompleteDate" not in fields:
                fields = {**fields, "CompleteDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        elif "CompleteDate" not in fields:
            removed = removed | {"CompleteDate"}  # reopened: no longer completed
    for field, name in DATES.items():
        if field in fields or field in removed:
            _set(todo, name, _utc(fields[field]) if fields.get(field) else None)
    if "PercentComplete" in fields or "PercentComplete" in removed:
        _set(todo, "PERCENT-COMPLETE", str(fields.get("PercentComplete", 0)))
    if "Importance" in fields or "Importance" in removed:
        _set(todo, "PRIORITY", IMPORTANCES[fields["Importance"]] if "Importance" in fields else None)
    if "Sensitivity" in fields or "Sensitivity" in removed:
        _set(todo, "CLASS", SENSITIVITIES[fields["Sensitivity"]] if "Sensitivity" in fields else None)
    if "Categories" in fields or "Categories" in removed:
        wanted = [c for c in fields.get("Categories", []) if c]
        _set(todo, "CATEGORIES", ",".join(escape_text(c) for c in wanted) or None)
    _apply_reminder(calendar, todo, fields, removed)
    if "Recurrence" in removed and "Recurrence" not in fields_of(calendar) and todo.get("RRULE") is not None:
        # A rule EWS has no pattern for was never sent: a client clearing the field it
        # did not get (as those saving every field do) must not end the series.
        removed = removed - {"Recurrence"}
    if "Recurrence" in fields or "Recurrence" in removed:
        _set(todo, "RRULE", fields.get("Recurrence") or None)
        if fields.get("Recurrence") and todo.get("DTSTART") is None:
            # A series counts from its DTSTART: the due date, else the pattern's start.
            due = todo.get("DUE")
            if due is not None:
                todo.properties.append(Property("DTSTART", due.value, list(due.params)))
            else:
                day = fields.get("RecurrenceStart") or datetime.now(timezone.utc).date().isoformat()
                _set(todo, "DTSTART", _utc(day + "T00:00:00Z"))
    _bump(todo)


def _apply_reminder(calendar: Component, todo: Component, fields: dict, removed: frozenset) -> None:
    """ReminderIsSet and ReminderDueBy onto the task's reminder VALARM: a time given is
    an absolute TRIGGER; turned on without one, at the due date (else the start)."""
    if "ReminderIsSet" in removed or fields.get("ReminderIsSet") is False:
        reminders.set_task_reminder(todo, None)
        return
    due_by = fields.get("ReminderDueBy")
    if due_by is not None and (fields.get("ReminderIsSet") is True or reminders.task_alarm(todo) is not None):
        reminders.set_task_reminder(todo, parse_when(due_by))
    elif fields.get("ReminderIsSet") is True and reminders.task_alarm(todo) is None:
        when = _instant(todo.get("DUE"), calendar) or _instant(todo.get("DTSTART"), calendar)
        if when is not None:
            reminders.set_task_reminder(todo, when)


def _bump(todo: Component) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        _set(todo, name, stamp)
    sequence = todo.get("SEQUENCE")
    if sequence is not None and sequence.value.isdigit():
        sequence.value = str(int(sequence.value) + 1)


def new_task(fields: dict) -> tuple[str, bytes]:
    """``(uid, iCalendar bytes)`` of a new task with ``fields``."""
    uid = str(uuid.uuid4())
    todo = Component("VTODO", [Property("UID", uid)])
    calendar = Component("VCALENDAR", [Property("VERSION", "2.0"),
                                       Property("PRODID", "-//smsync//EWS//EN")], [todo])
    if "Status" not in fields and "IsComplete" not in fields:
        fields = {**fields, "Status": "NotStarted"}
    apply(calendar, fields)
    return uid, serialize(calendar)
