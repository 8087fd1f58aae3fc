"""exchangelib and recurring series: a weekly series with a count reads back with its
Recurrence; one occurrence changed (an exception: a RECURRENCE-ID override in the same
stored iCalendar) and one deleted (an EXDATE) show in the master's ModifiedOccurrences
and DeletedOccurrences, in a CalendarView and over CalDAV; an override made over CalDAV
is a modified occurrence over EWS."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import account, dav, relaying, serving


@pytest.fixture
def dav_server():
    yield from serving(("caldav", "ews"))


def _weekly(acc, subject: str = "Sync", count: int = 4):
    """A weekly series on Mondays 2026-03-02 13:00 UTC, ``count`` times."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

    utc = EWSTimeZone("UTC")
    recurrence = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                            boundary=NumberedPattern(start=EWSDateTime(2026, 3, 2, tzinfo=utc).date(), number=count))
    item = CalendarItem(account=acc, folder=acc.calendar, subject=subject, location="Room 4",
                        start=EWSDateTime(2026, 3, 2, 13, 0, tzinfo=utc),
                        end=EWSDateTime(2026, 3, 2, 14, 0, tzinfo=utc), recurrence=recurrence)
    item.save()
    return item, recurrence


def _utc(value) -> str:
    from exchangelib import EWSTimeZone

    return value.astimezone(EWSTimeZone("UTC")).strftime("%m-%d %H:%M")


@pytest_twisted.ensureDeferred
async def test_a_series_reads_back_with_its_recurrence(server):
    def client():
        acc = account(server)
        item, recurrence = _weekly(acc)
        master = acc.calendar.get(id=item.id)
        return (recurrence, master.recurrence, master.type, _utc(master.first_occurrence.start),
                _utc(master.last_occurrence.start), master.modified_occurrences, master.deleted_occurrences)

    sent, got, kind, first, last, modified, deleted = await in_thread(client)
    assert got == sent
    assert kind == "RecurringMaster"
    assert (first, last) == ("03-02 13:00", "03-23 13:00")
    assert modified is None and deleted is None


@pytest_twisted.ensureDeferred
async def test_an_occurrence_changed_and_one_deleted_then_a_caldav_override(dav_server):
    from exchangelib.errors import (
        ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
        ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    )

    def ews_edits():
        from exchangelib import EWSDateTime, EWSTimeZone

        acc = account(dav_server)
        utc = EWSTimeZone("UTC")
        item, _ = _weekly(acc)
        occurrence = item.occurrence(2)  # GetItem of an OccurrenceItemId
        occurrence.refresh()
        before = (occurrence.type, occurrence.subject, _utc(occurrence.start), _utc(occurrence.original_start))
        occurrence.subject = "Sync (moved)"
        occurrence.start = EWSDateTime(2026, 3, 10, 15, 0, tzinfo=utc)
        occurrence.end = EWSDateTime(2026, 3, 10, 16, 30, tzinfo=utc)
        occurrence.save(update_fields=["subject", "start", "end"])  # UpdateItem of an OccurrenceItemId
        changed_id = occurrence.id
        item.occurrence(3).delete()  # DeleteItem of an OccurrenceItemId
        errors = []
        for index in (3, 9):
            try:
                item.occurrence(index).refresh()
            except (ErrorCalendarOccurrenceIsDeletedFromRecurrence,
                    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange) as e:
                errors.append(type(e).__name__)
        master = acc.calendar.get(id=item.id)
        modified = [(o.id, _utc(o.start), _utc(o.end), _utc(o.original_start))
                    for o in master.modified_occurrences]
        deleted = [_utc(d.start) for d in master.deleted_occurrences]
        changed = acc.calendar.get(id=changed_id)
        changed.location = "Room 9"  # a second change, by the occurrence's own ItemId
        changed.save(update_fields=["location", "recurrence"])  # an exception has none to clear
        view = [(i.subject, _utc(i.start), i.type, i.location)
                for i in acc.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=utc),
                                           end=EWSDateTime(2026, 4, 1, tzinfo=utc))]
        series = changed.recurring_master()  # GetItem of a RecurringMasterItemId
        series.refresh()
        return (before, changed_id, errors, modified, deleted, view, (changed.type, changed.subject),
                (series.id, series.type, master.changekey))

    before, changed_id, errors, modified, deleted, view, changed, series = await in_thread(ews_edits)
    assert before == ("Occurrence", "Sync", "03-09 13:00", "03-09 13:00")
    assert errors == ["ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                      "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"]
    assert modified == [(changed_id, "03-10 15:00", "03-10 16:30", "03-09 13:00")]
    assert deleted == ["03-16 13:00"]
    assert view == [("Sync", "03-02 13:00", "Occurrence", "Room 4"),
                    ("Sync (moved)", "03-10 15:00", "Exception", "Room 9"),
                    ("Sync", "03-23 13:00", "Occurrence", "Room 4")]
    assert changed == ("Exception", "Sync (moved)")
    assert series[1] == "RecurringMaster" and series[0] != changed_id

    # One stored iCalendar: the override and the EXDATE, served as they are over CalDAV.
    cal = await (await dav_server.collections()).collection("calendar")
    [info] = await cal.items()
    [stored] = await cal.get([info.name])
    text = stored.content.replace(b"\r\n ", b"")
    assert b"RECURRENCE-ID:20260309T130000Z" in text and b"DTSTART:20260310T150000Z" in text
    assert b"SUMMARY:Sync (moved)" in text and b"EXDATE:20260316T130000Z" in text
    assert text.count(b"BEGIN:VEVENT") == 2 and b"LOCATION:Room 4" in text and b"LOCATION:Room 9" in text
    status, body = await in_thread(dav, dav_server, "GET", f"/dav/calendars/{USER}/calendar/{info.name}")
    assert status == 200 and b"RECURRENCE-ID:20260309T130000Z" in body.replace(b"\r\n ", b"")

    # An override made over CalDAV (the fourth occurrence an hour later) is a modified
    # occurrence over EWS.
    override = (b"BEGIN:VEVENT\r\nUID:" + text.split(b"UID:")[1].split(b"\r\n")[0] + b"\r\n"
                b"DTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260323T130000Z\r\n"
                b"DTSTART:20260323T140000Z\r\nDTEND:20260323T150000Z\r\nSUMMARY:Sync (CalDAV)\r\n"
                b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    edited = body.replace(b"END:VCALENDAR\r\n", override)
    status, _ = await in_thread(dav, dav_server, "PUT", f"/dav/calendars/{USER}/calendar/{info.name}", edited,
                                {"Content-Type": "text/calendar"})
    assert status in (201, 204)

    def ews_reads():
        acc = account(dav_server)
        [master] = [i for i in acc.calendar.all() if i.type == "RecurringMaster"]
        master = acc.calendar.get(id=master.id)
        fourth = master.occurrence(4)
        fourth.refresh()
        return ([(_utc(o.start), _utc(o.original_start)) for o in master.modified_occurrences],
                (fourth.subject, fourth.type, _utc(fourth.start)))

    modified, fourth = await in_thread(ews_reads)
    assert modified == [("03-10 15:00", "03-09 13:00"), ("03-23 14:00", "03-23 13:00")]
    assert fourth == ("Sync (CalDAV)", "Exception", "03-23 14:00")


REMOTE = "carol@remote.example"


@pytest.fixture
def reply_server(tmp_path):
    """EWS whose iMIP mail to other domains goes to an SMTP sink."""
    yield from relaying(tmp_path)


def _invited(attendee: str) -> bytes:
    """A weekly meeting of a remote organizer in ``attendee``'s calendar, not answered."""
    return (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:remote-weekly\r\n"
            b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260302T130000Z\r\nDTEND:20260302T140000Z\r\n"
            b"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Planning\r\nSEQUENCE:0\r\n"
            b"ORGANIZER;CN=Carol:mailto:" + REMOTE.encode() + b"\r\n"
            b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:" + REMOTE.encode() + b"\r\n"
            b"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" + attendee.encode() + b"\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n")


def _calendar_parts(sink) -> list:
    import email

    out = []
    for _sender, rcpt, raw in sink.received:
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() == "text/calendar" and rcpt == REMOTE:
                out.append(part.get_payload(decode=True).decode().replace("\r\n ", ""))
    return out


@pytest_twisted.ensureDeferred
async def test_answering_one_occurrence(reply_server):
    server = reply_server
    cal = await (await server.collections(OTHER)).collection("calendar")
    await cal.put("remote-weekly.ics", _invited(OTHER))

    def attendee():
        from exchangelib import EWSDateTime, EWSTimeZone

        acc = account(server, user=OTHER)
        utc = EWSTimeZone("UTC")
        view = list(acc.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=utc),
                                      end=EWSDateTime(2026, 4, 1, tzinfo=utc)))
        view[1].accept()  # the ReferenceItemId is the occurrence's id
        second = acc.calendar.get(id=view[1].id)
        series = view[0].recurring_master()
        series.refresh()
        declining = series.occurrence(3)
        declining.refresh()  # now it has the occurrence's own id
        declining.decline()
        again = [(i.type, _utc(i.start)) for i in acc.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=utc),
                                                                    end=EWSDateTime(2026, 4, 1, tzinfo=utc))]
        return second.type, again

    second, again = await in_thread(attendee)
    assert second == "Exception"
    # Both answered occurrences stay (the declined one marked so); the series is one item.
    assert again == [("Occurrence", "03-02 13:00"), ("Exception", "03-09 13:00"), ("Exception", "03-16 13:00"),
                     ("Occurrence", "03-23 13:00")]
    [stored] = await cal.get(["remote-weekly.ics"])
    events = stored.content.replace(b"\r\n ", b"").split(b"BEGIN:VEVENT")[1:]
    assert len(events) == 3
    own = "mailto:" + OTHER
    assert b"RRULE" in events[0] and b"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:" + own.encode() in events[0]
    assert b"RECURRENCE-ID:20260309T130000Z" in events[1] and b"PARTSTAT=ACCEPTED" in events[1].split(own.encode())[0]
    assert b"RECURRENCE-ID:20260316T130000Z" in events[2] and b"PARTSTAT=DECLINED" in events[2]

    async def two_replies():
        for _ in range(200):
            if len(_calendar_parts(server.sink)) >= 2:
                return
            await deferLater(reactor, 0.05, lambda: None)

    await two_replies()
    replies = _calendar_parts(server.sink)
    assert len(replies) == 2
    for text, rid, partstat in zip(replies, ("20260309T130000Z", "20260316T130000Z"), ("ACCEPTED", "DECLINED")):
        assert "METHOD:REPLY" in text and f"RECURRENCE-ID:{rid}" in text and f"PARTSTAT={partstat}" in text
        assert text.count("BEGIN:VEVENT") == 1 and "RRULE" not in text


@pytest_twisted.ensureDeferred
async def test_bad_occurrence_ids_fail_their_own_item(server):
    """OccurrenceItemId and RecurringMasterItemId as clients may garble them: each fails
    its own ResponseMessage with the code Exchange gives, the good one is answered."""
    from smsync.protocols.ews import ids
    from tests.protocols.ews.ews_support import call, codes

    def client():
        acc = account(server)
        item, _ = _weekly(acc)
        return item.id

    master = await in_thread(client)
    ref = ids.parse_item_id(master)
    foreign = ids.item_id(ids.ItemRef(OTHER, ids.ITEM, ref.source, ref.key))
    message = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, ref.source, "7"))
    wanted = [
        (f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="2"/>', "NoError"),
        (f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="0"/>', "ErrorSchemaValidation"),
        (f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="two"/>', "ErrorSchemaValidation"),
        (f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="99999999"/>',
         "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"),
        ('<t:OccurrenceItemId RecurringMasterId="garbage" InstanceIndex="1"/>', "ErrorInvalidIdMalformed"),
        ('<t:OccurrenceItemId InstanceIndex="1"/>', "ErrorInvalidIdEmpty"),
        (f'<t:OccurrenceItemId RecurringMasterId="{foreign}" InstanceIndex="1"/>', "ErrorAccessDenied"),
        (f'<t:OccurrenceItemId RecurringMasterId="{message}" InstanceIndex="1"/>', "ErrorItemNotFound"),
        (f'<t:RecurringMasterItemId OccurrenceId="{master}"/>', "NoError"),
        ('<t:RecurringMasterItemId OccurrenceId="garbage"/>', "ErrorInvalidIdMalformed"),
    ]
    shape = "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
    answer = await in_thread(call, server.port("http"), "GetItem",
                             shape + "<m:ItemIds>" + "".join(x for x, _ in wanted) + "</m:ItemIds>")
    assert codes(answer) == [code for _, code in wanted]


TWICE_MONTHLY = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:twice\r\n"
                 b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\n"
                 b"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=4\r\nSUMMARY:Payroll\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_clearing_a_recurrence_never_sent_keeps_the_series(server):
    """A rule no EWS pattern says is sent without Recurrence; a client clearing that
    field (exchangelib sends DeleteItemField for an empty one) does not end the series.
    A series whose Recurrence was sent is ended so."""
    cal = await (await server.collections()).collection("calendar")
    await cal.put("twice.ics", TWICE_MONTHLY)

    def client():
        acc = account(server)
        item, _ = _weekly(acc)
        [twice] = [i for i in acc.calendar.all() if i.subject == "Payroll"]
        twice = acc.calendar.get(id=twice.id)
        seen = (twice.type, twice.recurrence)
        for series in (twice, acc.calendar.get(id=item.id)):
            series.recurrence = None
            series.save(update_fields=["recurrence"])
        return seen, acc.calendar.get(id=twice.id).type, acc.calendar.get(id=item.id).type

    seen, twice, weekly = await in_thread(client)
    assert seen == ("RecurringMaster", None)
    assert (twice, weekly) == ("RecurringMaster", "Single")
    [stored] = await cal.get(["twice.ics"])
    assert b"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15;COUNT=4" in stored.content
