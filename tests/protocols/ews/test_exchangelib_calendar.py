"""exchangelib reading calendars: events stored as CalDAV stores them -- a weekly series
in a time zone with one moved occurrence, a single event -- listed, expanded in a
CalendarView, read by occurrence, synced and deleted."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import account

SERIES = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
          b"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T110000\r\n"
          b"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Standup\r\nLOCATION:Room 1\r\n"
          b"ORGANIZER;CN=Alice:mailto:alice@example.org\r\n"
          b"ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\nEND:VEVENT\r\n"
          b"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n"
          b"DTSTART;TZID=Europe/Berlin:20260112T150000\r\nDTEND;TZID=Europe/Berlin:20260112T160000\r\n"
          b"SUMMARY:Standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
SINGLE = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:single-1\r\n"
          b"DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260110\r\nDTEND;VALUE=DATE:20260111\r\n"
          b"SUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\nDESCRIPTION:Day off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_calendar_view_masters_occurrences_sync_and_delete(server):
    collections = await server.collections()
    cal = await collections.collection("calendar")
    await cal.put("weekly-1.ics", SERIES)
    await cal.put("single-1.ics", SINGLE)

    def client():
        from exchangelib import EWSDateTime, EWSTimeZone

        acc = account(server)
        utc = EWSTimeZone("UTC")
        start = EWSDateTime(2026, 1, 1, tzinfo=utc)
        end = EWSDateTime(2026, 2, 1, tzinfo=utc)

        def when(value):
            if hasattr(value, "hour"):
                return value.astimezone(utc).strftime("%Y-%m-%d %H:%M")
            return str(value)  # an all-day event's date

        view = [(i.subject, when(i.start), i.type, i.is_all_day) for i in acc.calendar.view(start=start, end=end)]
        masters = sorted((i.subject, i.type, i.uid) for i in acc.calendar.all())
        moved = [i for i in acc.calendar.view(start=start, end=end) if i.type == "Exception"][0]
        again = acc.calendar.get(id=moved.id)
        series = [i for i in acc.calendar.all() if i.type == "RecurringMaster"][0]
        full = acc.calendar.get(id=series.id)
        detail = (full.location, full.organizer.email_address,
                  [(a.mailbox.email_address, a.response_type) for a in full.required_attendees])
        changes = [(kind, i.subject) for kind, i in acc.calendar.sync_items()]
        state = acc.calendar.item_sync_state
        [holiday] = [i for i in acc.calendar.all() if i.subject == "Holiday"]
        holiday.delete()
        later = [kind for kind, _ in acc.calendar.sync_items(sync_state=state)]
        return view, masters, again.subject, detail, sorted(changes), later

    view, masters, again, detail, changes, later = await in_thread(client)
    assert view[0] == ("Standup", "2026-01-05 09:00", "Occurrence", False)
    assert view[1][0] == "Holiday" and view[1][1].startswith("2026-01-10") and view[1][2:] == ("Single", True)
    assert view[2:] == [
        ("Standup (moved)", "2026-01-12 14:00", "Exception", False),
        ("Standup", "2026-01-19 09:00", "Occurrence", False),
        ("Standup", "2026-01-26 09:00", "Occurrence", False),
    ]
    assert masters == [("Holiday", "Single", "single-1"), ("Standup", "RecurringMaster", "weekly-1")]
    assert again == "Standup (moved)"
    assert detail == ("Room 1", "alice@example.org", [("bob@example.org", "Accept")])
    assert changes == [("create", "Holiday"), ("create", "Standup")]
    assert later == ["delete"]
    assert [i.name for i in await cal.items()] == ["weekly-1.ics"]


@pytest_twisted.ensureDeferred
async def test_create_update_and_delete_events(server):
    collections = await server.collections()
    cal = await collections.collection("calendar")
    await cal.put("weekly-1.ics", SERIES)

    def client():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
        from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

        acc = account(server)
        utc = EWSTimeZone("UTC")
        item = CalendarItem(account=acc, folder=acc.calendar, subject="Review",
                            start=EWSDateTime(2026, 3, 2, 13, 0, tzinfo=utc),
                            end=EWSDateTime(2026, 3, 2, 14, 0, tzinfo=utc), location="Room 2",
                            body="Bring numbers",
                            recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                                  boundary=NumberedPattern(start=EWSDateTime(2026, 3, 2, tzinfo=utc).date(),
                                                                           number=3)))
        item.save()
        start = EWSDateTime(2026, 3, 1, tzinfo=utc)
        end = EWSDateTime(2026, 4, 1, tzinfo=utc)
        made = [(i.subject, i.start.astimezone(utc).strftime("%m-%d %H:%M"), i.location)
                for i in acc.calendar.view(start=start, end=end)]
        item.subject = "Quarterly review"
        item.location = "Room 3"
        item.save(update_fields=["subject", "location"])
        second = [i for i in acc.calendar.view(start=start, end=end)][1]
        second.delete()
        after = [(i.subject, i.start.astimezone(utc).strftime("%m-%d %H:%M"), i.location)
                 for i in acc.calendar.view(start=start, end=end)]
        # An edit of the Berlin series keeps its zone and its moved occurrence.
        standup = [i for i in acc.calendar.all() if i.subject == "Standup"][0]
        standup.start = EWSDateTime(2026, 1, 5, 8, 30, tzinfo=utc)
        standup.end = EWSDateTime(2026, 1, 5, 9, 30, tzinfo=utc)
        standup.save(update_fields=["start", "end"])
        return made, after, item.id

    made, after, _ = await in_thread(client)
    assert made == [("Review", "03-02 13:00", "Room 2"), ("Review", "03-09 13:00", "Room 2"),
                    ("Review", "03-16 13:00", "Room 2")]
    assert after == [("Quarterly review", "03-02 13:00", "Room 3"),
                     ("Quarterly review", "03-16 13:00", "Room 3")]
    stored = {i.info.name: i for i in await cal.get([i.name for i in await cal.items()])}
    review = next(i for n, i in stored.items() if n != "weekly-1.ics").content
    assert b"RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=3" in review
    assert b"EXDATE:20260309T130000Z" in review and b"DESCRIPTION:Bring numbers" in review
    weekly = stored["weekly-1.ics"].content
    assert b"DTSTART;TZID=Europe/Berlin:20260105T093000" in weekly
    assert b"RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000" in weekly
