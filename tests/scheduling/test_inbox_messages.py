"""A local recipient of a scheduling message also gets it as iMIP mail in its INBOX
(``Scheduler(inbox_messages=True)``, ``[scheduling] inbox_messages``): the organizer's
REQUEST and CANCEL in each local attendee's Inbox, an attendee's REPLY and COUNTER in
the organizer's; from the sender to that recipient, with the subject people know; a
remote attendee gets its mail through ``send`` alone; with the switch off, nothing is
mailed. Receiving a message (iMIP mail that came in, EAS's own answer) files no mail:
the mail is already there, or is sent by whoever answers."""

from __future__ import annotations

import email
from email.policy import default as default_policy

import pytest_twisted

from smsync.config import Config, parse_config, render_config
from smsync.model import CollectionKind
from smsync.scheduling.calendar import find_event
from smsync.scheduling.imip import calendar_of_message
from smsync.scheduling.messages import partstat_of
from smsync.scheduling.scheduler import Outgoing, Scheduler, inbox_messages_of
from tests.scheduling.scheduling_support import ALICE, BOB, CAROL, DAVE, Outbox, calendar_of, items, memory_store


def event(uid="m1", sequence=0, summary="Plan", bob="NEEDS-ACTION", attendees=(BOB, DAVE, CAROL)):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20260101T000000Z", "DTSTART:20270101T100000Z", "DURATION:PT1H",
             f"SUMMARY:{summary}", f"SEQUENCE:{sequence}", f"ORGANIZER;CN=Alice Organizer:mailto:{ALICE}"]
    for a in attendees:
        lines.append(f"ATTENDEE;CN={a.split('@')[0].title()};"
                     f"PARTSTAT={bob if a == BOB else 'NEEDS-ACTION'}:mailto:{a}")
    return ("\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])).encode()


async def _inbox(store, account) -> list:
    """``account``'s INBOX messages, parsed."""
    box = await (await store.mail(account)).mailbox("INBOX")
    out = []
    for uid in await box.uids():
        raw = await box.read_body(uid)
        out.append((raw, email.message_from_bytes(raw, policy=default_policy)))
    return out


async def _organize(store, scheduler, content):
    """Alice stores ``content`` and sends what it means."""
    calendar = await calendar_of(store, ALICE)
    existing = await find_event(calendar, "m1")
    old = existing.content if existing is not None else None
    plan = await scheduler.plan_put(ALICE, old, content)
    await calendar.put(existing.info.name if existing is not None else "m1.ics", plan.content or content)
    return await scheduler.carry_out(ALICE, plan)


@pytest_twisted.ensureDeferred
async def test_request_reply_cancel_are_mail_in_the_recipients_inbox():
    store = await memory_store()
    try:
        outbox = Outbox()
        scheduler = Scheduler(store, outbox)
        statuses = await _organize(store, scheduler, event())
        assert statuses == {BOB: "1.2", DAVE: "1.2", CAROL: "1.1"}

        for who in (BOB, DAVE):
            [(raw, msg)] = await _inbox(store, who)
            assert raw.startswith(f"Return-Path: <{ALICE}>\r\n".encode())
            assert msg["Subject"] == "Invitation: Plan"
            assert msg["From"].addresses[0].addr_spec == ALICE
            assert msg["From"].addresses[0].display_name == "Alice Organizer"
            assert msg["To"].addresses[0].addr_spec == who  # each their own mail
            assert msg.get_content_type() == "multipart/alternative"
            text, cal = msg.get_payload()
            assert text.get_content_type() == "text/plain" and "Plan" in text.get_content()
            assert cal.get_content_type() == "text/calendar" and cal.get_param("method") == "REQUEST"
            ics, senders = calendar_of_message(raw)
            assert b"METHOD:REQUEST" in ics and b"UID:m1" in ics and senders == (ALICE,)
            # ... and the calendar has the event, as without the mail.
            [copy] = await items(store, who, CollectionKind.CALENDAR)
            assert b"UID:m1" in copy.content
        # The remote attendee's mail goes through the relay alone.
        [(sender, to, _mail)] = outbox.sent
        assert (sender, to) == (ALICE, (CAROL,))
        assert await _inbox(store, ALICE) == []

        # Bob accepts (his calendar write): one REPLY mail in Alice's Inbox.
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        accepted = copy.content.replace(
            b"PARTSTAT=NEEDS-ACTION:mailto:bob", b"PARTSTAT=ACCEPTED:mailto:bob")
        await scheduler.carry_out(BOB, await scheduler.plan_put(BOB, copy.content, accepted))
        [(raw, msg)] = await _inbox(store, ALICE)
        assert msg["Subject"] == "Accepted: Plan"
        assert msg["From"].addresses[0].addr_spec == BOB and msg["From"].addresses[0].display_name == "Bob"
        assert msg["To"].addresses[0].addr_spec == ALICE
        ics, _senders = calendar_of_message(raw)
        assert b"METHOD:REPLY" in ics and partstat_of(ics, BOB) == "ACCEPTED"
        [mine] = await items(store, ALICE, CollectionKind.CALENDAR)
        assert partstat_of(mine.content, BOB) == "ACCEPTED"

        # A COUNTER from Dave reaches Alice as mail too.
        counter = event(attendees=(DAVE,)).replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:COUNTER")
        await scheduler.deliver(DAVE, Outgoing("COUNTER", counter, (ALICE,), "Plan"))
        subjects = [m["Subject"] for _raw, m in await _inbox(store, ALICE)]
        assert subjects == ["Accepted: Plan", "New time proposed: Plan"]

        # Alice takes Dave off, then cancels: Dave and Bob get "Cancelled:" mail.
        await _organize(store, scheduler, event(sequence=1, attendees=(BOB, CAROL)))
        subjects = [m["Subject"] for _raw, m in await _inbox(store, DAVE)]
        assert subjects == ["Invitation: Plan", "Cancelled: Plan"]
        [(raw, _msg)] = (await _inbox(store, DAVE))[1:]
        assert b"METHOD:CANCEL" in calendar_of_message(raw)[0]
        plan = await scheduler.plan_delete(ALICE, event(sequence=1, attendees=(BOB, CAROL)))
        await scheduler.carry_out(ALICE, plan)
        subjects = [m["Subject"] for _raw, m in await _inbox(store, BOB)]
        assert subjects == ["Invitation: Plan", "Invitation: Plan", "Cancelled: Plan"]
        [cancelled] = await items(store, BOB, CollectionKind.CALENDAR)
        assert b"STATUS:CANCELLED" in cancelled.content
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_switched_off_nothing_is_mailed():
    store = await memory_store()
    try:
        scheduler = Scheduler(store, Outbox(), inbox_messages=False)
        await _organize(store, scheduler, event())
        assert await _inbox(store, BOB) == []
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        [_invite] = await items(store, BOB, CollectionKind.SCHEDULE_INBOX)
        accepted = copy.content.replace(
            b"PARTSTAT=NEEDS-ACTION:mailto:bob", b"PARTSTAT=ACCEPTED:mailto:bob")
        await scheduler.carry_out(BOB, await scheduler.plan_put(BOB, copy.content, accepted))
        assert await _inbox(store, ALICE) == []
        [mine] = await items(store, ALICE, CollectionKind.CALENDAR)
        assert partstat_of(mine.content, BOB) == "ACCEPTED"
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_receiving_files_no_mail():
    """iMIP mail that came in is already in the Inbox; EAS's MeetingResponse mails its
    own REPLY: ``receive`` and ``incoming_mail`` add none."""
    store = await memory_store()
    try:
        scheduler = Scheduler(store, Outbox())
        request = event().replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST")
        assert await scheduler.incoming_mail(BOB, request, [ALICE])
        await scheduler.receive(DAVE, request, sender=ALICE)
        assert await _inbox(store, BOB) == [] and await _inbox(store, DAVE) == []
        [_copy] = await items(store, BOB, CollectionKind.CALENDAR)
    finally:
        await store.close()


def test_config_switch():
    assert Config().scheduling.inbox_messages is True
    assert inbox_messages_of(Config()) is True and inbox_messages_of(None) is True
    config = parse_config("[scheduling]\ninbox_messages = false\n")
    assert inbox_messages_of(config) is False
    assert parse_config(render_config(config)) == config
    assert "[scheduling]" not in render_config(Config())
