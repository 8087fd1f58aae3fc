"""Meeting invitations on a phone, against a real server: Bob (the other account) invites
Alice; her Inbox shows the message as a meeting request with its MeetingRequest fields;
MeetingResponse files her answer in her calendar (or, declined, keeps the meeting out of
it), tells Bob by an iMIP REPLY in 16.x, moves the request to Deleted Items; the event
then syncs to the phone through the Calendar folder. And the GlobalObjId round trip."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
import pytest_twisted
from eas_client import AS, RawEAS, data_of, el, ready_device
from hypothesis import given
from hypothesis import strategies as st
from test_eas_endpoint import block
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.model import CollectionKind
from smsync.protocols.eas import meetings
from smsync.scheduling import itip
from smsync.testing.servers import OTHER, USER, RunningServers

MR, EMAIL, EMAIL2, CAL, BASE = "MeetingResponse:", "Email:", "Email2:", "Calendar:", "AirSyncBase:"
INBOX, CALENDAR, DELETED = 2, 8, 4


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def invitation(uid: str, summary: str = "Planning", rsvp: str = "TRUE", method: str = "REQUEST",
               extra: str = "") -> bytes:
    ics = (
        "BEGIN:VCALENDAR\r\nPRODID:-//Bob//EN\r\nVERSION:2.0\r\n"
        f"METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\n"
        "DTSTAMP:20270301T090000Z\r\nDTSTART:20270310T140000Z\r\nDTEND:20270310T150000Z\r\n"
        f"SUMMARY:{summary}\r\nLOCATION:Room 4\r\n{extra}"
        f"ORGANIZER;CN=Bob:mailto:{OTHER}\r\n"
        f"ATTENDEE;CN=Alice;PARTSTAT=NEEDS-ACTION;RSVP={rsvp}:mailto:{USER}\r\n"
        f"ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:{OTHER}\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return (
        f"From: Bob <{OTHER}>\r\nTo: {USER}\r\nSubject: Invitation: {summary}\r\n"
        f"Date: Mon, 01 Mar 2027 09:00:00 +0000\r\nMessage-ID: <{uid}.msg@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYou are invited.\r\n"
        f"--alt\r\nContent-Type: text/calendar; charset=utf-8; method={method}\r\n\r\n{ics}"
        "--alt--\r\n").encode()


def device(server, version="16.1", name="meet01") -> RawEAS:
    return ready_device(server, name, version)


def inbox_items(phone) -> dict:
    """ServerId -> ApplicationData of every message of the Inbox."""
    from eas_client import server_ids
    _, commands = phone.sync_all(phone.folder_of_type(INBOX))
    return dict(zip(server_ids(commands), (data_of(c) for c in commands if c.tag == "Add")))


def respond(phone, folder, request_id, answer, *extra):
    children = [el(MR, "UserResponse", text=str(answer)), el(MR, "CollectionId", text=folder),
                el(MR, "RequestId", text=request_id), *extra]
    status, tree = phone.post("MeetingResponse", el(MR, "MeetingResponse", el(MR, "Request", *children)))
    assert status == 200, status
    return tree.find(MR, "Result")


def text_of(element, ns, tag):
    found = element.find(ns, tag)
    return None if found is None else found.text


async def _events(server, user=USER):
    collections = await server.collections(user)
    [info] = await collections.list_collections(CollectionKind.CALENDAR)
    coll = await collections.collection_by_id(info.id)
    items = await coll.items()
    return [i.content for i in await coll.get([i.name for i in items])]


@pytest_twisted.ensureDeferred
async def test_accept_files_the_event_replies_to_bob_and_syncs_to_the_calendar(server):
    await deferToThread(_test_accept, server)


def _test_accept(server):
    [uid] = block(server.deliver(invitation("meet-1@example.org")))
    phone = device(server)
    data = inbox_items(phone)[str(uid)]
    assert text_of(data, EMAIL, "MessageClass") == "IPM.Schedule.Meeting.Request"
    request = data.find(EMAIL, "MeetingRequest")
    assert text_of(request, EMAIL, "StartTime") == "2027-03-10T14:00:00.000Z"
    assert text_of(request, EMAIL, "EndTime") == "2027-03-10T15:00:00.000Z"
    assert text_of(request, EMAIL, "DtStamp") == "2027-03-01T09:00:00.000Z"
    assert text_of(request, EMAIL, "AllDayEvent") == "0" and text_of(request, EMAIL, "InstanceType") == "0"
    assert request.find(BASE, "Location").find(BASE, "DisplayName").text == "Room 4"  # 16.x form
    assert text_of(request, EMAIL, "Organizer") == f'"Bob" <{OTHER}>'
    assert text_of(request, EMAIL, "Reminder") == "600"
    assert text_of(request, EMAIL, "ResponseRequested") == "1"
    assert text_of(request, EMAIL, "Sensitivity") == "0" and text_of(request, EMAIL, "BusyStatus") == "2"
    assert text_of(request, EMAIL, "TimeZone")
    assert meetings.decode_global_obj_id(text_of(request, EMAIL, "GlobalObjId")) == "meet-1@example.org"
    assert text_of(request, EMAIL2, "MeetingMessageType") == "1"
    tags = [c.tag for c in data.children]
    assert tags.index("MeetingRequest") == tags.index("MessageClass") + 1

    # Accept, with a note for Bob.
    inbox = phone.folder_of_type(INBOX)
    note = el(MR, "SendResponse", el(BASE, "Body", el(BASE, "Type", text="1"),
                                     el(BASE, "Data", text="Looking forward to it.")))
    result = respond(phone, inbox, str(uid), 1, note)
    assert text_of(result, MR, "Status") == "1" and text_of(result, MR, "RequestId") == str(uid)
    calendar_id = text_of(result, MR, "CalendarId")
    [stored] = block(_events(server))
    got = itip.parse_itip(stored, method_required=False)
    assert got.method == "" and got.uid == "meet-1@example.org"
    assert got.attendee(USER).partstat == "ACCEPTED" and got.attendee(OTHER).partstat == "ACCEPTED"
    assert b"LOCATION:Room 4" in stored

    # Bob gets the REPLY in his Inbox; Alice's copy is in Sent; the request left her Inbox.
    [received] = block(server.bodies(OTHER))
    message = email.message_from_bytes(received, policy=email.policy.default)
    assert message["Subject"] == "Accepted: Planning" and USER in message["From"]
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REPLY"
    reply = itip.parse_itip(calendar.get_content().encode())
    assert reply.method == "REPLY" and [(a.address, a.partstat) for a in reply.attendees] == [(USER, "ACCEPTED")]
    assert "Looking forward to it." in message.get_body(("plain",)).get_content()
    assert len(block(server.bodies(USER, "Sent"))) == 1
    assert block(server.bodies(USER)) == []
    assert len(block(server.bodies(USER, "Trash"))) == 1

    # The phone's calendar gets the event under the CalendarId it was told.
    _, commands = phone.sync_all(phone.folder_of_type(CALENDAR))
    [add] = [c for c in commands if c.tag == "Add"]
    assert add.find(AS, "ServerId").text == calendar_id
    event = data_of(add)
    assert text_of(event, CAL, "UID") == "meet-1@example.org"
    assert text_of(event, CAL, "Subject") == "Planning"
    statuses = {text_of(a, CAL, "Email"): text_of(a, CAL, "AttendeeStatus")
                for a in event.find(CAL, "Attendees").children}
    assert statuses[USER] == "3"  # accepted


@pytest_twisted.ensureDeferred
async def test_decline_keeps_the_meeting_out_of_the_calendar(server):
    await deferToThread(_test_decline, server)


def _test_decline(server):
    first, second = block(server.deliver(invitation("meet-2@example.org", "Review"),
                                         invitation("meet-3@example.org", "Quiet", rsvp="FALSE")))
    phone = device(server)
    inbox = phone.folder_of_type(INBOX)
    inbox_items(phone)
    # Tentative first: filed; then declined: removed, no CalendarId.
    result = respond(phone, inbox, str(first), 2, el(MR, "SendResponse"))
    assert text_of(result, MR, "Status") == "1" and text_of(result, MR, "CalendarId")
    [stored] = block(_events(server))
    assert itip.parse_itip(stored, method_required=False).attendee(USER).partstat == "TENTATIVE"
    # The request is in Trash now; declining from the calendar item (16.x) works too.
    calendar_folder = phone.folder_of_type(CALENDAR)
    result = respond(phone, calendar_folder, text_of(result, MR, "CalendarId"), 3, el(MR, "SendResponse"))
    assert text_of(result, MR, "Status") == "1" and result.find(MR, "CalendarId") is None
    assert block(_events(server)) == []
    subjects = [email.message_from_bytes(b, policy=email.policy.default)["Subject"]
                for b in block(server.bodies(OTHER))]
    assert subjects == ["Tentative: Review", "Declined: Review"]

    # RSVP=FALSE: declined without telling Bob, never in the calendar.
    result = respond(phone, inbox, str(second), 3, el(MR, "SendResponse"))
    assert text_of(result, MR, "Status") == "1" and result.find(MR, "CalendarId") is None
    assert block(_events(server)) == []
    assert len(block(server.bodies(OTHER))) == 2


@pytest_twisted.ensureDeferred
async def test_before_16_the_device_tells_the_organizer(server):
    await deferToThread(_test_before_16, server)


def _test_before_16(server):
    [uid] = block(server.deliver(invitation("meet-4@example.org")))
    phone = device(server, version="14.1", name="meet14")
    data = inbox_items(phone)[str(uid)]
    request = data.find(EMAIL, "MeetingRequest")
    assert text_of(request, EMAIL, "Location") == "Room 4"  # the pre-16 form
    result = respond(phone, phone.folder_of_type(INBOX), str(uid), 1)
    assert text_of(result, MR, "Status") == "1"
    [stored] = block(_events(server))
    assert itip.parse_itip(stored, method_required=False).attendee(USER).partstat == "ACCEPTED"
    assert block(server.bodies(OTHER)) == []  # MS-ASCMD 2.2.1.11: the device sends it by SendMail


@pytest_twisted.ensureDeferred
async def test_a_local_organizer_copy_gets_the_answer(server):
    await deferToThread(_test_local_organizer, server)


def _test_local_organizer(server):
    ics = email.message_from_bytes(invitation("meet-5@example.org"), policy=email.policy.default)
    ics = next(p for p in ics.walk() if p.get_content_type() == "text/calendar").get_content()
    bob_copy = itip.calendar_object(ics.encode())

    async def file_for_bob():
        collections = await server.collections(OTHER)
        [info] = await collections.list_collections(CollectionKind.CALENDAR)
        await (await collections.collection_by_id(info.id)).put("meet-5.ics", bob_copy)

    block(file_for_bob())
    [uid] = block(server.deliver(invitation("meet-5@example.org")))
    phone = device(server, version="14.1", name="meet15")
    inbox_items(phone)
    result = respond(phone, phone.folder_of_type(INBOX), str(uid), 2)
    assert text_of(result, MR, "Status") == "1"
    [stored] = block(_events(server, OTHER))
    assert itip.parse_itip(stored, method_required=False).attendee(USER).partstat == "TENTATIVE"


@pytest_twisted.ensureDeferred
async def test_bad_requests_answer_status_2(server):
    await deferToThread(_test_bad_requests, server)


def _test_bad_requests(server):
    plain = b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    plain_uid, cancel_uid = block(server.deliver(
        plain, invitation("meet-5@example.org", method="CANCEL", extra="STATUS:CANCELLED\r\n")))
    phone = device(server)
    inbox = phone.folder_of_type(INBOX)
    items = inbox_items(phone)
    assert text_of(items[str(plain_uid)], EMAIL, "MessageClass") == "IPM.Note"
    assert text_of(items[str(cancel_uid)], EMAIL, "MessageClass") == "IPM.Schedule.Meeting.Canceled"
    assert items[str(cancel_uid)].find(EMAIL, "MeetingRequest") is not None
    for folder, request_id, answer in ((inbox, "999", 1), (inbox, str(plain_uid), 1),
                                       (inbox, str(cancel_uid), 1), (inbox, "x1", 1),
                                       ("no-such-folder", "1", 1), (inbox, str(plain_uid), 7)):
        result = respond(phone, folder, request_id, answer)
        assert text_of(result, MR, "Status") == "2", (folder, request_id, answer)
        assert result.find(MR, "CalendarId") is None
    result = respond(phone, inbox, str(plain_uid), 1, el(MR, "InstanceId", text="yesterday"))
    assert text_of(result, MR, "Status") == "2"
    assert block(_events(server)) == []
    assert len(block(server.bodies(USER))) == 2  # nothing moved
    status, _ = phone.post("MeetingResponse", el(MR, "MeetingResponse"))
    assert status == 400


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
       .filter(lambda u: u.strip() == u))
def test_global_obj_id_gives_the_uid_back(uid):
    raw = meetings.global_obj_id(uid)
    assert raw[:16] == meetings.CLASS_ID
    assert meetings.decode_global_obj_id(base64.b64encode(raw).decode()) == uid


def test_outlook_global_obj_ids_keep_their_bytes():
    # MS-ASEMAIL 4.3's example: an Outlook id is its own bytes, instance date zeroed.
    given_id = "BAAAAIIA4AB0xbcQGoLgCAfUCRDgQMnBJoXEAQAAAAAAAAAAEAAAAAvw7UtuTulOnjnjhns3jvM="
    uid = meetings.decode_global_obj_id(given_id)
    assert uid == ("040000008200E00074C5B7101A82E00800000000E040C9C12685C401000000000000000010"
                   "0000000BF0ED4B6E4EE94E9E39E3867B378EF3")
    assert meetings.global_obj_id(uid).hex().upper() == uid
    assert meetings.decode_global_obj_id("bm90IGFuIGlk") is None


@pytest_twisted.ensureDeferred
async def test_scheduling_mailboxes_are_no_phone_folders(server):
    from smsync.scheduling.scheduler import mailbox

    collections = await server.collections(USER)
    for kind in (CollectionKind.SCHEDULE_INBOX, CollectionKind.SCHEDULE_OUTBOX):
        await mailbox(collections, kind)
    folders = await deferToThread(lambda: device(server, name="meet16").folders)
    assert not any(name.startswith("schedule-") for name, _ in folders.values())
