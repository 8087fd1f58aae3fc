"""Calendar item fields beyond the basics, each way: time zones (StartTimeZone,
EndTimeZone, MeetingTimeZone, the TimeZoneContext) as a TZID with its VTIMEZONE,
reminders as the first display VALARM (other alarms kept), Importance and Sensitivity
as PRIORITY and CLASS, and the meeting state fields read from the attendees."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import serialize
from smsync.formats.windowszones import WINDOWS_TO_IANA
from smsync.protocols.ews import calendar, calendar_edit, reminders, soap, timezones
from smsync.protocols.ews.operations.pim_changes import event_changes
from smsync.protocols.ews.shapes import ALL, Shape

t = soap.t
NS = 'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def item(inner: str):
    return etree.fromstring(f"<t:CalendarItem {NS}>{inner}</t:CalendarItem>")


def weekly_in(zone_xml: str, count: int = 52) -> bytes:
    node = item("<t:Subject>Standup</t:Subject>"
                "<t:Start>2026-01-05T09:00:00+01:00</t:Start><t:End>2026-01-05T09:30:00+01:00</t:End>"
                "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek>"
                "</t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-01-05</t:StartDate>"
                f"<t:NumberOfOccurrences>{count}</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>"
                + zone_xml)
    return calendar_edit.new_event(calendar_edit.read_fields(node))[1]


def element(content: bytes, version=None, account="a@example.org"):
    return calendar.calendar_item_element(account, "c1", "e.ics", 1, content, Shape(ALL), version=version)


def unfolded(content: bytes) -> str:
    return content.replace(b"\r\n ", b"").decode()


# -- time zones ------------------------------------------------------------------------


def test_a_weekly_series_in_a_windows_zone_keeps_its_local_time_across_dst():
    content = weekly_in('<t:StartTimeZone Id="W. Europe Standard Time"/>'
                        '<t:EndTimeZone Id="W. Europe Standard Time"/>')
    text = unfolded(content)
    assert "DTSTART;TZID=Europe/Berlin:20260105T090000" in text
    assert "DTEND;TZID=Europe/Berlin:20260105T093000" in text
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin" in text
    found = calendar.instances(content, datetime(2026, 3, 1, tzinfo=timezone.utc),
                               datetime(2026, 11, 15, tzinfo=timezone.utc))
    # Around the last Sundays of March and October: 09:00 in Berlin each week, so 08:00
    # then 07:00 then 08:00 UTC.
    local = {i.start.astimezone(BERLIN).strftime("%H:%M") for i in found}
    assert local == {"09:00"}
    utc = [i.start.strftime("%m-%d %H:%M") for i in found]
    assert "03-23 08:00" in utc and "03-30 07:00" in utc and "10-19 07:00" in utc and "10-26 08:00" in utc


def test_a_series_in_utc_moves_its_local_time_instead():
    content = weekly_in("")
    found = calendar.instances(content, datetime(2026, 3, 1, tzinfo=timezone.utc),
                               datetime(2026, 4, 15, tzinfo=timezone.utc))
    assert {i.start.strftime("%H:%M") for i in found} == {"08:00"}
    assert "DTSTART:20260105T080000Z" in unfolded(content) and "VTIMEZONE" not in unfolded(content)


def test_the_meeting_time_zone_of_exchange_2007_and_the_time_zone_context():
    content = weekly_in('<t:MeetingTimeZone TimeZoneName="Pacific Standard Time"><t:BaseOffset>PT8H</t:BaseOffset>'
                        '</t:MeetingTimeZone>', count=2)
    assert "DTSTART;TZID=America/Los_Angeles:20260105T000000" in unfolded(content)
    assert "DTEND;TZID=America/Los_Angeles:20260105T003000" in unfolded(content)
    # No zone on the item: the request's TimeZoneContext, which also says what a time
    # without an offset means.
    node = item("<t:Start>2026-07-01T10:00:00</t:Start><t:End>2026-07-01T11:00:00</t:End>")
    fields = calendar_edit.read_fields(node, "Europe/Berlin")
    text = unfolded(calendar_edit.new_event(fields, zone="Europe/Berlin")[1])
    assert "DTSTART;TZID=Europe/Berlin:20260701T100000" in text
    # A zone named UTC keeps the times in UTC; one not known too.
    for zone in ('<t:StartTimeZone Id="UTC"/>', '<t:StartTimeZone Id="Atlantis Standard Time"/>'):
        assert "DTSTART:20260105T080000Z" in unfolded(weekly_in(zone, count=2))


def test_an_update_of_the_zone_alone_keeps_the_instants():
    content = weekly_in("", count=2)
    parsed = calendar.load(content)
    updates = etree.fromstring(
        f'<t:Updates {NS}><t:SetItemField><t:FieldURI FieldURI="calendar:StartTimeZone"/><t:CalendarItem>'
        '<t:StartTimeZone Id="Tokyo Standard Time"/></t:CalendarItem></t:SetItemField>'
        '<t:DeleteItemField><t:FieldURI FieldURI="calendar:EndTimeZone"/></t:DeleteItemField></t:Updates>')
    fields, removed = event_changes(updates)
    assert fields == {"StartTimeZone": "Asia/Tokyo"} and not removed
    calendar_edit.apply(parsed, fields, removed)
    text = unfolded(serialize(parsed))
    assert "DTSTART;TZID=Asia/Tokyo:20260105T170000" in text and "DTEND;TZID=Asia/Tokyo:20260105T173000" in text
    assert text.count("BEGIN:VTIMEZONE") == 1


def test_zones_are_answered_by_version():
    content = weekly_in('<t:StartTimeZone Id="W. Europe Standard Time"/>', count=2)
    node = element(content)
    assert node.find(t("StartTimeZone")).get("Id") == "W. Europe Standard Time"
    assert node.find(t("EndTimeZone")).get("Id") == "W. Europe Standard Time"
    assert node.find(t("StartTimeZone")).get("Name").startswith("(UTC+01:00)")
    assert node.findtext(t("TimeZone")).startswith("(UTC+01:00)")
    assert node.find(t("MeetingTimeZone")) is None and node.find(t("IsOrganizer")) is None
    old = element(content, "Exchange2007_SP1")
    assert old.find(t("StartTimeZone")) is None
    meeting = old.find(t("MeetingTimeZone"))
    assert meeting.get("TimeZoneName") == "W. Europe Standard Time"
    assert meeting.findtext(t("BaseOffset")) == "-PT1H"
    assert meeting.find(t("Daylight")).findtext(t("Offset")) == "-PT1H"
    assert element(content, "Exchange2013").findtext(t("IsOrganizer")) == "true"
    # An IANA zone without a Windows id of its own is named by the one with its rule.
    amsterdam = unfolded(content).replace("Europe/Berlin", "Europe/Amsterdam").encode()
    assert element(amsterdam).find(t("StartTimeZone")).get("Id") == "W. Europe Standard Time"
    assert element(weekly_in("", count=2)).find(t("StartTimeZone")).get("Id") == "UTC"


@given(st.sampled_from(sorted(WINDOWS_TO_IANA)))
def test_a_windows_zone_round_trips(windows_id):
    iana = WINDOWS_TO_IANA[windows_id]
    content = weekly_in(f'<t:StartTimeZone Id="{windows_id}"/>', count=2)
    answered = element(content).find(t("StartTimeZone")).get("Id")
    # Another Windows id is fine when it names the same IANA zone (UTC's aliases).
    assert timezones.iana_of(answered) == iana or (timezones.is_utc(iana) and answered == "UTC")
    if not timezones.is_utc(iana):
        assert f"DTSTART;TZID={iana}:" in unfolded(content)


# -- reminders -------------------------------------------------------------------------

WITH_ALARMS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:r1\r\n"
               b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\n"
               b"SUMMARY:Alarms\r\n"
               b"BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT1H\r\nSUMMARY:mail\r\nDESCRIPTION:m\r\n"
               b"ATTENDEE:mailto:a@example.org\r\nEND:VALARM\r\n"
               b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;VALUE=DATE-TIME:20260301T080000Z\r\n"
               b"DESCRIPTION:absolute\r\nEND:VALARM\r\n"
               b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:first\r\nEND:VALARM\r\n"
               b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:second\r\nEND:VALARM\r\n"
               b"END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_the_reminder_is_the_first_relative_display_alarm_and_the_others_are_kept():
    node = element(WITH_ALARMS)
    assert (node.findtext(t("ReminderIsSet")), node.findtext(t("ReminderMinutesBeforeStart")),
            node.findtext(t("ReminderDueBy"))) == ("true", "10", "2026-03-01T09:50:00Z")
    parsed = calendar.load(WITH_ALARMS)
    calendar_edit.apply(parsed, {"ReminderIsSet": True, "ReminderMinutesBeforeStart": 45})
    text = unfolded(serialize(parsed))
    assert "TRIGGER:-PT45M\r\nDESCRIPTION:first" in text and "TRIGGER:-PT5M" in text
    assert "ACTION:EMAIL" in text and "TRIGGER;VALUE=DATE-TIME:20260301T080000Z" in text
    calendar_edit.apply(parsed, {"ReminderIsSet": False})
    text = unfolded(serialize(parsed))
    assert "DESCRIPTION:first" not in text and text.count("BEGIN:VALARM") == 3
    # The next relative display alarm is the reminder now.
    assert element(serialize(parsed)).findtext(t("ReminderMinutesBeforeStart")) == "5"


def test_no_alarm_no_reminder_and_minutes_alone_add_none():
    bare = WITH_ALARMS.split(b"BEGIN:VALARM")[0] + b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    node = element(bare)
    assert (node.findtext(t("ReminderIsSet")), node.find(t("ReminderDueBy"))) == ("false", None)
    parsed = calendar.load(bare)
    calendar_edit.apply(parsed, {"ReminderMinutesBeforeStart": 30})
    assert b"VALARM" not in serialize(parsed)
    calendar_edit.apply(parsed, {"ReminderIsSet": True})
    assert element(serialize(parsed)).findtext(t("ReminderMinutesBeforeStart")) == "15"


@given(st.integers(min_value=0, max_value=60 * 24 * 14), st.booleans())
def test_reminder_round_trips(minutes, was_set):
    node = item(f"<t:ReminderIsSet>{'true' if was_set else 'false'}</t:ReminderIsSet>"
                f"<t:ReminderMinutesBeforeStart>{minutes}</t:ReminderMinutesBeforeStart>"
                "<t:Start>2026-05-01T10:00:00Z</t:Start><t:End>2026-05-01T11:00:00Z</t:End>")
    got = element(calendar_edit.new_event(calendar_edit.read_fields(node))[1])
    assert got.findtext(t("ReminderIsSet")) == ("true" if was_set else "false")
    if was_set:
        assert got.findtext(t("ReminderMinutesBeforeStart")) == str(minutes)
        due = datetime(2026, 5, 1, 10, tzinfo=timezone.utc) - timedelta(minutes=minutes)
        assert got.findtext(t("ReminderDueBy")) == due.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- importance, sensitivity -----------------------------------------------------------


@given(st.sampled_from(["High", "Normal", "Low"]), st.sampled_from(["Normal", "Private", "Confidential", "Personal"]))
def test_importance_and_sensitivity_round_trip(importance, sensitivity):
    node = item(f"<t:Sensitivity>{sensitivity}</t:Sensitivity><t:Importance>{importance}</t:Importance>"
                "<t:Start>2026-05-01T10:00:00Z</t:Start><t:End>2026-05-01T11:00:00Z</t:End>")
    content = calendar_edit.new_event(calendar_edit.read_fields(node))[1]
    got = element(content)
    assert (got.findtext(t("Importance")), got.findtext(t("Sensitivity"))) == (importance, sensitivity)
    # Normal is no PRIORITY and no CLASS: a client saving every field changes nothing.
    assert (b"PRIORITY" in content) == (importance != "Normal")
    assert (b"CLASS" in content) == (sensitivity != "Normal")


def test_importance_reads_priority_ranges():
    for priority, shown in (("1", "High"), ("4", "High"), ("5", "Normal"), ("0", "Normal"), ("9", "Low")):
        content = WITH_ALARMS.replace(b"SUMMARY:Alarms", b"SUMMARY:Alarms\r\nPRIORITY:" + priority.encode())
        assert element(content).findtext(t("Importance")) == shown


def test_unknown_importance_is_a_schema_error():
    from smsync.protocols.ews.errors import EWSError

    with pytest.raises(EWSError):
        calendar_edit.read_fields(item("<t:Importance>Urgent</t:Importance>"))


# -- meeting state ---------------------------------------------------------------------


def meeting(organizer: str, attendee_lines: str, status: str = "") -> bytes:
    lines = (f"ORGANIZER:mailto:{organizer}\r\n" if organizer else "") + attendee_lines + status
    return WITH_ALARMS.replace(b"SUMMARY:Alarms\r\n", b"SUMMARY:Meet\r\n" + lines.encode())


@pytest.mark.parametrize("content, expected", [
    (WITH_ALARMS, ("false", "false", None, "Organizer", "0")),
    (meeting("a@example.org", "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:b@example.org\r\n"),
     ("true", "false", "true", "Organizer", "1")),
    (meeting("b@example.org", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.org\r\n"),
     ("true", "false", "false", "Accept", "3")),
    (meeting("b@example.org", "ATTENDEE;PARTSTAT=TENTATIVE;RSVP=TRUE:mailto:A@example.org\r\n"),
     ("true", "false", "true", "Tentative", "3")),
    (meeting("b@example.org", "ATTENDEE;PARTSTAT=DECLINED:mailto:a@example.org\r\n"),
     ("true", "false", "false", "Decline", "3")),
    (meeting("b@example.org", "ATTENDEE;RSVP=TRUE:mailto:a@example.org\r\n", "STATUS:CANCELLED\r\n"),
     ("true", "true", "true", "NoResponseReceived", "7")),
    (meeting("b@example.org", "ATTENDEE:mailto:c@example.org\r\n"),
     ("true", "false", "false", "Unknown", "3")),
])
def test_meeting_state(content, expected):
    node = element(content)
    got = tuple(node.findtext(t(tag)) for tag in ("IsMeeting", "IsCancelled", "IsResponseRequested",
                                                   "MyResponseType", "AppointmentState"))
    assert got == expected
    assert node.findtext(t("Duration")) == "PT1H"


def test_calendar_item_fields_in_schema_order():
    content = meeting("a@example.org", "ATTENDEE;RSVP=TRUE:mailto:b@example.org\r\n")
    tags = [c.tag.rpartition("}")[2] for c in element(content, "Exchange2016")]
    order = ["ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Importance", "ReminderDueBy",
             "ReminderIsSet", "ReminderMinutesBeforeStart", "UID", "Start", "End", "IsAllDayEvent",
             "LegacyFreeBusyStatus", "IsMeeting", "IsCancelled", "IsRecurring", "IsResponseRequested",
             "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees", "Duration", "TimeZone",
             "AppointmentState", "StartTimeZone", "EndTimeZone", "IsOrganizer"]
    assert tags == order


def test_reminders_module_keeps_the_trigger_form():
    todo = calendar.load(WITH_ALARMS).components[0]
    reminders.set_event_reminder(todo, 10)  # the same: the line is not rewritten
    assert "TRIGGER:-PT10M" in unfolded(serialize(todo))


@given(st.text(max_size=60), st.text(max_size=12), st.sampled_from(["StartTimeZone", "EndTimeZone", "MeetingTimeZone"]))
def test_scrambled_zone_and_reminder_values_are_refused_or_dropped(zone_id, minutes, tag):
    from smsync.protocols.ews.errors import EWSError

    node = item("<t:Start>2026-05-01T10:00:00Z</t:Start><t:End>2026-05-01T11:00:00Z</t:End>")
    holder = etree.SubElement(node, t(tag))
    try:
        holder.set("Id", zone_id)
        holder.set("TimeZoneName", zone_id)
    except ValueError:
        return  # not XML text
    etree.SubElement(node, t("ReminderIsSet")).text = "true"
    try:
        etree.SubElement(node, t("ReminderMinutesBeforeStart")).text = minutes
    except ValueError:
        return
    try:
        fields = calendar_edit.read_fields(node)
    except EWSError:
        return
    content = calendar_edit.new_event(fields)[1]
    assert element(content).findtext(t("ReminderIsSet")) == "true"
    tzid = fields.get("StartTimeZone")
    assert tzid is None or tzid in WINDOWS_TO_IANA.values() or zoneinfo.ZoneInfo(tzid)


CUSTOM = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n"
          b"BEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
          b"TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\n"
          b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n"
          b"END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:c1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"DTSTART;TZID=Customized Time Zone:20260302T090000\r\nDTEND;TZID=Customized Time Zone:20260302T100000\r\n"
          b"RRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:Custom\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_zones_other_clients_name_their_own_way():
    """Outlook's "Customized Time Zone" (a VTIMEZONE with Berlin's rule), a Windows id
    as TZID, and Thunderbird's prefixed names are served as the zone they are, and an
    EWS change of the times keeps the local time in it."""
    for content in (CUSTOM, CUSTOM.replace(b"Customized Time Zone", b"W. Europe Standard Time"),
                    CUSTOM.replace(b"Customized Time Zone", b"/mozilla.org/20050126_1/Europe/Berlin")):
        node = element(content)
        assert node.find(t("StartTimeZone")).get("Id") in ("W. Europe Standard Time", "Romance Standard Time",
                                                           "Central Europe Standard Time",
                                                           "Central European Standard Time")
        parsed = calendar.load(content)
        calendar_edit.apply(parsed, {"Subject": "only the subject"})
        assert b"TZID=Europe/Berlin" not in serialize(parsed)  # nothing else rewritten
        calendar_edit.apply(parsed, {"Start": datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc),
                                     "End": datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc)})
        text = unfolded(serialize(parsed))
        assert "TZID:Europe/Berlin" in text or "/Europe/Berlin" in text
        found = calendar.instances(serialize(parsed), datetime(2026, 3, 1, tzinfo=timezone.utc),
                                   datetime(2026, 4, 30, tzinfo=timezone.utc))
        assert {i.start.astimezone(BERLIN).strftime("%H:%M") for i in found} == {"10:30"}
