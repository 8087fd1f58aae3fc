"""EWS reminders <-> VALARMs: pure functions over the stored component.

EWS has one reminder an item (ReminderIsSet, ReminderMinutesBeforeStart, ReminderDueBy);
iCalendar any number of alarms. The reminder is the component's first *display* VALARM
(ACTION:DISPLAY) -- for an event, the first with a TRIGGER relative to the start; for a
task, the first with a relative or an absolute TRIGGER. Setting the reminder rewrites
only that VALARM's TRIGGER (or adds one), clearing it removes only that one: every other
alarm a CalDAV client made (a second reminder, an e-mail or audio alarm) is kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property
from smsync.formats.icaltime import parse_duration, parse_time

#: Exchange's reminder when a client turns one on without saying when.
DEFAULT_MINUTES = 15


def _is_display(alarm: Component) -> bool:
    return alarm.name == "VALARM" and (alarm.value("ACTION") or "").strip().upper() == "DISPLAY"


def _relative_minutes(trigger: Property) -> Optional[int]:
    """Minutes before the start of a TRIGGER relative to the start (None otherwise)."""
    if (trigger.param("VALUE") or "DURATION").upper() != "DURATION":
        return None
    if (trigger.param("RELATED") or "START").upper() != "START":
        return None
    try:
        duration = parse_duration(trigger.value)
    except InvalidData:
        return None
    return -duration.total // 60


def _absolute(trigger: Property) -> Optional[datetime]:
    if (trigger.param("VALUE") or "").upper() != "DATE-TIME":
        return None
    try:
        when = parse_time(trigger.value, None)
    except InvalidData:
        return None
    return when.local.replace(tzinfo=timezone.utc)


def event_alarm(event: Component) -> Optional[Component]:
    """The VALARM that is an event's reminder (None: no reminder)."""
    for alarm in event.components:
        trigger = alarm.get("TRIGGER")
        if _is_display(alarm) and trigger is not None and _relative_minutes(trigger) is not None:
            return alarm
    return None


def event_minutes(event: Component) -> Optional[int]:
    """ReminderMinutesBeforeStart of an event (None: ReminderIsSet false)."""
    alarm = event_alarm(event)
    return _relative_minutes(alarm.get("TRIGGER")) if alarm is not None else None


def _trigger_text(minutes: int) -> str:
    if minutes == 0:
        return "PT0S"
    sign = "-" if minutes > 0 else ""
    return f"{sign}PT{abs(minutes)}M"


def _new_alarm(trigger: Property) -> Component:
    return Component("VALARM", [Property("ACTION", "DISPLAY"), Property("DESCRIPTION", "Reminder"), trigger])


def _replace_trigger(alarm: Component, trigger: Property) -> None:
    alarm.properties = [p if p.name != "TRIGGER" else trigger for p in alarm.properties]


def set_event_reminder(event: Component, minutes: Optional[int]) -> None:
    """Make an event's reminder ``minutes`` before its start (None: no reminder)."""
    alarm = event_alarm(event)
    if minutes is None:
        if alarm is not None:
            event.components.remove(alarm)
        return
    trigger = Property("TRIGGER", _trigger_text(minutes))
    if alarm is None:
        event.components.insert(0, _new_alarm(trigger))
    elif _relative_minutes(alarm.get("TRIGGER")) != minutes:
        _replace_trigger(alarm, trigger)


def task_alarm(todo: Component) -> Optional[Component]:
    """The VALARM that is a task's reminder: the first display alarm whose TRIGGER is
    absolute or relative (to the start or to the due date)."""
    for alarm in todo.components:
        if _is_display(alarm) and alarm.get("TRIGGER") is not None:
            return alarm
    return None


def task_due_by(todo: Component, start: Optional[datetime], due: Optional[datetime]) -> Optional[datetime]:
    """ReminderDueBy of a task (UTC; None: no reminder, or one relative to a time the
    task does not have). ``start`` and ``due`` are its DTSTART and DUE in UTC."""
    alarm = task_alarm(todo)
    if alarm is None:
        return None
    trigger = alarm.get("TRIGGER")
    absolute = _absolute(trigger)
    if absolute is not None:
        return absolute
    try:
        duration = parse_duration(trigger.value)
    except InvalidData:
        return None
    related = (trigger.param("RELATED") or "START").upper()
    base = due if related == "END" else (start if start is not None else due)
    return base + timedelta(seconds=duration.total) if base is not None else None


def set_task_reminder(todo: Component, due_by: Optional[datetime]) -> None:
    """Make a task's reminder an absolute one at ``due_by`` (None: no reminder)."""
    alarm = task_alarm(todo)
    if due_by is None:
        if alarm is not None:
            todo.components.remove(alarm)
        return
    trigger = Property("TRIGGER", due_by.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                       [("VALUE", ["DATE-TIME"])])
    if alarm is None:
        todo.components.insert(0, _new_alarm(trigger))
    elif _absolute(alarm.get("TRIGGER")) != due_by.astimezone(timezone.utc).replace(microsecond=0):
        _replace_trigger(alarm, trigger)
