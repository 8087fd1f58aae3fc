"""CalDAV implicit scheduling of single occurrences of a recurring meeting: an attendee's
PUT of their copy answering one occurrence (an override) sends a REPLY for that instance
and the organizer's copy changes there alone; the organizer's PUT taking an occurrence
out (an EXDATE) cancels that instance -- the local attendee's copy excludes it, the
remote one gets an iMIP CANCEL naming it."""

from __future__ import annotations

import email

import pytest
import pytest_twisted

from dav_harness import OTHER, USER
from smsync.formats.contentlines import parse_components
from test_caldav_scheduling import REMOTE, _serve

SECOND, THIRD = "20270118T100000Z", "20270125T100000Z"


@pytest.fixture
def sched_series(tmp_path):
    yield from _serve(tmp_path, "memory:")


def _series(uid: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT", f"UID:{uid}",
        "DTSTAMP:20261201T000000Z", "DTSTART:20270111T100000Z", "DURATION:PT1H",
        "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:Weekly", "SEQUENCE:0", f"ORGANIZER:mailto:{USER}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{USER}",
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{OTHER}",
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{REMOTE}",
        "END:VEVENT", "END:VCALENDAR", ""])


def _parts(text: str) -> dict:
    [cal] = parse_components(text.encode())
    return {c.value("RECURRENCE-ID"): c for c in cal.components if c.name == "VEVENT"}


def _partstat(comp, address):
    [prop] = [p for p in comp.get_all("ATTENDEE") if p.value.lower() == f"mailto:{address}"]
    return prop.param("PARTSTAT")


@pytest_twisted.ensureDeferred
async def test_attendee_answers_one_occurrence_over_caldav(sched_series):
    sched, uid = sched_series, "weekly-1"
    put = await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", _series(uid),
                           headers={"Content-Type": "text/calendar"})
    assert put.status in (201, 204)
    [copy] = [i for i in await sched.items(OTHER, "calendar") if i.info.uid == uid]
    text = copy.content.decode()
    # bob's client accepts the second occurrence: an override of it in his copy.
    override = "\r\n".join([
        "BEGIN:VEVENT", f"UID:{uid}", f"RECURRENCE-ID:{SECOND}", "DTSTAMP:20261202T000000Z",
        f"DTSTART:{SECOND}", "DURATION:PT1H", "SUMMARY:Weekly", "SEQUENCE:0",
        f"ORGANIZER:mailto:{USER}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{USER}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{OTHER}",
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{REMOTE}", "END:VEVENT", ""])
    answered = text.replace("END:VCALENDAR", override + "END:VCALENDAR")
    put = await sched.call("PUT", f"/dav/calendars/{OTHER}/calendar/{copy.info.name}", answered,
                           user=OTHER, headers={"Content-Type": "text/calendar"})
    assert put.status in (201, 204)

    parts = _parts(await sched.event_text(USER, uid))
    assert set(parts) == {None, SECOND}
    assert _partstat(parts[None], OTHER) == "NEEDS-ACTION"
    assert _partstat(parts[SECOND], OTHER) == "ACCEPTED"
    assert _partstat(parts[SECOND], REMOTE) == "NEEDS-ACTION"
    [answer] = await sched.items(USER, "schedule-inbox")
    assert f"RECURRENCE-ID:{SECOND}".encode() in answer.content

    # alice takes the third occurrence out: that instance is cancelled, nothing else sent.
    mine = await sched.event_text(USER, uid)
    without = mine.replace("RRULE:FREQ=WEEKLY;COUNT=4\r\n", f"RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:{THIRD}\r\n")
    put = await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", without,
                           headers={"Content-Type": "text/calendar"})
    assert put.status in (201, 204)
    assert f"EXDATE:{THIRD}" in await sched.event_text(OTHER, uid)

    def cancels():
        return [ics for _sender, rcpt, ics in _calendars(sched.sink) if "METHOD:CANCEL" in ics and rcpt == REMOTE]

    async def mailed():
        return bool(cancels())

    await sched.wait_for(mailed)
    [ics] = cancels()
    assert f"RECURRENCE-ID:{THIRD}" in ics and "RRULE" not in ics


def _calendars(sink):
    for sender, rcpt, raw in sink.received:
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() == "text/calendar":
                yield sender, rcpt, part.get_payload(decode=True).decode()
