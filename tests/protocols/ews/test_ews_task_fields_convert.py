"""Task reminders and recurrences each way: ReminderIsSet/ReminderDueBy as the first
display VALARM (relative or absolute; other alarms kept) and the Recurrence as the
VTODO's RRULE, in the calendar's patterns."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import serialize
from smsync.protocols.ews import soap, tasks
from smsync.protocols.ews.operations.pim_changes import task_changes
from smsync.protocols.ews.shapes import ALL, Shape
from tests.protocols.ews.test_ews_calendar_convert import _first_days, _patterns, _ranges, _recurrence_xml, _tree

t = soap.t
NS = f'xmlns:t="{soap.T}"'


def task(inner: str):
    return etree.fromstring(f"<t:Task {NS}>{inner}</t:Task>")


def element(content: bytes):
    return tasks.task_element("a@example.org", "t1", "x.ics", 1, content, Shape(ALL))


TODO = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:t1\r\n"
        b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T080000Z\r\nDUE:20260305T170000Z\r\nSUMMARY:Report\r\n"
        b"BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\n"
        b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;RELATED=END:-PT30M\r\nDESCRIPTION:due\r\nEND:VALARM\r\n"
        b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:PT1H\r\nDESCRIPTION:later\r\nEND:VALARM\r\n"
        b"END:VTODO\r\nEND:VCALENDAR\r\n")


def test_a_task_reminder_relative_to_its_due_date_and_an_ews_change():
    node = element(TODO)
    assert (node.findtext(t("ReminderIsSet")), node.findtext(t("ReminderDueBy"))) == ("true", "2026-03-05T16:30:00Z")
    parsed = tasks.load(TODO)
    tasks.apply(parsed, tasks.read_fields(task("<t:ReminderIsSet>true</t:ReminderIsSet>"
                                               "<t:ReminderDueBy>2026-03-04T09:00:00Z</t:ReminderDueBy>")))
    text = serialize(parsed).decode()
    # The reminder's TRIGGER is replaced in place, the other alarms kept.
    assert "TRIGGER;VALUE=DATE-TIME:20260304T090000Z\r\nDESCRIPTION:due" in text
    assert "RELATED=END" not in text and "ACTION:AUDIO" in text and "TRIGGER:PT1H" in text
    assert element(serialize(parsed)).findtext(t("ReminderDueBy")) == "2026-03-04T09:00:00Z"
    tasks.apply(parsed, {"ReminderIsSet": False})
    text = serialize(parsed).decode()
    assert "DESCRIPTION:due" not in text and text.count("BEGIN:VALARM") == 2
    # The next display alarm (an hour after the start) is the reminder now.
    assert element(serialize(parsed)).findtext(t("ReminderDueBy")) == "2026-03-01T09:00:00Z"


def test_a_reminder_turned_on_without_a_time_is_at_the_due_date():
    _uid, content = tasks.new_task(tasks.read_fields(task(
        "<t:Subject>s</t:Subject><t:ReminderIsSet>true</t:ReminderIsSet><t:DueDate>2026-04-01T12:00:00Z</t:DueDate>")))
    assert element(content).findtext(t("ReminderDueBy")) == "2026-04-01T12:00:00Z"
    _uid, content = tasks.new_task(tasks.read_fields(task("<t:ReminderIsSet>false</t:ReminderIsSet>")))
    assert b"VALARM" not in content and element(content).findtext(t("ReminderIsSet")) == "false"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)), st.booleans())
def test_task_reminder_round_trips(when, is_set):
    due_by = when.replace(microsecond=0, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _uid, content = tasks.new_task(tasks.read_fields(task(
        f"<t:ReminderDueBy>{due_by}</t:ReminderDueBy><t:ReminderIsSet>{str(is_set).lower()}</t:ReminderIsSet>")))
    node = element(content)
    assert node.findtext(t("ReminderIsSet")) == str(is_set).lower()
    assert node.findtext(t("ReminderDueBy")) == (due_by if is_set else None)


@given(_patterns, _ranges, _first_days)
def test_task_recurrence_round_trip(pattern, ending, first):
    """A task's Recurrence -> RRULE (and DTSTART from the pattern's start) -> the same
    Recurrence."""
    xml = _recurrence_xml(pattern, ending, first)
    inner = xml.replace(f' xmlns:t="{soap.T}"', "")
    _uid, content = tasks.new_task(tasks.read_fields(task("<t:Subject>r</t:Subject>" + inner)))
    assert b"RRULE:" in content and b"DTSTART:" in content
    node = element(content)
    assert node.findtext(t("IsRecurring")) == "true"
    assert _tree(node.find(t("Recurrence"))) == _tree(etree.fromstring(xml))


def test_task_elements_in_schema_order_and_a_rule_ews_cannot_say_is_kept():
    content = TODO.replace(b"SUMMARY:Report", b"SUMMARY:Report\r\nRRULE:FREQ=WEEKLY;BYDAY=MO")
    tags = [c.tag.rpartition("}")[2] for c in element(content)]
    assert tags == ["ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Importance",
                    "ReminderDueBy", "ReminderIsSet", "DueDate", "IsComplete", "IsRecurring", "PercentComplete",
                    "Recurrence", "StartDate", "Status"]
    hourly = TODO.replace(b"SUMMARY:Report", b"SUMMARY:Report\r\nRRULE:FREQ=HOURLY")
    node = element(hourly)
    assert node.findtext(t("IsRecurring")) == "true" and node.find(t("Recurrence")) is None
    updates = etree.fromstring(f'<t:Updates {NS}><t:DeleteItemField><t:FieldURI FieldURI="task:Recurrence"/>'
                               "</t:DeleteItemField></t:Updates>")
    fields, removed = task_changes(updates)
    parsed = tasks.load(hourly)
    tasks.apply(parsed, fields, removed)
    assert b"RRULE:FREQ=HOURLY" in serialize(parsed)
    parsed = tasks.load(content)
    tasks.apply(parsed, fields, removed)
    assert b"RRULE" not in serialize(parsed)


def test_a_recurrence_set_on_a_task_with_a_due_date_starts_there():
    _uid, content = tasks.new_task({"Subject": "s", "DueDate": "2026-03-04T17:00:00Z"})
    parsed = tasks.load(content)
    updates = etree.fromstring(
        f'<t:Updates {NS}><t:SetItemField><t:FieldURI FieldURI="task:Recurrence"/><t:Task>'
        "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Wednesday</t:DaysOfWeek>"
        "</t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2026-03-04Z</t:StartDate></t:NoEndRecurrence>"
        "</t:Recurrence></t:Task></t:SetItemField></t:Updates>")
    tasks.apply(parsed, *task_changes(updates))
    text = serialize(parsed)
    assert b"DTSTART:20260304T170000Z" in text and b"RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE" in text
    assert element(text).find(t("Recurrence")).find(t("NoEndRecurrence")).findtext(t("StartDate")) == "2026-03-04Z"
