"""exchangelib organizing meetings: CreateItem / UpdateItem / DeleteItem of a calendar
item with attendees send invitations, updates and cancellations through the core
scheduler -- a local attendee gets them in its schedule inbox and calendar at once, a
remote one as iMIP mail through the relay (an SMTP sink here) -- and SendToNone sends
nothing."""

from __future__ import annotations

import email

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import account, calendar_part, relaying, stored_items, wait_until

REMOTE = "carol@remote.example"


@pytest.fixture
def meeting_server(tmp_path):
    yield from relaying(tmp_path)


def _create(server, subject: str, attendees, mode: str, optional=()):
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.properties import Attendee, Mailbox

    acc = account(server)
    utc = EWSTimeZone("UTC")
    item = CalendarItem(
        account=acc, folder=acc.calendar, subject=subject,
        start=EWSDateTime(2027, 3, 1, 10, tzinfo=utc), end=EWSDateTime(2027, 3, 1, 11, tzinfo=utc),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=a)) for a in attendees],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address=a)) for a in optional] or None)
    item.save(send_meeting_invitations=mode)
    return acc, item


@pytest_twisted.ensureDeferred
async def test_invite_local_attendee_then_cancel(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        _acc, item = _create(server, "Planning", [OTHER], SEND_TO_ALL_AND_SAVE_COPY)
        return item

    item = await in_thread(organizer)
    [own] = await stored_items(server, USER, "calendar")
    text = own.content.decode().replace("\r\n ", "")
    assert f"ORGANIZER:mailto:{USER}" in text
    assert f"mailto:{OTHER}" in text and "ROLE=REQ-PARTICIPANT" in text
    assert "PARTSTAT=NEEDS-ACTION" in text and "RSVP=TRUE" in text
    assert f"SCHEDULE-STATUS=1.2:mailto:{OTHER}" in text

    [invite] = await stored_items(server, OTHER, "schedule-inbox")
    assert b"METHOD:REQUEST" in invite.content and b"Planning" in invite.content
    [placed] = await stored_items(server, OTHER, "calendar")
    assert placed.info.uid == own.info.uid and b"SUMMARY:Planning" in placed.content

    def update_and_delete():
        from exchangelib.items import SEND_ONLY_TO_ALL, SEND_TO_ALL_AND_SAVE_COPY

        item.subject = "Planning (moved)"
        item.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
        item.delete(send_meeting_cancellations=SEND_ONLY_TO_ALL)

    await in_thread(update_and_delete)
    assert await stored_items(server, USER, "calendar") == []
    [placed] = await stored_items(server, OTHER, "calendar")
    assert b"STATUS:CANCELLED" in placed.content and b"Planning (moved)" in placed.content
    [inbox] = await stored_items(server, OTHER, "schedule-inbox")
    assert b"METHOD:CANCEL" in inbox.content
    assert server.sink.received == []


@pytest_twisted.ensureDeferred
async def test_remote_attendee_gets_imip_mail_and_cancel(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        _acc, item = _create(server, "Review", [REMOTE], SEND_TO_ALL_AND_SAVE_COPY, optional=[OTHER])
        return item

    item = await in_thread(organizer)
    [own] = await stored_items(server, USER, "calendar")
    assert b"ROLE=OPT-PARTICIPANT" in own.content
    await wait_until(lambda: bool(server.sink.received))
    [(sender, rcpt, raw)] = server.sink.received
    assert (sender, rcpt) == (USER, REMOTE)
    assert email.message_from_bytes(raw)["Subject"] == "Invitation: Review"
    ics = calendar_part(raw)
    assert "METHOD:REQUEST" in ics and f"UID:{own.info.uid}" in ics
    assert len(await stored_items(server, OTHER, "schedule-inbox")) == 1

    def delete():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        item.delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)

    await in_thread(delete)
    await wait_until(lambda: len(server.sink.received) == 2)
    sender, rcpt, raw = server.sink.received[1]
    assert (sender, rcpt) == (USER, REMOTE)
    assert "METHOD:CANCEL" in calendar_part(raw)


@pytest_twisted.ensureDeferred
async def test_send_to_none_stores_without_sending(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_NONE

        _acc, item = _create(server, "Quiet", [OTHER, REMOTE], SEND_TO_NONE)
        return item

    item = await in_thread(organizer)
    [own] = await stored_items(server, USER, "calendar")
    text = own.content.decode().replace("\r\n ", "")
    assert f"mailto:{REMOTE}" in text and "SCHEDULE-STATUS" not in text
    await in_thread(lambda: item.delete(send_meeting_cancellations="SendToNone"))
    await deferLater(reactor, 0.5, lambda: None)
    assert server.sink.received == []
    assert await stored_items(server, OTHER, "schedule-inbox") == []
    assert await stored_items(server, OTHER, "calendar") == []


@pytest_twisted.ensureDeferred
async def test_update_invites_the_added_and_cancels_the_removed(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY
        from exchangelib.properties import Attendee, Mailbox

        acc, item = _create(server, "Sync", [OTHER], SEND_TO_ALL_AND_SAVE_COPY, optional=[USER.replace("alice", "nobody")])
        item.required_attendees = [Attendee(mailbox=Mailbox(email_address=REMOTE))]
        item.save(update_fields=["required_attendees"],
                  send_meeting_invitations="SendToChangedAndSaveCopy")
        again = acc.calendar.get(id=item.id)
        return ([a.mailbox.email_address for a in again.required_attendees or ()],
                [a.mailbox.email_address for a in again.optional_attendees or ()])

    required, optional = await in_thread(organizer)
    assert required == [REMOTE]
    assert optional == [USER.replace("alice", "nobody")]
    [placed] = await stored_items(server, OTHER, "calendar")
    assert b"STATUS:CANCELLED" in placed.content
    await wait_until(lambda: any(rcpt == REMOTE for _s, rcpt, _r in server.sink.received))
    invited = [raw for _s, rcpt, raw in server.sink.received if rcpt == REMOTE]
    assert "METHOD:REQUEST" in calendar_part(invited[-1])


def _answer(server, subject: str, how: str, **kwargs):
    """The attendee (OTHER) finds the invitation's calendar item and answers it with
    exchangelib's ``how`` (accept, tentatively_accept, decline)."""
    acc = account(server, user=OTHER)
    [item] = [i for i in acc.calendar.all() if i.subject == subject]
    return getattr(item, how)(**kwargs)


@pytest_twisted.ensureDeferred
async def test_attendee_accepts(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        _create(server, "Standup", [OTHER], SEND_TO_ALL_AND_SAVE_COPY)

    await in_thread(organizer)
    await in_thread(lambda: _answer(server, "Standup", "accept", body="See you there, <b>bring</b> cake"))
    [own] = await stored_items(server, USER, "calendar")
    assert "PARTSTAT=ACCEPTED" in own.content.decode().replace("\r\n ", "")
    # What the attendee wrote goes with the answer, as its COMMENT.
    [reply] = await stored_items(server, USER, "schedule-inbox")
    assert "METHOD:REPLY" in reply.content.decode()
    assert "COMMENT:See you there\\, <b>bring</b> cake" in reply.content.decode().replace("\r\n ", "")
    [placed] = await stored_items(server, OTHER, "calendar")
    assert "PARTSTAT=ACCEPTED" in placed.content.decode().replace("\r\n ", "")
    assert server.sink.received == []


@pytest_twisted.ensureDeferred
async def test_attendee_tentatively_accepts_then_declines(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        _create(server, "Retro", [OTHER], SEND_TO_ALL_AND_SAVE_COPY)

    await in_thread(organizer)
    await in_thread(lambda: _answer(server, "Retro", "tentatively_accept"))
    [own] = await stored_items(server, USER, "calendar")
    assert "PARTSTAT=TENTATIVE" in own.content.decode().replace("\r\n ", "")
    [placed] = await stored_items(server, OTHER, "calendar")
    assert "PARTSTAT=TENTATIVE" in placed.content.decode().replace("\r\n ", "")

    await in_thread(lambda: _answer(server, "Retro", "decline"))
    [own] = await stored_items(server, USER, "calendar")
    assert "PARTSTAT=DECLINED" in own.content.decode().replace("\r\n ", "")
    # A declined meeting leaves the attendee's calendar, as Exchange removes it.
    assert await stored_items(server, OTHER, "calendar") == []


@pytest_twisted.ensureDeferred
async def test_organizer_cannot_answer_own_meeting(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.errors import ErrorInvalidOperation
        from exchangelib.items import SEND_TO_NONE

        _acc, item = _create(server, "Mine", [OTHER], SEND_TO_NONE)
        with pytest.raises(ErrorInvalidOperation):
            item.accept()

    await in_thread(organizer)


@pytest_twisted.ensureDeferred
async def test_save_only_answer_is_kept_not_sent_and_foreign_ids_are_not_found(meeting_server):
    server = meeting_server

    def organizer():
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        _acc, item = _create(server, "Quiet answer", [OTHER], SEND_TO_ALL_AND_SAVE_COPY)
        return item

    mine = await in_thread(organizer)

    def attendee():
        from exchangelib.errors import ErrorItemNotFound
        from exchangelib.items import SAVE_ONLY, AcceptItem
        from exchangelib.properties import ReferenceItemId

        acc = account(server, user=OTHER)
        [item] = [i for i in acc.calendar.all() if i.subject == "Quiet answer"]
        # exchangelib names a folder for SaveOnly (Exchange keeps the unsent response there).
        item.accept(message_disposition=SAVE_ONLY, folder=acc.drafts)
        foreign = AcceptItem(account=acc, reference_item_id=ReferenceItemId(id=mine.id, changekey=mine.changekey))
        with pytest.raises(ErrorItemNotFound):
            foreign.send()

    await in_thread(attendee)
    [placed] = await stored_items(server, OTHER, "calendar")
    assert "PARTSTAT=ACCEPTED" in placed.content.decode().replace("\r\n ", "")
    [own] = await stored_items(server, USER, "calendar")
    assert "PARTSTAT=NEEDS-ACTION" in own.content.decode().replace("\r\n ", "")
