"""CalDAV scheduling (RFC 6638) and iMIP (RFC 6047) with the caldav library: two local
accounts (alice organizes, bob attends), one remote attendee whose mail a test SMTP
sink captures as the smarthost, and iMIP mail coming in over LMTP."""

from __future__ import annotations

import email
import smtplib
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from dav_harness import OTHER, USER, Running, in_thread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "delivery"))

from delivery_harness import Sink  # noqa: E402

from smsync.scheduling.imip import imip_message  # noqa: E402
from smsync.scheduling.itip import reply  # noqa: E402
from smsync.scheduling.messages import partstat_of  # noqa: E402
from smsync.testing.servers import SQLITE, config_with, serving  # noqa: E402

REMOTE = "carol@remote.example"


def event(uid: str, attendees=(), organizer: str = USER, summary: str = "Planning",
          sequence: int = 0, start: str = "20270111T100000Z", partstats=None) -> str:
    partstats = partstats or {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20261201T000000Z", f"DTSTART:{start}", "DURATION:PT1H",
             f"SUMMARY:{summary}", f"SEQUENCE:{sequence}"]
    if attendees:
        lines.append(f"ORGANIZER:mailto:{organizer}")
        lines.append(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}")
        for a in attendees:
            lines.append(f"ATTENDEE;PARTSTAT={partstats.get(a, 'NEEDS-ACTION')};RSVP=TRUE:mailto:{a}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


class Scheduling(Running):
    sink: Sink

    async def wait_for(self, predicate, timeout: float = 10.0):
        for _ in range(int(timeout / 0.05)):
            if await predicate():
                return
            await deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("condition not met in time")

    async def items(self, user: str, kind: str):
        """``user``'s items of the collection of ``kind`` ("calendar", "schedule-inbox")."""
        cstore = await self.store.collections(user)
        out = []
        for info in await cstore.list_collections():
            if info.kind.value == kind:
                handle = await cstore.collection_by_id(info.id)
                out += await handle.get([i.name for i in await handle.items()])
        return out

    async def event_text(self, user: str, uid: str, kind: str = "calendar"):
        for item in await self.items(user, kind):
            if item.info.uid == uid:
                return item.content.decode()
        return None


async def start(tmp_path, uri: str):
    sink = Sink()
    sink.listen()
    config = config_with(delivery={
        "hostname": "mx.example.org", "smarthost": f"127.0.0.1:{sink.portno}",
        "queue_dir": str(tmp_path / "queue"), "retry_initial": 0.2, "retry_max": 0.4})
    running = await Scheduling.start(("caldav", "carddav", "lmtp"), uri, config=config,
                                     directory=tmp_path)
    running.sink = sink
    return running


def _serve(tmp_path, uri: str):
    gen = serving(start(tmp_path, uri))
    running = next(gen)
    try:
        yield running
    finally:
        pytest_twisted.blockon(Deferred.fromCoroutine(running.sink.stop()))
        next(gen, None)


@pytest.fixture
def sched(tmp_path):
    yield from _serve(tmp_path, "memory:")


@pytest.fixture
def sched_sqlite(tmp_path):
    yield from _serve(tmp_path, SQLITE)


def _mails(sink):
    return [(sender, rcpt, email.message_from_bytes(text)) for sender, rcpt, text in sink.received]


def _calendar_part(msg) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text/calendar part")


@pytest_twisted.ensureDeferred
async def test_principal_has_inbox_outbox_and_addresses(sched):
    def client():
        principal = sched.caldav_client(USER).principal()
        assert "mailto:" + USER in principal.calendar_user_address_set()
        inbox, outbox = principal.schedule_inbox(), principal.schedule_outbox()
        assert inbox.url != outbox.url
        assert len(inbox.get_items()) == 0
        names = [str(c.url) for c in principal.calendars()]
        assert not any("schedule-" in n for n in names), names
        return str(inbox.url)

    await in_thread(client)
    reply_ = await sched.call("OPTIONS", "/dav/")
    assert "calendar-auto-schedule" in reply_.header("dav")
    propfind = await sched.call("PROPFIND", "/dav/calendars/alice@example.org/", headers={"Depth": "1"},
                                body='<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>')
    assert b"schedule-inbox" in propfind.body and b"schedule-outbox" in propfind.body


@pytest_twisted.ensureDeferred
async def test_organizer_invites_local_and_remote_attendee(sched):
    """The spine: alice's client saves an event with bob and carol; bob's inbox and
    calendar get it at once, carol gets iMIP mail through the smarthost, and alice's
    copy says how each was reached (SCHEDULE-STATUS)."""
    await _invite(sched)


@pytest_twisted.ensureDeferred
async def test_organizer_invites_over_sqlite(sched_sqlite):
    await _invite(sched_sqlite)


async def _invite(sched):
    uid = "spine-1"

    def organizer():
        principal = sched.caldav_client(USER).principal()
        cal = principal.calendars()[0]
        cal.save_with_invites(event(uid), [OTHER, REMOTE])

    await in_thread(organizer)

    def attendee():
        principal = sched.caldav_client(OTHER).principal()
        items = list(principal.schedule_inbox().get_items())
        assert len(items) == 1 and items[0].is_invite_request()
        found = principal.calendars()[0].event_by_uid(uid)
        found.load()
        assert found.schedule_tag
        return found.data

    data = await in_thread(attendee)
    assert "ORGANIZER" in data and "SCHEDULE-STATUS" not in data and "METHOD" not in data

    own = await sched.event_text(USER, uid)
    assert "SCHEDULE-STATUS=1.2:mailto:bob@example.org" in own.replace("\r\n ", "")
    assert "SCHEDULE-STATUS=1.1:mailto:carol@remote.example" in own.replace("\r\n ", "")

    await sched.wait_for(lambda: _ready(sched.sink.received))
    [(sender, rcpt, msg)] = _mails(sched.sink)
    assert (sender, rcpt) == (USER, REMOTE)
    assert msg["Subject"] == "Invitation: Planning"
    ics = _calendar_part(msg)
    assert "METHOD:REQUEST" in ics and f"UID:{uid}" in ics and "SCHEDULE-STATUS" not in ics


async def _ready(received):
    return bool(received)


@pytest_twisted.ensureDeferred
async def test_attendee_accepts_and_the_organizer_copy_says_so(sched):
    uid = "accept-1"
    await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [OTHER]),
                     headers={"Content-Type": "text/calendar"})

    def attendee():
        principal = sched.caldav_client(OTHER).principal()
        [invite] = list(principal.schedule_inbox().get_items())
        invite.accept_invite()

    await in_thread(attendee)
    own = (await sched.event_text(USER, uid)).encode()
    assert partstat_of(own, OTHER) == "ACCEPTED"
    assert partstat_of((await sched.event_text(OTHER, uid)).encode(), OTHER) == "ACCEPTED"
    # alice's inbox has bob's REPLY, as iTIP
    [answer] = await sched.items(USER, "schedule-inbox")
    get = await sched.call("GET", f"/dav/calendars/{USER}/schedule-inbox/{answer.info.name}")
    assert b"METHOD:REPLY" in get.body


@pytest_twisted.ensureDeferred
async def test_schedule_tag_stays_through_an_answer_and_guards_writes(sched):
    uid = "tag-1"
    href = f"/dav/calendars/{USER}/calendar/{uid}.ics"
    put = await sched.call("PUT", href, event(uid, [OTHER]), headers={"Content-Type": "text/calendar"})
    assert put.status == 201 and put.header("schedule-tag")
    tag = (await sched.call("GET", href)).header("schedule-tag")
    assert tag
    # bob answers: alice's tag is unchanged (RFC 6638 3.2.10), the etag is not
    bob_href = f"/dav/calendars/{OTHER}/calendar/"
    [item] = [i for i in await sched.items(OTHER, "calendar") if i.info.uid == uid]
    accepted = item.content.decode().replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob",
                                             "PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:bob")
    answer = await sched.call("PUT", bob_href + item.info.name, accepted, user=OTHER,
                              headers={"Content-Type": "text/calendar",
                                       "If-Schedule-Tag-Match": (await sched.call(
                                           "GET", bob_href + item.info.name, user=OTHER)).header("schedule-tag")})
    assert answer.status == 204
    assert (await sched.call("GET", href)).header("schedule-tag") == tag
    assert partstat_of((await sched.event_text(USER, uid)).encode(), OTHER) == "ACCEPTED"
    # a write against a stale tag fails
    stale = await sched.call("PUT", href, event(uid, [OTHER], summary="Moved", sequence=1),
                             headers={"Content-Type": "text/calendar", "If-Schedule-Tag-Match": '"nope"'})
    assert stale.status == 412
    moved = await sched.call("PUT", href, event(uid, [OTHER], summary="Moved", sequence=1),
                             headers={"Content-Type": "text/calendar", "If-Schedule-Tag-Match": tag})
    assert moved.status == 204
    assert "SUMMARY:Moved" in await sched.event_text(OTHER, uid)
    assert (await sched.call("GET", href)).header("schedule-tag") != tag


@pytest_twisted.ensureDeferred
async def test_organizer_delete_and_removal_cancel(sched):
    uid = "cancel-1"
    href = f"/dav/calendars/{USER}/calendar/{uid}.ics"
    await sched.call("PUT", href, event(uid, [OTHER, REMOTE]), headers={"Content-Type": "text/calendar"})
    await sched.wait_for(lambda: _ready(sched.sink.received))
    # carol taken off: she gets a CANCEL, bob an update
    await sched.call("PUT", href, event(uid, [OTHER], sequence=1, summary="Smaller"),
                     headers={"Content-Type": "text/calendar"})
    await sched.wait_for(lambda: _ready(sched.sink.received[1:]))
    cancel = _mails(sched.sink)[1][2]
    assert cancel["Subject"] == "Cancelled: Smaller"
    assert "METHOD:CANCEL" in _calendar_part(cancel) and REMOTE in _calendar_part(cancel)
    assert OTHER not in _calendar_part(cancel)
    # the organizer deletes: bob's copy is cancelled
    assert (await sched.call("DELETE", href)).status == 204
    assert "STATUS:CANCELLED" in await sched.event_text(OTHER, uid)


@pytest_twisted.ensureDeferred
async def test_attendee_delete_declines(sched):
    uid = "decline-1"
    await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [OTHER]),
                     headers={"Content-Type": "text/calendar"})
    [item] = [i for i in await sched.items(OTHER, "calendar") if i.info.uid == uid]
    assert (await sched.call("DELETE", f"/dav/calendars/{OTHER}/calendar/{item.info.name}",
                             user=OTHER)).status == 204
    assert partstat_of((await sched.event_text(USER, uid)).encode(), OTHER) == "DECLINED"


@pytest_twisted.ensureDeferred
async def test_inbox_and_outbox_take_no_put(sched):
    def client():
        principal = sched.caldav_client(USER).principal()
        return str(principal.schedule_inbox().url), str(principal.schedule_outbox().url)

    inbox, outbox = await in_thread(client)
    for url in (inbox, outbox):
        path = "/" + url.split("/", 3)[3]
        put = await sched.call("PUT", path + "x.ics", event("x"), headers={"Content-Type": "text/calendar"})
        assert put.status == 403


@pytest_twisted.ensureDeferred
async def test_freebusy_through_the_outbox(sched):
    await sched.call("PUT", f"/dav/calendars/{OTHER}/calendar/busy.ics", event(
        "busy", start="20270111T140000Z"), user=OTHER, headers={"Content-Type": "text/calendar"})
    from datetime import datetime, timezone

    def client():
        principal = sched.caldav_client(USER).principal()
        return principal.freebusy_request(datetime(2027, 1, 11, tzinfo=timezone.utc),
                                          datetime(2027, 1, 12, tzinfo=timezone.utc),
                                          [f"mailto:{OTHER}", f"mailto:{REMOTE}"])

    answer = await in_thread(client)
    bob = answer[f"mailto:{OTHER}"]
    assert "20270111T140000Z/20270111T150000Z" in bob.data
    assert f"mailto:{REMOTE}" in answer["errors"]


@pytest_twisted.ensureDeferred
async def test_freebusy_only_for_the_organizer_itself(sched):
    body = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:REQUEST", "BEGIN:VFREEBUSY",
        "UID:fb", "DTSTAMP:20261201T000000Z", "DTSTART:20270111T000000Z", "DTEND:20270112T000000Z",
        f"ORGANIZER:mailto:{OTHER}", f"ATTENDEE:mailto:{OTHER}", "END:VFREEBUSY", "END:VCALENDAR", ""])
    await in_thread(lambda: sched.caldav_client(USER).principal().schedule_outbox())
    posted = await sched.call("POST", f"/dav/calendars/{USER}/schedule-outbox/", body,
                              headers={"Content-Type": "text/calendar"})
    assert posted.status == 403


def _lmtp(port: int, sender: str, rcpt: str, body: bytes):
    c = smtplib.LMTP("127.0.0.1", port)
    try:
        c.sendmail(sender, [rcpt], body)
    finally:
        c.quit()


@pytest_twisted.ensureDeferred
async def test_imip_reply_by_lmtp_updates_the_organizer_copy(sched):
    uid = "imip-reply"
    await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [REMOTE]),
                     headers={"Content-Type": "text/calendar"})
    stored = (await sched.event_text(USER, uid)).encode()
    answer = reply(stored, REMOTE, "TENTATIVE")
    mail = imip_message(answer, method="REPLY", sender=REMOTE, recipients=[USER],
                        subject="Tentative: Planning", text="maybe\n")
    # from someone else: ignored
    await in_thread(_lmtp, sched.port("lmtp"), "mallory@evil.example", USER,
                    mail.replace(f"From: {REMOTE}".encode(), b"From: mallory@evil.example"))
    assert partstat_of((await sched.event_text(USER, uid)).encode(), REMOTE) == "NEEDS-ACTION"
    await in_thread(_lmtp, sched.port("lmtp"), REMOTE, USER, mail)
    assert partstat_of((await sched.event_text(USER, uid)).encode(), REMOTE) == "TENTATIVE"
    assert len(await sched.bodies(USER)) == 2  # both mails are delivered all the same


@pytest_twisted.ensureDeferred
async def test_imip_request_by_lmtp_lands_in_inbox_and_calendar(sched):
    uid = "imip-request"
    ics = event(uid, [OTHER], organizer=REMOTE).replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
    mail = imip_message(ics.encode(), method="REQUEST", sender=REMOTE, recipients=[OTHER],
                        subject="Invitation: Planning", text="come\n")
    await in_thread(_lmtp, sched.port("lmtp"), REMOTE, OTHER, mail)
    assert await sched.event_text(OTHER, uid) is not None
    assert await sched.event_text(OTHER, uid, "schedule-inbox") is not None

    # bob accepts with his client: the REPLY goes to carol by mail
    [item] = [i for i in await sched.items(OTHER, "calendar") if i.info.uid == uid]
    accepted = item.content.decode().replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    put = await sched.call("PUT", f"/dav/calendars/{OTHER}/calendar/{item.info.name}", accepted,
                           user=OTHER, headers={"Content-Type": "text/calendar"})
    assert put.status == 204
    await sched.wait_for(lambda: _ready(sched.sink.received))
    [(sender, rcpt, msg)] = _mails(sched.sink)
    assert (sender, rcpt) == (OTHER, REMOTE) and msg["Subject"] == "Accepted: Planning"
    assert "METHOD:REPLY" in _calendar_part(msg)



@pytest_twisted.ensureDeferred
async def test_imip_cannot_rewrite_what_the_recipient_organizes(sched):
    uid = "own-event"
    await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [REMOTE]),
                     headers={"Content-Type": "text/calendar"})
    forged = event(uid, [REMOTE], summary="Forged", sequence=5).replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
    mail = imip_message(forged.encode(), method="REQUEST", sender=USER, recipients=[USER],
                        subject="Invitation: Forged", text="x\n")
    await in_thread(_lmtp, sched.port("lmtp"), USER, USER, mail)
    assert "SUMMARY:Planning" in await sched.event_text(USER, uid)


@pytest_twisted.ensureDeferred
async def test_counter_and_declinecounter_through_the_outbox(sched):
    uid = "counter-1"
    await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [OTHER, REMOTE]),
                     headers={"Content-Type": "text/calendar"})
    for user in (USER, OTHER):
        await in_thread(lambda user=user: sched.caldav_client(user).principal().schedule_outbox())
    counter = event(uid, [OTHER], start="20270111T150000Z").replace(
        "VERSION:2.0", "VERSION:2.0\r\nMETHOD:COUNTER")
    posted = await sched.call("POST", f"/dav/calendars/{OTHER}/schedule-outbox/", counter, user=OTHER,
                              headers={"Content-Type": "text/calendar"})
    assert posted.status == 200 and b"1.2;Delivered" in posted.body
    [item] = await sched.items(USER, "schedule-inbox")
    get = await sched.call("GET", f"/dav/calendars/{USER}/schedule-inbox/{item.info.name}")
    assert b"METHOD:COUNTER" in get.body and b"DTSTART:20270111T150000Z" in get.body
    # the organizer's calendar is unchanged by a proposal
    assert "DTSTART:20270111T100000Z" in await sched.event_text(USER, uid)
    decline = event(uid, [OTHER]).replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:DECLINECOUNTER")
    posted = await sched.call("POST", f"/dav/calendars/{USER}/schedule-outbox/", decline,
                              headers={"Content-Type": "text/calendar"})
    assert posted.status == 200
    assert "DECLINECOUNTER" in await sched.event_text(OTHER, uid, "schedule-inbox")
    # only the organizer declines a counter
    refused = await sched.call("POST", f"/dav/calendars/{OTHER}/schedule-outbox/", decline, user=OTHER,
                               headers={"Content-Type": "text/calendar"})
    assert refused.status == 403


@pytest_twisted.ensureDeferred
async def test_bob_organizes_with_add_attendee_and_alice_declines(sched):
    """The other way round with the library's own calls: bob adds alice's principal as
    attendee and saves; alice declines from her inbox; bob's copy says so."""
    uid = "decline-lib"

    def organizer():
        client = sched.caldav_client(OTHER)
        alice = sched.caldav_client(USER).principal()
        cal = client.principal().calendars()[0]
        ev = cal.save_event(event(uid))
        ev.add_organizer()
        ev.add_attendee(alice)
        ev.save()

    await in_thread(organizer)

    def attendee():
        principal = sched.caldav_client(USER).principal()
        [invite] = list(principal.schedule_inbox().get_items())
        invite.decline_invite()

    await in_thread(attendee)
    assert partstat_of((await sched.event_text(OTHER, uid)).encode(), USER) == "DECLINED"
    assert partstat_of((await sched.event_text(USER, uid)).encode(), USER) == "DECLINED"


@pytest_twisted.ensureDeferred
async def test_one_scheduling_object_per_uid_across_calendars(sched):
    """RFC 6638 3.2.4.1: the same meeting may not be filed in two calendars."""
    uid = "unique-1"
    await sched.call("MKCALENDAR", f"/dav/calendars/{USER}/work/")
    put = await sched.call("PUT", f"/dav/calendars/{USER}/calendar/{uid}.ics", event(uid, [OTHER]),
                           headers={"Content-Type": "text/calendar"})
    assert put.status == 201
    again = await sched.call("PUT", f"/dav/calendars/{USER}/work/{uid}.ics", event(uid, [OTHER]),
                             headers={"Content-Type": "text/calendar"})
    assert again.status == 403 and b"unique-scheduling-object-resource" in again.body
    assert f"/dav/calendars/{USER}/calendar/{uid}.ics".encode() in again.body
