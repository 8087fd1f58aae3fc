"""The ``Scheduler`` and single occurrences of a recurring meeting (RFC 5546, RFC 6638):
an answer to one occurrence changes that instance alone on the organizer's copy, an
occurrence the organizer takes out is cancelled by itself, an attendee taking one out
declines it, and a "changed only" update goes to the attendees whose entry changed."""

from __future__ import annotations

import email
from datetime import datetime, timezone

import pytest_twisted

from smsync.formats.contentlines import parse_components, serialize
from smsync.scheduling import instances
from smsync.scheduling.itip import reply
from smsync.scheduling.messages import schedule_tag
from smsync.scheduling.scheduler import Scheduler
from tests.scheduling.scheduling_support import ALICE, BOB, CAROL, DAVE, Outbox, calendar_of, memory_store

SECOND, THIRD, FOURTH = "20270108T100000Z", "20270115T100000Z", "20270122T100000Z"


def series(attendees=(BOB, CAROL), location="Room 1", sequence=0, extra=()):
    """A weekly meeting of ALICE's, four Fridays from 2027-01-01 10:00 UTC."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:weekly",
             "DTSTAMP:20260101T000000Z", "DTSTART:20270101T100000Z", "DURATION:PT1H",
             "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:Weekly", f"LOCATION:{location}",
             f"SEQUENCE:{sequence}", f"ORGANIZER:mailto:{ALICE}", *extra]
    lines += [f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}" for a in attendees]
    return ("\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])).encode()


async def _one(store, account) -> bytes:
    calendar = await calendar_of(store, account)
    [item] = await calendar.get([i.name for i in await calendar.items()])
    return item.content


async def _store_as(store, account, old: bytes, new: bytes, scheduler, **kw):
    """``account``'s client writes ``new`` over ``old``: stored, then what it sends sent."""
    plan = await scheduler.plan_put(account, old, new, **kw)
    calendar = await calendar_of(store, account)
    item = await calendar.get_by_uid("weekly")
    await calendar.put(item.info.name, plan.content or new)
    await scheduler.carry_out(account, plan)
    return plan


def _parts(data: bytes) -> dict:
    """RECURRENCE-ID (None: master) -> that component, unfolded text."""
    [cal] = parse_components(data)
    return {c.value("RECURRENCE-ID"): c for c in cal.components if c.name == "VEVENT"}


def _partstat(comp, address):
    [prop] = [p for p in comp.get_all("ATTENDEE") if p.value.lower() == f"mailto:{address}"]
    return prop.param("PARTSTAT")


def _with_override(copy: bytes, rid: str, partstat: str, who: str = BOB) -> bytes:
    """``copy`` (an attendee's) with an override of ``rid`` in which ``who`` answers
    ``partstat``, as a CalDAV client writes it."""
    cal = instances.load(copy)
    comp = instances.override(cal, datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc))
    instances.set_partstat(comp, who, partstat)
    return serialize(cal)


async def _invited(store, scheduler, attendees=(BOB, CAROL)):
    organizer = series(attendees)
    plan = await scheduler.plan_put(ALICE, None, organizer)
    await (await calendar_of(store, ALICE)).put("weekly.ics", plan.content)
    await scheduler.carry_out(ALICE, plan)
    return plan.content


@pytest_twisted.ensureDeferred
async def test_an_answer_to_one_occurrence_changes_that_instance_alone():
    store = await memory_store()
    try:
        outbox = Outbox()
        scheduler = Scheduler(store, outbox)
        await _invited(store, scheduler)
        mine = await _one(store, ALICE)
        tag = schedule_tag(mine)

        # bob's CalDAV client accepts the second occurrence: an override in his copy.
        bobs = await _one(store, BOB)
        plan = await _store_as(store, BOB, bobs, _with_override(bobs, SECOND, "ACCEPTED"), scheduler)
        [out] = plan.outgoing
        assert out.method == "REPLY" and out.recipients == (ALICE,)
        [answered] = [c for c in parse_components(out.message)[0].components if c.name == "VEVENT"]
        assert answered.value("RECURRENCE-ID") == SECOND and _partstat(answered, BOB) == "ACCEPTED"

        parts = _parts(await _one(store, ALICE))
        assert set(parts) == {None, SECOND}
        assert _partstat(parts[None], BOB) == "NEEDS-ACTION"
        assert _partstat(parts[SECOND], BOB) == "ACCEPTED"
        assert _partstat(parts[SECOND], CAROL) == "NEEDS-ACTION"
        assert parts[SECOND].value("DTSTART") == SECOND and parts[SECOND].get("RRULE") is None
        # Filing an answer keeps the organizer's Schedule-Tag (RFC 6638 3.2.10).
        assert schedule_tag(await _one(store, ALICE)) == tag

        # A REPLY naming an occurrence the series does not have changes nothing.
        stray = reply(series().replace(
            b"RRULE:FREQ=WEEKLY;COUNT=4\r\n", b"RECURRENCE-ID:20270109T100000Z\r\n"), BOB, "DECLINED")
        before = await _one(store, ALICE)
        await scheduler.receive(ALICE, stray, sender=BOB)
        assert await _one(store, ALICE) == before

        # bob then declines the third and accepts the series: the occurrences he
        # answered apart keep their answers, the others follow the series.
        bobs = await _one(store, BOB)
        await _store_as(store, BOB, bobs, _with_override(bobs, THIRD, "DECLINED"), scheduler)
        bobs = await _one(store, BOB)
        accepted = bobs.replace(b"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob",
                                b"PARTSTAT=TENTATIVE;RSVP=TRUE:mailto:bob", 1)
        plan = await _store_as(store, BOB, bobs, accepted, scheduler)
        [out] = plan.outgoing
        assert out.message.count(b"BEGIN:VEVENT") == 1 and b"RECURRENCE-ID" not in out.message
        parts = _parts(await _one(store, ALICE))
        assert {k: _partstat(v, BOB) for k, v in parts.items()} == {
            None: "TENTATIVE", SECOND: "ACCEPTED", THIRD: "DECLINED"}
        assert all(_partstat(v, CAROL) == "NEEDS-ACTION" for v in parts.values())
        # Carol's mail was the invitation only: answers are not sent on.
        assert len(outbox.sent) == 1
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_organizer_taking_out_an_occurrence_cancels_that_instance():
    store = await memory_store()
    try:
        outbox = Outbox()
        scheduler = Scheduler(store, outbox)
        mine = await _invited(store, scheduler)
        without = mine.replace(b"SEQUENCE:0", b"SEQUENCE:1").replace(
            b"RRULE:FREQ=WEEKLY;COUNT=4\r\n", b"RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:" + THIRD.encode() + b"\r\n")
        plan = await _store_as(store, ALICE, mine, without, scheduler)
        [out] = plan.outgoing  # no REQUEST: nothing else changed
        assert out.method == "CANCEL" and set(out.recipients) == {BOB, CAROL}
        [gone] = [c for c in parse_components(out.message)[0].components if c.name == "VEVENT"]
        assert gone.value("RECURRENCE-ID") == THIRD and gone.value("STATUS") == "CANCELLED"
        assert gone.value("SEQUENCE") == "1" and gone.get("RRULE") is None

        bobs = await _one(store, BOB)
        assert b"EXDATE:" + THIRD.encode() in bobs and b"STATUS:CANCELLED" not in bobs
        [_invite, (_sender, to, mail)] = outbox.sent
        assert to == (CAROL,)
        ics = next(p.get_payload(decode=True) for p in email.message_from_bytes(mail).walk()
                   if p.get_content_type() == "text/calendar")
        assert b"METHOD:CANCEL" in ics and b"RECURRENCE-ID:" + THIRD.encode() in ics

        # Taking out another and moving the series is a change for everyone.
        moved = without.replace(b"LOCATION:Room 1", b"LOCATION:Room 2").replace(
            b"EXDATE:", b"EXDATE:" + FOURTH.encode() + b"\r\nEXDATE:")
        plan = await scheduler.plan_put(ALICE, without, moved)
        assert [o.method for o in plan.outgoing] == ["REQUEST", "CANCEL"]
        assert b"RECURRENCE-ID:" + FOURTH.encode() in plan.outgoing[1].message
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_attendee_taking_out_an_occurrence_declines_it():
    store = await memory_store()
    try:
        scheduler = Scheduler(store, Outbox())
        await _invited(store, scheduler)
        bobs = await _one(store, BOB)
        without = bobs.replace(b"RRULE:FREQ=WEEKLY;COUNT=4\r\n",
                               b"RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:" + FOURTH.encode() + b"\r\n")
        plan = await _store_as(store, BOB, bobs, without, scheduler)
        [out] = plan.outgoing
        assert out.method == "REPLY" and b"RECURRENCE-ID:" + FOURTH.encode() in out.message
        parts = _parts(await _one(store, ALICE))
        assert _partstat(parts[FOURTH], BOB) == "DECLINED" and _partstat(parts[None], BOB) == "NEEDS-ACTION"
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_changed_only_goes_to_the_attendees_whose_entry_changed():
    store = await memory_store()
    try:
        outbox = Outbox()
        scheduler = Scheduler(store, outbox)
        mine = await _invited(store, scheduler)
        added = series((BOB, CAROL, DAVE), sequence=1)
        plan = await scheduler.plan_put(ALICE, mine, added, only_changed=True)
        [out] = plan.outgoing
        assert out.method == "REQUEST" and out.recipients == (DAVE,)
        # Without "changed only", everyone gets the new attendee list.
        plan = await scheduler.plan_put(ALICE, mine, added)
        assert set(plan.outgoing[0].recipients) == {BOB, CAROL, DAVE}
        # A changed entry (a role) counts; one taken off gets its CANCEL.
        changed = series((BOB, DAVE), sequence=1).replace(
            b"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob",
            b"ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob")
        plan = await scheduler.plan_put(ALICE, mine, changed, only_changed=True)
        assert [(o.method, set(o.recipients)) for o in plan.outgoing] == [
            ("REQUEST", {BOB, DAVE}), ("CANCEL", {CAROL})]
        # A new place is for everyone, "changed only" or not.
        moved = series((BOB, CAROL, DAVE), location="Room 9", sequence=1)
        plan = await scheduler.plan_put(ALICE, mine, moved, only_changed=True)
        assert set(plan.outgoing[0].recipients) == {BOB, CAROL, DAVE}
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_request_for_one_occurrence_changes_that_instance_of_the_copy():
    store = await memory_store()
    try:
        scheduler = Scheduler(store, Outbox())
        mine = await _invited(store, scheduler)
        bobs = await _one(store, BOB)
        await _store_as(store, BOB, bobs, _with_override(bobs, SECOND, "ACCEPTED"), scheduler)

        # The same version sent again keeps bob's answer to the occurrence he answered.
        await scheduler.receive(BOB, mine.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"), sender=ALICE)
        parts = _parts(await _one(store, BOB))
        assert _partstat(parts[SECOND], BOB) == "ACCEPTED" and _partstat(parts[None], BOB) == "NEEDS-ACTION"

        # The organizer moves the third occurrence and sends that instance alone.
        moved = mine.replace(b"RRULE:FREQ=WEEKLY;COUNT=4\r\n", f"RECURRENCE-ID:{THIRD}\r\n".encode()).replace(
            b"DTSTART:20270101T100000Z", b"DTSTART:20270115T110000Z").replace(b"SEQUENCE:0", b"SEQUENCE:1")
        await scheduler.receive(BOB, moved.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"), sender=ALICE)
        parts = _parts(await _one(store, BOB))
        assert set(parts) == {None, SECOND, THIRD}
        assert parts[None].get("RRULE") is not None
        assert parts[THIRD].value("DTSTART") == "20270115T110000Z"
        assert _partstat(parts[SECOND], BOB) == "ACCEPTED"
        # An older version of that instance does not replace it.
        older = moved.replace(b"SEQUENCE:1", b"SEQUENCE:0").replace(b"T110000Z", b"T120000Z")
        await scheduler.receive(BOB, older.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"), sender=ALICE)
        assert _parts(await _one(store, BOB))[THIRD].value("DTSTART") == "20270115T110000Z"
    finally:
        await store.close()
