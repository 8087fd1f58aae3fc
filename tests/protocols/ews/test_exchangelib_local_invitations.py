"""Meetings between two accounts of this server arrive in the Inbox as well, as on
Exchange (``[scheduling] inbox_messages``, on by default): an organizer inviting over EWS
(exchangelib) or CalDAV gives the attendee an iMIP REQUEST mail in its INBOX (seen over
IMAP) besides the event in its calendar; over EWS the mail is a ``MeetingRequest`` whose
AssociatedCalendarItemId is that event, and accepting it answers once -- the organizer's
copy ACCEPTED, one REPLY in the organizer's schedule inbox and one ``MeetingResponse``
mail in their Inbox; deleting the meeting gives a ``MeetingCancellation``. An EAS phone
answering such a mail (MeetingResponse) answers once too. Switched off, nothing is
mailed."""

from __future__ import annotations

import email
import email.policy
import imaplib
import sys
from pathlib import Path

import pytest
import pytest_twisted

from smsync.scheduling import itip
from smsync.testing.servers import OTHER, PASSWORD, USER, config_with, in_thread
from tests.protocols.ews.ews_support import account, post, start, stop, stored_items

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eas"))

from eas_client import el, ready_device, server_ids  # noqa: E402

MR = "MeetingResponse:"
EAS_INBOX = 2


@pytest.fixture
def local_server(tmp_path):
    running = start(("ews", "imap", "caldav", "eas"), tls=True, directory=tmp_path)
    yield running
    stop(running)


@pytest.fixture
def quiet_server(tmp_path):
    config = config_with(scheduling={"inbox_messages": False})
    running = start(("ews", "imap", "caldav"), config=config, directory=tmp_path)
    yield running
    stop(running)


def imap_inbox(server, user: str) -> list:
    """``user``'s INBOX over IMAP: each message parsed."""
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    try:
        client.login(user, PASSWORD)
        client.select("INBOX", readonly=True)
        _, [numbers] = client.search(None, "ALL")
        out = []
        for n in numbers.split():
            _, data = client.fetch(n, "(RFC822)")
            out.append(email.message_from_bytes(data[0][1], policy=email.policy.default))
        return out
    finally:
        client.logout()


def calendar_part(message) -> tuple[str, str]:
    """``(method parameter, iCalendar text)`` of a mail's ``text/calendar`` part."""
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return part.get_param("method"), part.get_content()


def _invite(server, subject: str):
    """Alice invites Bob over EWS, sending to all."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY
    from exchangelib.properties import Attendee, Mailbox

    acc = account(server)
    utc = EWSTimeZone("UTC")
    item = CalendarItem(
        account=acc, folder=acc.calendar, subject=subject, location="Room 4",
        start=EWSDateTime(2027, 3, 1, 10, tzinfo=utc), end=EWSDateTime(2027, 3, 1, 11, tzinfo=utc),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=OTHER))])
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    return item


@pytest_twisted.ensureDeferred
async def test_ews_invitation_is_a_meeting_request_answered_once(local_server):
    server = local_server
    item = await in_thread(_invite, server, "Planning")

    # Bob: one iMIP REQUEST in his INBOX, and the event in his calendar, as before.
    [mail] = await in_thread(imap_inbox, server, OTHER)
    assert mail["Subject"] == "Invitation: Planning"
    assert mail["From"].addresses[0].addr_spec == USER and mail["To"].addresses[0].addr_spec == OTHER
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip()
    method, ics = calendar_part(mail)
    assert method == "REQUEST" and "METHOD:REQUEST" in ics and "SUMMARY:Planning" in ics
    [placed] = await stored_items(server, OTHER, "calendar")
    assert b"SUMMARY:Planning" in placed.content
    assert len(await stored_items(server, OTHER, "schedule-inbox")) == 1

    def bob_accepts():
        from exchangelib.items import MeetingRequest

        bob = account(server, OTHER)
        [request] = list(bob.inbox.all())
        assert isinstance(request, MeetingRequest)
        assert request.subject == "Invitation: Planning"
        assert request.organizer.email_address == USER
        [event] = list(bob.calendar.all())
        assert request.associated_calendar_item_id.id == event.id
        request.accept(body="See you there")
        assert list(bob.inbox.all()) == []  # moved to Deleted Items, as Exchange does
        [event] = list(bob.calendar.all())  # the same one, answered, no second copy
        assert event.my_response_type == "Accept"

    await in_thread(bob_accepts)
    [mine] = await stored_items(server, USER, "calendar")
    assert itip.parse_itip(mine.content, method_required=False).attendee(OTHER).partstat == "ACCEPTED"
    [reply] = await stored_items(server, USER, "schedule-inbox")
    assert b"REPLY" in reply.content

    def alice_reads():
        from exchangelib.items import MeetingResponse

        alice = account(server)
        [response] = list(alice.inbox.all())
        assert isinstance(response, MeetingResponse)
        assert response.subject == "Accepted: Planning"
        assert response.item_class == "IPM.Schedule.Meeting.Resp.Pos"
        return response

    await in_thread(alice_reads)
    [mail] = await in_thread(imap_inbox, server, USER)
    method, ics = calendar_part(mail)
    assert method == "REPLY" and "PARTSTAT=ACCEPTED" in ics.replace("\r\n ", "")

    # Alice cancels: Bob gets a MeetingCancellation mail, his event is cancelled.
    def cancel_and_read():
        from exchangelib.items import SEND_ONLY_TO_ALL, MeetingCancellation

        item.delete(send_meeting_cancellations=SEND_ONLY_TO_ALL)
        bob = account(server, OTHER)
        [cancellation] = list(bob.inbox.all())
        assert isinstance(cancellation, MeetingCancellation)
        assert cancellation.subject == "Cancelled: Planning"

    await in_thread(cancel_and_read)
    [placed] = await stored_items(server, OTHER, "calendar")
    assert b"STATUS:CANCELLED" in placed.content
    assert len(await in_thread(imap_inbox, server, USER)) == 1  # still the one REPLY


def _caldav_put(server, user: str, uid: str, body: str) -> int:
    status, _headers, _payload = post(
        server.port("http"), body.encode(), user=user, method="PUT",
        path=f"/dav/calendars/{user}/calendar/{uid}.ics",
        headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
    return status


def _event(uid: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT", f"UID:{uid}",
        "DTSTAMP:20261201T000000Z", "DTSTART:20270311T140000Z", "DURATION:PT1H",
        "SUMMARY:Budget", "SEQUENCE:0", f"ORGANIZER;CN=Bob:mailto:{OTHER}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{OTHER}",
        f"ATTENDEE;CN=Alice;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{USER}",
        "END:VEVENT", "END:VCALENDAR", ""])


@pytest_twisted.ensureDeferred
async def test_caldav_invitation_answered_from_the_inbox_by_an_eas_phone(local_server):
    server = local_server
    uid = "budget-local@example.org"
    assert await in_thread(_caldav_put, server, OTHER, uid, _event(uid)) == 201

    [mail] = await in_thread(imap_inbox, server, USER)
    assert mail["Subject"] == "Invitation: Budget"
    assert mail["From"].addresses[0].addr_spec == OTHER
    method, ics = calendar_part(mail)
    assert method == "REQUEST" and f"UID:{uid}" in ics
    [placed] = await stored_items(server, USER, "calendar")
    assert placed.info.uid == uid

    def phone_accepts():
        phone = ready_device(server, "localinv1")
        inbox = phone.folder_of_type(EAS_INBOX)
        _, commands = phone.sync_all(inbox)
        [server_id] = server_ids(commands)
        request = el(MR, "Request", el(MR, "UserResponse", text="1"), el(MR, "CollectionId", text=inbox),
                     el(MR, "RequestId", text=server_id), el(MR, "SendResponse"))
        status, tree = phone.post("MeetingResponse", el(MR, "MeetingResponse", request))
        assert status == 200
        return tree.find(MR, "Result").find(MR, "Status").text

    assert await in_thread(phone_accepts) == "1"
    [answered] = await stored_items(server, USER, "calendar")  # answered in place, not filed again
    assert answered.info.name == placed.info.name
    assert itip.parse_itip(answered.content, method_required=False).attendee(USER).partstat == "ACCEPTED"
    [organizers] = await stored_items(server, OTHER, "calendar")
    assert itip.parse_itip(organizers.content, method_required=False).attendee(USER).partstat == "ACCEPTED"
    [reply] = await in_thread(imap_inbox, server, OTHER)  # one REPLY mail, not two
    assert reply["Subject"] == "Accepted: Budget"
    assert calendar_part(reply)[0] == "REPLY"
    assert len(await stored_items(server, OTHER, "schedule-inbox")) == 1
    assert await in_thread(imap_inbox, server, USER) == []  # the request went to Deleted Items


@pytest_twisted.ensureDeferred
async def test_switched_off_nothing_is_mailed(quiet_server):
    server = quiet_server
    await in_thread(_invite, server, "Quiet")
    assert await in_thread(imap_inbox, server, OTHER) == []
    [placed] = await stored_items(server, OTHER, "calendar")
    assert b"SUMMARY:Quiet" in placed.content
    assert len(await stored_items(server, OTHER, "schedule-inbox")) == 1

    def bob_accepts_in_the_calendar():
        bob = account(server, OTHER)
        [event] = list(bob.calendar.all())
        event.accept()

    await in_thread(bob_accepts_in_the_calendar)
    [mine] = await stored_items(server, USER, "calendar")
    assert itip.parse_itip(mine.content, method_required=False).attendee(OTHER).partstat == "ACCEPTED"
    assert await in_thread(imap_inbox, server, USER) == []

    # Nor for an organizer inviting over CalDAV.
    uid = "quiet-caldav@example.org"
    assert await in_thread(_caldav_put, server, OTHER, uid, _event(uid)) == 201
    assert any(item.info.uid == uid for item in await stored_items(server, USER, "calendar"))
    assert await in_thread(imap_inbox, server, USER) == []
