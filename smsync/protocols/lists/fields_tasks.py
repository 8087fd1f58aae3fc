"""A stored VTODO as a row of a Tasks list (MS-OUTSPS task fields), and back.

=================  ==========================================================
Field              VTODO
=================  ==========================================================
Title              SUMMARY
Body               DESCRIPTION
Status             STATUS: Not Started = NEEDS-ACTION (or none), In Progress =
                   IN-PROCESS, Completed = COMPLETED, Deferred = CANCELLED;
                   Waiting on someone else = NEEDS-ACTION with
                   ``X-SMSYNC-TASK-STATUS:WAITING`` (iCalendar has no such state)
Priority           PRIORITY: (1) High = 1-4, (2) Normal = 5 or none, (3) Low = 6-9
PercentComplete    PERCENT-COMPLETE / 100 (``0.5`` is 50 %)
StartDate          DTSTART (a DATE is midnight UTC; midnight UTC is written as a DATE)
DueDate            DUE (likewise)
AssignedTo         the first ATTENDEE: its CN, else its address without ``mailto:``
=================  ==========================================================

``info`` is only used for the UID of a new task (``info.uid`` when set). A task from
Outlook with StartDate after DueDate keeps both: the store decides.
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote

from smsync.errors import InvalidData
from smsync.model import CollectionKind
from smsync.formats.contentlines import Component, Property, escape_text, unescape_text
from smsync.formats.icaltime import zones_of

from . import fields_common as fc
from . import fields_ical as fi

NOT_STARTED, IN_PROGRESS, COMPLETED, DEFERRED, WAITING = (
    "Not Started", "In Progress", "Completed", "Deferred", "Waiting on someone else")
STATUSES = (NOT_STARTED, IN_PROGRESS, COMPLETED, DEFERRED, WAITING)
HIGH, NORMAL, LOW = "(1) High", "(2) Normal", "(3) Low"
PRIORITIES = (HIGH, NORMAL, LOW)
#: Where a status iCalendar has no word for is kept.
STATUS_PROP = "X-SMSYNC-TASK-STATUS"

#: The collections this list type shows, and its SharePoint list template
#: (``ServerTemplate`` of GetList: 105 Contacts, 106 Events, 107 Tasks).
KIND = CollectionKind.TASKS
SERVER_TEMPLATE = 107

FIELDS = (
    fc.Field("Title", "Text", "Title", required=True),
    fc.Field("Priority", "Choice", "Priority", choices=PRIORITIES),
    fc.Field("Status", "Choice", "Status", choices=STATUSES),
    fc.Field("PercentComplete", "Number", "% Complete"),
    fc.Field("AssignedTo", "User", "Assigned To"),
    fc.Field("Body", "Note", "Description"),
    fc.Field("StartDate", "DateTime", "Start Date", format="DateOnly"),
    fc.Field("DueDate", "DateTime", "Due Date", format="DateOnly"),
)
NAMES = fc.field_names(FIELDS)

_TO_STATUS = {"NEEDS-ACTION": NOT_STARTED, "IN-PROCESS": IN_PROGRESS, "COMPLETED": COMPLETED,
              "CANCELLED": DEFERRED}
_FROM_STATUS = {NOT_STARTED: "NEEDS-ACTION", IN_PROGRESS: "IN-PROCESS", COMPLETED: "COMPLETED",
                DEFERRED: "CANCELLED", WAITING: "NEEDS-ACTION"}
_USER_ID = re.compile(r"^-?\d+;#")


def _status(todo: Component) -> str:
    status = (todo.value("STATUS") or "").strip().upper()
    if status in ("", "NEEDS-ACTION") and (todo.value(STATUS_PROP) or "").strip().upper() == "WAITING":
        return WAITING
    return _TO_STATUS.get(status, NOT_STARTED)


def _priority(todo: Component) -> str:
    try:
        value = int((todo.value("PRIORITY") or "0").strip())
    except ValueError:
        return NORMAL
    if 1 <= value <= 4:
        return HIGH
    if 6 <= value <= 9:
        return LOW
    return NORMAL


def _percent(todo: Component) -> str:
    try:
        value = max(0, min(100, int((todo.value("PERCENT-COMPLETE") or "0").strip())))
    except ValueError:
        value = 0
    return format_percent(value)


def format_percent(value: int) -> str:
    """A whole percentage as the list's fraction (``50`` -> ``0.5``)."""
    return f"{value / 100:.2f}".rstrip("0").rstrip(".")


def _date_field(todo: Component, name: str, zones: dict) -> str:
    time = fi.read_time(todo.get(name), zones)
    if time is None:
        return ""
    if time.is_date:
        return fc.format_date(time.local.date())
    return fc.format_datetime(fi.utc_of(time))


def _assigned(todo: Component) -> str:
    attendee = todo.get("ATTENDEE")
    if attendee is None:
        return ""
    name = attendee.param("CN")
    if name:
        return name
    value = unescape_text(attendee.value).strip()
    return value[7:] if value.lower().startswith("mailto:") else value


def _todo(content: bytes) -> tuple[Component, Component]:
    cal = fi.load_calendar(content)
    todo, _ = fi.items_of(cal, "VTODO")
    return cal, todo


def to_row(content: bytes, info=None) -> dict[str, str]:
    """The stored task as a Tasks list row (see the module docstring); ``InvalidData``
    for content that is not a VTODO. ``info`` is not used."""
    cal, todo = _todo(content)
    zones = zones_of(cal)
    return {
        "Title": fc.text_of(todo.value("SUMMARY")),
        "Body": fc.text_of(todo.value("DESCRIPTION")),
        "Status": _status(todo),
        "Priority": _priority(todo),
        "PercentComplete": _percent(todo),
        "StartDate": _date_field(todo, "DTSTART", zones),
        "DueDate": _date_field(todo, "DUE", zones),
        "AssignedTo": _assigned(todo),
    }


def _parse_percent(text: str) -> int:
    text = text.strip().rstrip("%").strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        raise InvalidData(f"bad PercentComplete {text[:20]!r}") from None
    if not 0 <= value <= 1:  # also refuses nan and inf
        raise InvalidData(f"PercentComplete {text[:20]!r} out of 0..1")
    return round(value * 100)


def _set_date(todo: Component, name: str, text: str, zone_info) -> None:
    if not text.strip():
        fi.replace(todo, name, None)
        return
    when = fc.parse_datetime(text, name)
    tzid, zone = zone_info
    if when.hour == when.minute == when.second == 0 and not tzid:
        # Outlook's tasks have dates, which the list carries as midnight.
        fi.set_time(todo, name, when.date(), None, None)
    else:
        fi.set_time(todo, name, when, tzid, zone)


def _set_assigned(todo: Component, text: str) -> None:
    text = _USER_ID.sub("", text.strip())
    attendees = todo.get_all("ATTENDEE")
    if not text:
        todo.properties = [p for p in todo.properties if p is not (attendees[0] if attendees else None)]
        return
    if "@" in text and text.isprintable() and not any(c in text for c in ' ;:,"<>\\'):
        prop = Property("ATTENDEE", "mailto:" + text)
    else:
        # A name without an address: a URN keeps it a valid cal-address.
        prop = Property("ATTENDEE", "urn:x-smsync:user:" + quote(text, safe=""), [("CN", [text])])
    if attendees:
        at = todo.properties.index(attendees[0])
        todo.properties[at] = prop
    else:
        todo.properties.append(prop)



def to_rows(content: bytes, info=None) -> list[dict[str, str]]:
    """``[to_row(content)]``: a task is one row (as ``fields_events.to_rows`` has it)."""
    return [to_row(content, info)]


def from_row(fields: dict[str, str], existing: Optional[bytes] = None, info=None) -> bytes:
    """The task to store for a Tasks list row: a new VTODO, or ``existing`` with what
    the row changes (fields left out, or sent as the stored task shows them, leave it as
    it is). ``InvalidData`` for a row that cannot be read."""
    fc.check_size(fields)
    if existing is not None:
        cal, todo = _todo(existing)
        shown = to_row(existing)
    else:
        uid = getattr(info, "uid", None) or fi.new_uid()
        todo = Component("VTODO", [Property("UID", escape_text(uid)), Property("DTSTAMP", fi.stamp())])
        cal = fi.new_calendar(todo)
        shown = {}

    def changed(name: str) -> bool:
        return fc.differs(fields, shown, name) or (existing is None and name in fields)

    # Read everything before changing anything: bad input changes nothing.
    status = fields.get("Status", "").strip() if changed("Status") else None
    if status is not None and status and status not in STATUSES:
        raise InvalidData(f"unknown task Status {status[:40]!r}")
    priority = fields.get("Priority", "").strip() if changed("Priority") else None
    if priority and priority not in PRIORITIES:
        raise InvalidData(f"unknown task Priority {priority[:40]!r}")
    percent = _parse_percent(fields["PercentComplete"]) if changed("PercentComplete") else None
    for name in ("StartDate", "DueDate"):
        if changed(name) and fields[name].strip():
            fc.parse_datetime(fields[name], name)

    if changed("Title"):
        fi.set_text(todo, "SUMMARY", fc.ical_text(fields["Title"]))
    if changed("Body"):
        fi.set_text(todo, "DESCRIPTION", fc.ical_text(fields["Body"]))
    if status is not None:
        status = status or NOT_STARTED
        fi.set_text(todo, "STATUS", _FROM_STATUS[status])
        fi.set_text(todo, STATUS_PROP, "WAITING" if status == WAITING else None)
        if status == COMPLETED and todo.get("COMPLETED") is None:
            todo.properties.append(Property("COMPLETED", fi.stamp()))
        elif status != COMPLETED:
            fi.replace(todo, "COMPLETED", None)
    if priority is not None:
        fi.set_text(todo, "PRIORITY", {HIGH: "1", NORMAL: "5", LOW: "9", "": None}[priority])
    if percent is not None:
        fi.set_text(todo, "PERCENT-COMPLETE", str(percent))
    zone_info = fi.item_zone(cal, todo) if existing is not None else (None, None)
    if changed("StartDate"):
        _set_date(todo, "DTSTART", fields["StartDate"], zone_info)
    if changed("DueDate"):
        _set_date(todo, "DUE", fields["DueDate"], zone_info)
        fi.replace(todo, "DURATION", None)
    if changed("AssignedTo"):
        _set_assigned(todo, fields["AssignedTo"])
    if existing is not None:
        if fi.dump(cal) == fi.dump(fi.load_calendar(existing)):
            return existing  # nothing changed: not even DTSTAMP moves
        fi.touch(todo)
    return fi.dump(cal)
