"""exchangelib and the calendar item fields real clients use: an event made in
Europe/Berlin keeps its zone (a TZID and VTIMEZONE over CalDAV, StartTimeZone over EWS)
and its local time across the change to summer time; its reminder is a VALARM, and a
second alarm added over CalDAV survives an EWS change of the reminder; importance and
the meeting state fields read back."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, dav, serving


@pytest.fixture
def dav_server():
    yield from serving(("caldav", "ews"))


def _berlin_weekly(acc):
    """A weekly series on Mondays at 09:00 in Berlin from 2026-03-02, 6 times (over the
    last Sunday of March), a 30-minute reminder, importance High."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

    berlin = EWSTimeZone("Europe/Berlin")
    item = CalendarItem(account=acc, folder=acc.calendar, subject="Standup",
                        start=EWSDateTime(2026, 3, 2, 9, 0, tzinfo=berlin),
                        end=EWSDateTime(2026, 3, 2, 9, 30, tzinfo=berlin),
                        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                              boundary=NumberedPattern(start=EWSDateTime(2026, 3, 2).date(),
                                                                       number=6)),
                        reminder_is_set=True, reminder_minutes_before_start=30, importance="High")
    item.save()
    return item


@pytest_twisted.ensureDeferred
async def test_a_berlin_series_with_a_reminder_over_ews_and_caldav(dav_server):
    def ews_creates():
        from exchangelib import EWSDateTime, EWSTimeZone

        acc = account(dav_server)
        berlin, utc = EWSTimeZone("Europe/Berlin"), EWSTimeZone("UTC")
        item = _berlin_weekly(acc)
        got = acc.calendar.get(id=item.id)
        view = [i.start.astimezone(berlin).strftime("%m-%d %H:%M")
                for i in acc.calendar.view(start=EWSDateTime(2026, 3, 15, tzinfo=utc),
                                           end=EWSDateTime(2026, 4, 10, tzinfo=utc))]
        return (item.id, got.start.astimezone(utc).strftime("%H:%M"), got._start_timezone.key,
                got._end_timezone.key, got.reminder_is_set, got.reminder_minutes_before_start,
                got.importance, got.is_meeting, got.is_cancelled, got.my_response_type,
                got.duration, got.appointment_state, view)

    (item_id, start, start_zone, end_zone, is_set, minutes, importance, meeting, cancelled, mine,
     duration, state, view) = await in_thread(ews_creates)
    assert (start, start_zone, end_zone) == ("08:00", "Europe/Berlin", "Europe/Berlin")
    assert (is_set, minutes, importance) == (True, 30, "High")
    assert (meeting, cancelled, mine, duration) == (False, False, "Organizer", "PT30M")
    assert state is not None
    # The last Sunday of March (the 29th) is passed: still 09:00 in Berlin.
    assert view == ["03-16 09:00", "03-23 09:00", "03-30 09:00", "04-06 09:00"]

    cal = await (await dav_server.collections()).collection("calendar")
    [info] = await cal.items()
    path = f"/dav/calendars/{USER}/calendar/{info.name}"
    status, body = await in_thread(dav, dav_server, "GET", path)
    text = body.replace(b"\r\n ", b"")
    assert status == 200
    assert b"DTSTART;TZID=Europe/Berlin:20260302T090000" in text and b"TZID:Europe/Berlin" in text
    assert b"BEGIN:VTIMEZONE" in text and b"TRIGGER:-PT30M" in text and b"PRIORITY:1" in text

    # A second alarm made over CalDAV, a day before.
    second = b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Tomorrow\r\nTRIGGER:-P1D\r\nEND:VALARM\r\nEND:VEVENT"
    edited = text.replace(b"END:VEVENT", second, 1)
    status, _ = await in_thread(dav, dav_server, "PUT", path, edited, {"Content-Type": "text/calendar"})
    assert status in (201, 204)

    def ews_updates():
        acc = account(dav_server)
        item = acc.calendar.get(id=item_id)
        item.reminder_minutes_before_start = 45
        item.save(update_fields=["reminder_minutes_before_start"])
        item = acc.calendar.get(id=item_id)
        item.subject = "Standup (all fields saved)"
        item.save()  # every field, the zones and ReminderIsSet among them
        got = acc.calendar.get(id=item_id)
        return got.reminder_is_set, got.reminder_minutes_before_start, got._start_timezone.key

    assert await in_thread(ews_updates) == (True, 45, "Europe/Berlin")
    status, body = await in_thread(dav, dav_server, "GET", path)
    text = body.replace(b"\r\n ", b"")
    assert b"TRIGGER:-PT45M" in text and b"TRIGGER:-P1D" in text and b"DESCRIPTION:Tomorrow" in text
    assert b"DTSTART;TZID=Europe/Berlin:20260302T090000" in text and text.count(b"BEGIN:VALARM") == 2
    assert b"SUMMARY:Standup (all fields saved)" in text

    def ews_clears():
        acc = account(dav_server)
        item = acc.calendar.get(id=item_id)
        item.reminder_is_set = False
        item.save(update_fields=["reminder_is_set"])
        got = acc.calendar.get(id=item_id)
        return got.reminder_is_set, got.reminder_minutes_before_start

    # The reminder is gone; the CalDAV alarm stays, and is the reminder now.
    assert await in_thread(ews_clears) == (True, 1440)
    status, body = await in_thread(dav, dav_server, "GET", path)
    assert b"TRIGGER:-PT45M" not in body and b"TRIGGER:-P1D" in body


@pytest_twisted.ensureDeferred
async def test_utc_and_2007_clients(server):
    def ews():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

        utc = EWSTimeZone("UTC")
        acc = account(server)
        item = CalendarItem(account=acc, folder=acc.calendar, subject="UTC",
                            start=EWSDateTime(2026, 6, 1, 9, 0, tzinfo=utc),
                            end=EWSDateTime(2026, 6, 1, 10, 0, tzinfo=utc))
        item.save()
        got = acc.calendar.get(id=item.id)
        old = account(server, version=(8, 1))
        tokyo = EWSTimeZone("Asia/Tokyo")
        made = CalendarItem(account=old, folder=old.calendar, subject="2007",
                            start=EWSDateTime(2026, 6, 2, 9, 0, tzinfo=tokyo),
                            end=EWSDateTime(2026, 6, 2, 10, 0, tzinfo=tokyo))
        made.save()
        back = old.calendar.get(id=made.id)
        return (got.start.astimezone(utc).strftime("%H:%M"), got._start_timezone.key, got.reminder_is_set,
                back.start.astimezone(utc).strftime("%d %H:%M"))

    assert await in_thread(ews) == ("09:00", "Etc/UTC", False, "02 00:00")
    cal = await (await server.collections()).collection("calendar")
    stored = {i.name: i for i in await cal.items()}
    contents = [s.content for s in await cal.get(list(stored))]
    assert any(b"DTSTART:20260601T090000Z" in c for c in contents)
    assert any(b"DTSTART;TZID=Asia/Tokyo:20260602T090000" in c for c in contents)


@pytest_twisted.ensureDeferred
async def test_a_task_with_a_reminder_and_a_recurrence(server):
    def ews():
        from exchangelib import EWSDateTime, EWSTimeZone, Task
        from exchangelib.recurrence import NoEndPattern, TaskRecurrence, WeeklyPattern

        utc = EWSTimeZone("UTC")
        acc = account(server)
        recurrence = TaskRecurrence(pattern=WeeklyPattern(interval=1, weekdays=[3]),
                                    boundary=NoEndPattern(start=EWSDateTime(2026, 3, 4).date()))
        task = Task(account=acc, folder=acc.tasks, subject="Weekly report",
                    due_date=EWSDateTime(2026, 3, 4).date(), reminder_is_set=True,
                    reminder_due_by=EWSDateTime(2026, 3, 4, 8, 0, tzinfo=utc), recurrence=recurrence)
        task.save()
        got = acc.tasks.get(id=task.id)
        before = (got.reminder_is_set, got.reminder_due_by.astimezone(utc).strftime("%m-%d %H:%M"),
                  got.is_recurring, got.recurrence == recurrence)
        got.reminder_due_by = EWSDateTime(2026, 3, 4, 7, 30, tzinfo=utc)
        got.save(update_fields=["reminder_due_by"])
        got.recurrence = None
        got.save(update_fields=["recurrence"])
        again = acc.tasks.get(id=task.id)
        return before, (again.reminder_due_by.astimezone(utc).strftime("%m-%d %H:%M"), again.is_recurring,
                        again.recurrence)

    before, after = await in_thread(ews)
    assert before == (True, "03-04 08:00", True, True)
    assert after == ("03-04 07:30", False, None)
    tasks = await (await server.collections()).collection("tasks")
    [stored] = await tasks.get([i.name for i in await tasks.items()])
    assert b"TRIGGER;VALUE=DATE-TIME:20260304T073000Z" in stored.content and b"RRULE" not in stored.content


@pytest_twisted.ensureDeferred
async def test_the_meeting_state_of_an_invitation_in_find_get_and_sync(server):
    from smsync.testing.servers import OTHER

    invitation = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:invited-1\r\n"
                  b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260601T090000Z\r\nDTEND:20260601T103000Z\r\n"
                  b"SUMMARY:Review\r\nSTATUS:CANCELLED\r\nPRIORITY:9\r\nCLASS:PRIVATE\r\n"
                  b"ORGANIZER:mailto:" + OTHER.encode() + b"\r\n"
                  b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:" + OTHER.encode() + b"\r\n"
                  b"ATTENDEE;PARTSTAT=TENTATIVE;RSVP=TRUE:mailto:" + USER.encode() + b"\r\n"
                  b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    cal = await (await server.collections()).collection("calendar")
    await cal.put("invited-1.ics", invitation)

    def ews():
        acc = account(server)

        def state(item):
            return (item.is_meeting, item.is_cancelled, item.my_response_type, item.is_response_requested,
                    item.appointment_state, item.duration, item.importance, item.sensitivity)

        [found] = list(acc.calendar.all())
        got = acc.calendar.get(id=found.id)
        [(_kind, synced)] = list(acc.calendar.sync_items())
        return state(found), state(got), state(synced)

    found, got, synced = await in_thread(ews)
    expected = (True, True, "Tentative", True, ("Meeting", "Received", "Canceled"), "PT1H30M", "Low", "Private")
    assert got == expected and synced == expected
    assert found[:3] == expected[:3]
