"""The caldav library against a real server: discovery from the well-known URL,
MKCALENDAR, events (a recurring one with an exception), a VTODO, time-range searches
that find the right instances, sync tokens, 412 on a stale ETag."""

from datetime import datetime, timezone

import pytest_twisted

from dav_harness import USER, in_thread

RECURRING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260105T100000
DTEND;TZID=Europe/Berlin:20260105T103000
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE;TZID=Europe/Berlin:20260119T100000
SUMMARY:Standup
END:VEVENT
BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000
DTSTART;TZID=Europe/Berlin:20260113T150000
DTEND;TZID=Europe/Berlin:20260113T153000
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
"""

SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:dentist
DTSTAMP:20260101T000000Z
DTSTART:20260210T080000Z
DTEND:20260210T090000Z
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
"""

TODO = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTODO
UID:taxes
DTSTAMP:20260101T000000Z
DUE:20260115T170000Z
SUMMARY:File taxes
STATUS:NEEDS-ACTION
END:VTODO
END:VCALENDAR
"""


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def scenario(server):
    client = server.caldav_client(url=server.url + "/.well-known/caldav")
    principal = client.principal()
    assert str(principal.url).endswith(f"/dav/principals/{USER}/")
    cal = principal.make_calendar(name="Work", cal_id="work")
    assert cal.get_display_name() == "Work"
    assert "work" in [str(c.url).rstrip("/").rsplit("/", 1)[-1] for c in principal.calendars()]

    cal.save_event(RECURRING)
    cal.save_event(SINGLE)
    cal.save_todo(TODO)

    # January instances of the standup: 5th, 13th (moved from the 12th), 26th; not the
    # 19th (EXDATE). The dentist is in February.
    found = cal.search(start=utc(2026, 1, 1), end=utc(2026, 2, 1), event=True, expand=True)
    starts = sorted(e.component.get("dtstart").dt.astimezone(timezone.utc) for e in found)
    assert starts == [utc(2026, 1, 5, 9), utc(2026, 1, 13, 14), utc(2026, 1, 26, 9)]
    summaries = sorted(str(e.component.get("summary")) for e in found)
    assert summaries == ["Standup", "Standup", "Standup (moved)"]

    february = cal.search(start=utc(2026, 2, 10), end=utc(2026, 2, 11), event=True)
    assert sorted(str(e.component.get("uid")) for e in february) == ["dentist"]

    todos = cal.search(todo=True, start=utc(2026, 1, 10), end=utc(2026, 1, 20))
    assert [str(t.component.get("uid")) for t in todos] == ["taxes"]

    # Sync tokens: nothing new, then a change and a deletion show up.
    objects = cal.objects_by_sync_token()
    token = objects.sync_token
    assert len(list(objects)) == 3
    again = cal.objects_by_sync_token(sync_token=token)
    assert list(again) == []
    dentist = cal.event_by_uid("dentist")
    dentist.icalendar_component["summary"] = "Dentist (rescheduled)"
    dentist.save()
    cal.todo_by_uid("taxes").delete()
    changed = cal.objects_by_sync_token(sync_token=token, load_objects=True)
    assert changed.sync_token != token
    # The edited event comes back with its data; the deleted to-do without any.
    by_uid = {("dentist" if o.data else "deleted"): o for o in changed}
    assert set(by_uid) == {"dentist", "deleted"}
    assert "Dentist (rescheduled)" in by_uid["dentist"].data
    assert "taxes" in str(by_uid["deleted"].url)
    assert list(cal.objects_by_sync_token(sync_token=changed.sync_token)) == []
    return cal, token


@pytest_twisted.ensureDeferred
async def test_caldav_library_end_to_end(server):
    await end_to_end(server)


@pytest_twisted.ensureDeferred
async def test_caldav_library_end_to_end_sqlite(sqlite_server):
    await end_to_end(sqlite_server)


async def end_to_end(server):
    cal, token = await in_thread(scenario, server)
    # What the client wrote is visible through the store interface.
    coll = await (await server.collections()).collection("work")
    item = await coll.get_by_uid("dentist")
    assert b"Dentist (rescheduled)" in item.content
    changes = await coll.changes_since(0)
    assert sorted(i.uid for i in changes.changed) == ["dentist", "weekly-standup"]


@pytest_twisted.ensureDeferred
async def test_stale_etag_gets_412(server):
    def run():
        client = server.caldav_client()
        cal = client.principal().calendar(cal_id="calendar")
        cal.save_event(SINGLE)
        return str(cal.event_by_uid("dentist").url)

    url = await in_thread(run)
    path = url[len(server.url):]
    first = await server.call("GET", path)
    etag = first.header("etag")
    body = SINGLE.replace("Dentist", "Dentist 2")
    ok = await server.call("PUT", path, body, headers={"If-Match": etag, "Content-Type": "text/calendar"})
    assert ok.status == 204
    stale = await server.call("PUT", path, SINGLE, headers={"If-Match": etag, "Content-Type": "text/calendar"})
    assert stale.status == 412
    gone = await server.call("DELETE", path, headers={"If-Match": etag})
    assert gone.status == 412
    current = await server.call("GET", path)
    assert b"Dentist 2" in current.body


@pytest_twisted.ensureDeferred
async def test_caldav_library_gets_412_for_its_stale_copy(server):
    """Two clients hold the same event; the second one's save, made from the copy it
    read before the first one saved, is refused with 412 (the library sends the ETag it
    cached as If-Match and raises ETagMismatchError) and the first one's change stays."""
    import pytest
    from caldav.lib.error import ETagMismatchError

    def run():
        phone = server.caldav_client().principal().calendar(cal_id="calendar")
        desktop = server.caldav_client().principal().calendar(cal_id="calendar")
        phone.save_event(SINGLE)
        mine = phone.event_by_uid("dentist")
        theirs = desktop.event_by_uid("dentist")
        mine.icalendar_component["summary"] = "Dentist (phone)"
        mine.save(precondition="etag")
        theirs.icalendar_component["summary"] = "Dentist (desktop)"
        with pytest.raises(ETagMismatchError):
            theirs.save(precondition="etag")
        # Still refused on a second try; the desktop sees the phone's version on reading.
        with pytest.raises(ETagMismatchError):
            theirs.save(precondition="etag")
        fresh = desktop.event_by_uid("dentist")
        return fresh.data

    data = await in_thread(run)
    assert "Dentist (phone)" in data
    item = await (await (await server.collections()).collection("calendar")).get_by_uid("dentist")
    assert b"Dentist (phone)" in item.content and b"desktop" not in item.content
