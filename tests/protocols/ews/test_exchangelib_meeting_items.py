"""exchangelib reading meeting messages in the Inbox: an iMIP REQUEST from a remote
organizer delivered over LMTP is a ``MeetingRequest`` (its CANCEL a
``MeetingCancellation``, an attendee's REPLY a ``MeetingResponse``); accepting it answers
the calendar item delivery placed (or one made from the request when there is none),
mails the iMIP REPLY to the organizer through the relay and moves the request to Deleted
Items. Plain mail, and mail with a broken calendar part, stay Messages. RemoveItem (raw
SOAP: exchangelib cannot send it) takes a cancelled meeting out of the calendar."""

from __future__ import annotations

import smtplib

import pytest
import pytest_twisted

from smsync.scheduling import imip
from smsync.testing.servers import OTHER, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import (
    account, calendar_part, call, codes, relaying, stored_items, wait_until,
)

REMOTE = "carol@remote.example"
UID = "budget-2027@remote.example"


@pytest.fixture
def meeting_server(tmp_path):
    yield from relaying(tmp_path, ("ews", "lmtp"))


def ics(method: str, *, uid: str = UID, partstat: str = "NEEDS-ACTION", attendee: str = USER,
        sequence: int = 0) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//remote//EN", f"METHOD:{method}", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20270101T090000Z", "DTSTART:20270301T100000Z",
             "DTEND:20270301T110000Z", "SUMMARY:Budget", "LOCATION:Room 4", f"SEQUENCE:{sequence}",
             f"ORGANIZER;CN=Carol:mailto:{REMOTE if method != 'REPLY' else USER}",
             f"ATTENDEE;CN=Someone;PARTSTAT={partstat};RSVP=TRUE:mailto:{attendee}"]
    if method == "CANCEL":
        lines.append("STATUS:CANCELLED")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def imip_mail(method: str, sender: str = REMOTE, subject: str = "Invitation: Budget", **kwargs) -> bytes:
    return imip.imip_message(ics(method, **kwargs), method=method, sender=sender, recipients=[USER],
                             subject=subject, text="Budget review\n")


def lmtp(server, body: bytes, sender: str = REMOTE) -> None:
    with smtplib.LMTP("127.0.0.1", server.port("lmtp"), timeout=20) as client:
        client.sendmail(sender, [USER], body)


def _unfolded(content: bytes) -> str:
    return content.decode().replace("\r\n ", "")


@pytest_twisted.ensureDeferred
async def test_request_is_a_meeting_request_and_accepting_it_answers_the_organizer(meeting_server):
    server = meeting_server
    await in_thread(lmtp, server, imip_mail("REQUEST"))
    [placed] = await stored_items(server, USER)  # delivery placed the invitation
    assert b"SUMMARY:Budget" in placed.content

    def read_and_accept():
        from exchangelib.items import MeetingRequest

        acc = account(server)
        [request] = list(acc.inbox.all())
        assert isinstance(request, MeetingRequest)
        assert request.subject == "Invitation: Budget"
        assert request.item_class == "IPM.Schedule.Meeting.Request"
        assert request.start.isoformat().startswith("2027-03-01T10:00:00")
        assert request.end.isoformat().startswith("2027-03-01T11:00:00")
        assert request.location == "Room 4"
        assert request.organizer.email_address == REMOTE
        assert request.meeting_request_type == "NewMeetingRequest"
        assert request.response_type == "NoResponseReceived"
        [event] = list(acc.calendar.all())
        assert request.associated_calendar_item_id.id == event.id
        assert request.has_been_processed is True and request.is_out_of_date is False
        again = acc.inbox.get(id=request.id)  # GetItem
        assert isinstance(again, MeetingRequest) and again.body is not None
        assert [a.mailbox.email_address for a in again.required_attendees] == [USER]
        request.accept()
        assert list(acc.inbox.all()) == []
        [moved] = list(acc.trash.all())
        assert isinstance(moved, MeetingRequest)
        [event] = list(acc.calendar.all())
        return event.my_response_type

    assert await in_thread(read_and_accept) in ("Accept", None)
    [answered] = await stored_items(server, USER)
    assert answered.info.name == placed.info.name
    assert "PARTSTAT=ACCEPTED" in _unfolded(answered.content)
    await wait_until(lambda: bool(server.sink.received))
    [(sender, rcpt, raw)] = server.sink.received
    assert (sender, rcpt) == (USER, REMOTE)
    reply = calendar_part(raw)
    assert "METHOD:REPLY" in reply and "PARTSTAT=ACCEPTED" in reply.replace("\r\n ", "")
    assert f"UID:{UID}" in reply


@pytest_twisted.ensureDeferred
async def test_answer_to_a_request_the_calendar_lacks_files_it_first(meeting_server):
    server = meeting_server
    # Stored straight into the Inbox: nothing placed it in the calendar.
    await server.deliver(imip_mail("REQUEST"))
    await server.deliver(imip_mail("REQUEST", uid="other@remote.example", subject="Invitation: Other"))
    assert await stored_items(server, USER) == []

    def answer():
        acc = account(server)
        found = {r.subject: r for r in acc.inbox.all()}
        assert found["Invitation: Budget"].associated_calendar_item_id is None
        assert found["Invitation: Budget"].has_been_processed is False
        # UpdateItem names a meeting request by its own tag.
        found["Invitation: Other"].is_read = True
        found["Invitation: Other"].save(update_fields=["is_read"])
        assert acc.inbox.get(subject="Invitation: Other").is_read is True
        found["Invitation: Budget"].tentatively_accept()
        found["Invitation: Other"].decline()
        assert list(acc.inbox.all()) == []
        return [(e.subject, e.start.isoformat()[:19]) for e in acc.calendar.all()]

    assert await in_thread(answer) == [("Budget", "2027-03-01T10:00:00")]
    [filed] = await stored_items(server, USER)
    assert "PARTSTAT=TENTATIVE" in _unfolded(filed.content) and b"METHOD" not in filed.content
    await wait_until(lambda: len(server.sink.received) == 2)
    replies = sorted(calendar_part(raw).replace("\r\n ", "") for _s, _r, raw in server.sink.received)
    assert any("PARTSTAT=DECLINED" in r and "UID:other@remote.example" in r for r in replies)
    assert any("PARTSTAT=TENTATIVE" in r and f"UID:{UID}" in r for r in replies)


@pytest_twisted.ensureDeferred
async def test_cancellation_response_plain_and_broken_mail(meeting_server):
    server = meeting_server
    await in_thread(lmtp, server, imip_mail("REQUEST"))
    await in_thread(lmtp, server, imip_mail("CANCEL", subject="Canceled: Budget", sequence=1))
    # An attendee's answer to a meeting the account organizes.
    await in_thread(lmtp, server, imip_mail("REPLY", sender=OTHER, subject="Accepted: Budget", uid="mine@x",
                                            attendee=OTHER, partstat="ACCEPTED"), OTHER)
    await in_thread(lmtp, server, numbered_message(1))
    broken = imip_mail("REQUEST", subject="Broken").replace(b"BEGIN:VEVENT", b"BEGIN:VEVNT")
    await in_thread(lmtp, server, broken)

    def read():
        from exchangelib.items import MeetingCancellation, MeetingRequest, MeetingResponse, Message

        acc = account(server)
        found = {i.subject: i for i in acc.inbox.all()}
        assert type(found["Invitation: Budget"]) is MeetingRequest
        assert found["Invitation: Budget"].is_out_of_date is True  # the CANCEL came after
        cancel = found["Canceled: Budget"]
        assert type(cancel) is MeetingCancellation
        assert cancel.item_class == "IPM.Schedule.Meeting.Canceled"
        assert cancel.associated_calendar_item_id is not None  # the event, marked cancelled
        response = found["Accepted: Budget"]
        assert type(response) is MeetingResponse
        assert response.item_class == "IPM.Schedule.Meeting.Resp.Pos"
        assert response.response_type == "Accept"
        assert type(found["Broken"]) is Message and found["Broken"].item_class == "IPM.Note"
        plain = [i for s, i in found.items() if s not in ("Invitation: Budget", "Canceled: Budget",
                                                          "Accepted: Budget", "Broken")]
        assert len(plain) == 1 and type(plain[0]) is Message
        # SyncFolderItems serves them alike.
        synced = {i.subject: type(i).__name__ for _change, i in acc.inbox.sync_items()}
        assert synced["Canceled: Budget"] == "MeetingCancellation"
        assert synced["Accepted: Budget"] == "MeetingResponse"
        assert synced["Broken"] == "Message"
        return cancel.id

    cancel_id = await in_thread(read)
    [cancelled] = await stored_items(server, USER)
    assert b"STATUS:CANCELLED" in cancelled.content

    def remove():
        body = (f'<m:Items><t:RemoveItem><t:ReferenceItemId Id="{cancel_id}"/></t:RemoveItem></m:Items>')
        return codes(call(server.portno, "CreateItem", body))

    assert await in_thread(remove) == ["NoError"]
    assert await stored_items(server, USER) == []

    def after():
        acc = account(server)
        subjects = sorted(i.subject for i in acc.trash.all())
        return subjects

    assert await in_thread(after) == ["Canceled: Budget"]


@pytest_twisted.ensureDeferred
async def test_response_objects_refuse_what_is_not_a_request(meeting_server):
    server = meeting_server
    await in_thread(lmtp, server, numbered_message(2))
    await in_thread(lmtp, server, imip_mail("CANCEL", subject="Canceled: Budget"))

    def run():
        from exchangelib.errors import ErrorInvalidOperation
        from exchangelib.items import AcceptItem
        from exchangelib.properties import ReferenceItemId

        acc = account(server)
        items = {i.subject: i for i in acc.inbox.all()}
        for item in items.values():
            with pytest.raises(ErrorInvalidOperation):
                AcceptItem(account=acc, reference_item_id=ReferenceItemId(id=item.id, changekey=item.changekey)).send()
        plain = next(i for s, i in items.items() if s != "Canceled: Budget")
        body = f'<m:Items><t:RemoveItem><t:ReferenceItemId Id="{plain.id}"/></t:RemoveItem></m:Items>'
        return codes(call(server.portno, "CreateItem", body)), len(list(acc.inbox.all()))

    assert await in_thread(run) == (["ErrorInvalidOperation"], 2)
    assert server.sink.received == []
