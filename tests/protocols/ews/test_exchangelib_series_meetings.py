"""exchangelib and meetings of a recurring series: an attendee answering one occurrence
changes that instance alone on the local organizer's copy; the organizer deleting one
occurrence with cancellations sends a CANCEL naming that instance (the local attendee's
copy excludes it, the remote one gets iMIP mail); an attendee deleting one occurrence
declines it; SendOnlyToChanged sends an attendee-list change only to those it concerns."""

from __future__ import annotations

import email

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.formats.contentlines import parse_components
from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import account, relaying, stored_items, wait_until

REMOTE = "carol@remote.example"
DAVE = "dave@remote.example"
SECOND, THIRD, FOURTH = "20270308T100000Z", "20270315T100000Z", "20270322T100000Z"


@pytest.fixture
def series_server(tmp_path):
    yield from relaying(tmp_path)


def _mailed(sink, to: str) -> list:
    """The text/calendar parts of the mail ``to`` got, unfolded."""
    out = []
    for _sender, rcpt, raw in sink.received:
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() == "text/calendar" and rcpt == to:
                out.append(part.get_payload(decode=True).decode().replace("\r\n ", ""))
    return out


def _unfolded(item) -> bytes:
    return item.content.replace(b"\r\n ", b"")


def _parts(content: bytes) -> dict:
    """RECURRENCE-ID (None: the master) -> that VEVENT."""
    [cal] = parse_components(content)
    return {c.value("RECURRENCE-ID"): c for c in cal.components if c.name == "VEVENT"}


def _partstat(comp, address: str):
    [prop] = [p for p in comp.get_all("ATTENDEE") if p.value.lower() == f"mailto:{address}"]
    return prop.param("PARTSTAT")


def _weekly(server, attendees, mode="SendToAllAndSaveCopy"):
    """USER's weekly meeting, four Mondays from 2027-03-01 10:00 UTC."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.properties import Attendee, Mailbox
    from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

    acc = account(server)
    utc = EWSTimeZone("UTC")
    item = CalendarItem(
        account=acc, folder=acc.calendar, subject="Weekly",
        start=EWSDateTime(2027, 3, 1, 10, tzinfo=utc), end=EWSDateTime(2027, 3, 1, 11, tzinfo=utc),
        recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                              boundary=NumberedPattern(start=EWSDateTime(2027, 3, 1, tzinfo=utc).date(), number=4)),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=a)) for a in attendees])
    item.save(send_meeting_invitations=mode)
    return acc, item


def _occurrence(acc, index: int):
    """Occurrence ``index`` (1-based) of the account's only series, with its own id."""
    from exchangelib import EWSDateTime, EWSTimeZone

    utc = EWSTimeZone("UTC")
    view = list(acc.calendar.view(start=EWSDateTime(2027, 3, 1, tzinfo=utc), end=EWSDateTime(2027, 4, 1, tzinfo=utc)))
    return view[index - 1]


@pytest_twisted.ensureDeferred
async def test_answer_one_occurrence_then_organizer_deletes_another(series_server):
    server = series_server
    await in_thread(lambda: _weekly(server, [OTHER, REMOTE]))
    await wait_until(lambda: bool(_mailed(server.sink, REMOTE)))

    # The attendee accepts the second occurrence: the organizer's copy changes there alone.
    await in_thread(lambda: _occurrence(account(server, user=OTHER), 2).accept())
    [own] = await stored_items(server, USER, "calendar")
    parts = _parts(own.content)
    assert set(parts) == {None, SECOND}
    assert _partstat(parts[None], OTHER) == "NEEDS-ACTION"
    assert _partstat(parts[SECOND], OTHER) == "ACCEPTED"
    assert _partstat(parts[SECOND], REMOTE) == "NEEDS-ACTION"

    def delete_third():
        acc = account(server)
        occurrence = _occurrence(acc, 3)
        occurrence.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
        return [i.start.day for i in acc.calendar.view(start=occurrence.start.replace(day=1),
                                                       end=occurrence.start.replace(day=31))]

    assert await in_thread(delete_third) == [1, 8, 22]
    [own] = await stored_items(server, USER, "calendar")
    assert f"EXDATE:{THIRD}".encode() in own.content
    # The local attendee's copy excludes it; their inbox has the CANCEL of that instance.
    [copy] = await stored_items(server, OTHER, "calendar")
    assert f"EXDATE:{THIRD}".encode() in copy.content and b"STATUS:CANCELLED" not in copy.content
    [inbox] = await stored_items(server, OTHER, "schedule-inbox")
    assert b"CANCEL" in inbox.content and f"RECURRENCE-ID:{THIRD}".encode() in inbox.content
    # The remote one gets it as iMIP mail through the relay.
    await wait_until(lambda: any("METHOD:CANCEL" in ics for ics in _mailed(server.sink, REMOTE)))
    [cancel] = [ics for ics in _mailed(server.sink, REMOTE) if "METHOD:CANCEL" in ics]
    assert f"RECURRENCE-ID:{THIRD}" in cancel and "RRULE" not in cancel and cancel.count("BEGIN:VEVENT") == 1
    assert "STATUS:CANCELLED" in cancel


@pytest_twisted.ensureDeferred
async def test_attendee_deleting_one_occurrence_declines_it(series_server):
    server = series_server
    await in_thread(lambda: _weekly(server, [OTHER]))
    [before] = await stored_items(server, OTHER, "calendar")

    def attendee():
        _occurrence(account(server, user=OTHER), 4).delete(send_meeting_cancellations="SendToAllAndSaveCopy")

    await in_thread(attendee)
    [copy] = await stored_items(server, OTHER, "calendar")
    assert f"EXDATE:{FOURTH}".encode() in copy.content
    # The attendee's copy keeps the organizer's SEQUENCE.
    assert _parts(copy.content)[None].value("SEQUENCE") == _parts(before.content)[None].value("SEQUENCE")
    [own] = await stored_items(server, USER, "calendar")
    parts = _parts(own.content)
    assert _partstat(parts[FOURTH], OTHER) == "DECLINED"
    assert _partstat(parts[None], OTHER) == "NEEDS-ACTION"
    assert b"EXDATE" not in own.content

    # Deleting one occurrence with SendToNone tells nobody.
    def quietly():
        _occurrence(account(server, user=OTHER), 3).delete(send_meeting_cancellations="SendToNone")

    await in_thread(quietly)
    [own] = await stored_items(server, USER, "calendar")
    assert THIRD.encode() not in own.content


@pytest_twisted.ensureDeferred
async def test_send_only_to_changed(series_server):
    server = series_server

    def organizer():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
        from exchangelib.properties import Attendee, Mailbox

        acc = account(server)
        utc = EWSTimeZone("UTC")
        item = CalendarItem(account=acc, folder=acc.calendar, subject="Review", location="Room 1",
                            start=EWSDateTime(2027, 5, 3, 10, tzinfo=utc), end=EWSDateTime(2027, 5, 3, 11, tzinfo=utc),
                            required_attendees=[Attendee(mailbox=Mailbox(email_address=a)) for a in (OTHER, REMOTE)])
        item.save(send_meeting_invitations="SendToAllAndSaveCopy")
        return item

    item = await in_thread(organizer)
    await wait_until(lambda: len(_mailed(server.sink, REMOTE)) == 1)

    def add_dave():
        from exchangelib.properties import Attendee, Mailbox

        item.required_attendees = [Attendee(mailbox=Mailbox(email_address=a)) for a in (OTHER, REMOTE, DAVE)]
        item.save(update_fields=["required_attendees"], send_meeting_invitations="SendOnlyToChanged")

    await in_thread(add_dave)
    await wait_until(lambda: bool(_mailed(server.sink, DAVE)))
    [invite] = _mailed(server.sink, DAVE)
    assert "METHOD:REQUEST" in invite and f"mailto:{DAVE}" in invite
    await deferLater(reactor, 0.5, lambda: None)
    assert len(_mailed(server.sink, REMOTE)) == 1  # nothing changed for the others
    [copy] = await stored_items(server, OTHER, "calendar")
    assert DAVE.encode() not in _unfolded(copy)

    def move():
        item.location = "Room 2"
        item.save(update_fields=["location"], send_meeting_invitations="SendOnlyToChanged")

    await in_thread(move)  # a new place is for everyone
    await wait_until(lambda: len(_mailed(server.sink, REMOTE)) == 2 and len(_mailed(server.sink, DAVE)) == 2)
    assert "Room 2" in _mailed(server.sink, REMOTE)[-1]
    [copy] = await stored_items(server, OTHER, "calendar")
    assert b"Room 2" in _unfolded(copy) and DAVE.encode() in _unfolded(copy)

    def drop_remote():
        from exchangelib.properties import Attendee, Mailbox

        item.required_attendees = [Attendee(mailbox=Mailbox(email_address=a)) for a in (OTHER, DAVE)]
        item.save(update_fields=["required_attendees"], send_meeting_invitations="SendToChangedAndSaveCopy")

    await in_thread(drop_remote)
    await wait_until(lambda: len(_mailed(server.sink, REMOTE)) == 3)
    assert "METHOD:CANCEL" in _mailed(server.sink, REMOTE)[-1]
    await deferLater(reactor, 0.5, lambda: None)
    assert len(_mailed(server.sink, DAVE)) == 2
    [copy] = await stored_items(server, OTHER, "calendar")
    assert REMOTE.encode() in _unfolded(copy)  # OTHER was not told of the list change
