"""The ``Scheduler`` over the memory store: what an organizer's and an attendee's writes
send, local delivery into inbox and calendar, mail for the rest, and what a received
message may change."""

from __future__ import annotations

import pytest_twisted

from smsync.model import CollectionKind
from smsync.scheduling.messages import partstat_of
from smsync.scheduling.scheduler import Scheduler
from tests.scheduling.scheduling_support import ALICE, BOB, CAROL, Outbox, items, memory_store


def event(uid="m1", sequence=0, summary="Plan", bob="NEEDS-ACTION", organizer=ALICE, attendees=(BOB, CAROL)):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20260101T000000Z", "DTSTART:20270101T100000Z", "DURATION:PT1H",
             f"SUMMARY:{summary}", f"SEQUENCE:{sequence}", f"ORGANIZER:mailto:{organizer}"]
    for a in attendees:
        lines.append(f"ATTENDEE;PARTSTAT={bob if a == BOB else 'NEEDS-ACTION'}:mailto:{a}")
    return ("\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])).encode()


@pytest_twisted.ensureDeferred
async def test_organizer_request_reaches_bob_at_once_and_carol_by_mail():
    store = await memory_store(ALICE, BOB)
    try:
        outbox = Outbox()
        scheduler = Scheduler(store, outbox)
        plan = await scheduler.plan_put(ALICE, None, event())
        assert b"SCHEDULE-STATUS=1.2:mailto:bob" in plan.content
        assert b"SCHEDULE-STATUS=1.1:mailto:carol" in plan.content
        statuses = await scheduler.carry_out(ALICE, plan)
        assert statuses == {BOB: "1.2", CAROL: "1.1"}
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        assert b"SCHEDULE-STATUS" not in copy.content and b"METHOD" not in copy.content
        [message] = await items(store, BOB, CollectionKind.SCHEDULE_INBOX)
        assert b"X-SMSYNC-ITIP-METHOD:REQUEST" in message.content
        [(sender, to, mail)] = outbox.sent
        assert (sender, to) == (ALICE, (CAROL,)) and b"METHOD:REQUEST" in mail

        # Without a way to send mail, carol cannot be reached, and the copy says so.
        plan = await Scheduler(store).plan_put(ALICE, None, event("m2"))
        assert b"SCHEDULE-STATUS=5.1:mailto:carol" in plan.content
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_answers_only_change_what_they_may():
    store = await memory_store(ALICE, BOB)
    try:
        scheduler = Scheduler(store, Outbox())
        organizer_copy = event(attendees=(BOB,))
        collections = await store.collections(ALICE)
        [info] = await collections.list_collections(CollectionKind.CALENDAR)
        calendar = await collections.collection_by_id(info.id)
        await calendar.put("m1.ics", organizer_copy)
        await scheduler.carry_out(ALICE, await scheduler.plan_put(ALICE, None, organizer_copy))

        # Not significant: a re-save with an answer changed sends nothing...
        plan = await scheduler.plan_put(ALICE, organizer_copy, event(attendees=(BOB,), bob="ACCEPTED"))
        assert plan.outgoing == ()
        # ... unless the client forces it (RFC 6638 7.2), which is not kept.
        plan = await scheduler.plan_put(ALICE, organizer_copy, organizer_copy.replace(
            b"ATTENDEE;", b"ATTENDEE;SCHEDULE-FORCE-SEND=REQUEST;"))
        [out] = plan.outgoing
        assert out.recipients == (BOB,) and b"FORCE" not in plan.content + out.message

        # bob accepts: a REPLY to alice, applied to her copy.
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        accepted = copy.content.replace(b"PARTSTAT=NEEDS-ACTION", b"PARTSTAT=ACCEPTED")
        plan = await scheduler.plan_put(BOB, copy.content, accepted)
        [out] = plan.outgoing
        assert out.method == "REPLY" and out.recipients == (ALICE,)
        await scheduler.carry_out(BOB, plan)
        [mine] = await items(store, ALICE, CollectionKind.CALENDAR)
        assert partstat_of(mine.content, BOB) == "ACCEPTED"

        # An older REQUEST does not replace the copy bob has.
        await scheduler.receive(BOB, event(attendees=(BOB,), summary="Newer", sequence=2).replace(
            b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"), sender=ALICE)
        await scheduler.receive(BOB, event(attendees=(BOB,), summary="Older", sequence=1).replace(
            b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"), sender=ALICE)
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        assert b"SUMMARY:Newer" in copy.content

        # Mail claiming a CANCEL from someone who does not organize it changes nothing.
        cancel = event(attendees=(BOB,)).replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:CANCEL")
        assert not await scheduler.incoming_mail(BOB, cancel, ["mallory@evil.example"])
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        assert b"CANCELLED" not in copy.content
        assert await scheduler.incoming_mail(BOB, cancel, [ALICE])
        [copy] = await items(store, BOB, CollectionKind.CALENDAR)
        assert b"STATUS:CANCELLED" in copy.content

        # A REPLY by mail counts only for the attendee who sent it.
        declined = event(attendees=(BOB,), bob="DECLINED").replace(
            b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REPLY")
        assert not await scheduler.incoming_mail(ALICE, declined, ["mallory@evil.example"])
        [mine] = await items(store, ALICE, CollectionKind.CALENDAR)
        assert partstat_of(mine.content, BOB) == "ACCEPTED"
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_deleting_cancels_or_declines():
    store = await memory_store(ALICE, BOB)
    try:
        scheduler = Scheduler(store, Outbox())
        plan = await scheduler.plan_delete(ALICE, event())
        [out] = plan.outgoing
        assert out.method == "CANCEL" and set(out.recipients) == {BOB, CAROL}
        assert b"SEQUENCE:1" in out.message and b"STATUS:CANCELLED" in out.message
        [out] = (await scheduler.plan_delete(BOB, event())).outgoing
        assert out.method == "REPLY" and partstat_of(out.message, BOB) == "DECLINED"
        assert (await scheduler.plan_delete(BOB, event(bob="DECLINED"))).outgoing == ()
        # Removing carol from the event cancels it for her alone.
        plan = await scheduler.plan_put(ALICE, event(), event(attendees=(BOB,), sequence=1))
        methods = {o.method: o.recipients for o in plan.outgoing}
        assert methods == {"REQUEST": (BOB,), "CANCEL": (CAROL,)}
    finally:
        await store.close()
