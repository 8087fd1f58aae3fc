"""MeetingResponse (MS-ASCMD 2.2.1.11): the phone accepts, tentatively accepts or
declines an invitation.

A Request names the meeting request message (CollectionId + RequestId: a mail folder
and the message's ServerId, or a Search result's LongId) or, in 16.x, the calendar item
itself (CollectionId + RequestId in a calendar folder). The iTIP REQUEST is read from
the message's ``text/calendar`` part (or the item is taken as it is stored) and the
shared scheduling core files the answer in the account's default calendar with the
account's PARTSTAT; a declined meeting leaves the calendar, as Exchange does, so the
phone shows no event it will not attend. The meeting request message then moves to
Deleted Items, as Exchange moves it.

An organizer who is an account of this server has the answer on their copy of the
event at once, through the scheduling core (as a CalDAV attendee's answer reaches it).

Who tells the organizer: in 16.x the server, by an iMIP REPLY through the edge's
``Submitter`` (this server's accounts get it in their Inbox), when the device sends
``SendResponse`` (with an optional Body, sent as the reply's comment) and the organizer
did not say RSVP=FALSE. Before 16.0 the device sends the reply itself with SendMail
(MS-ASCMD 2.2.1.11), so the server sends nothing: the organizer would get two.

InstanceId (one occurrence of a series) is read and checked, but the answer is filed
for the whole series.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.edge.outbound import SendFailed
from smsync.edge.quota import exceeded
from smsync.errors import InvalidData, NotFound, SmsyncError
from smsync.model import Role, UIDSet
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.commands.compose import _trace
from smsync.protocols.eas.convert import BASE, ConversionError, parse_eas_date
from smsync.protocols.eas.email import html_to_text
from smsync.protocols.eas.mailquery import parse_long_id
from smsync.protocols.eas.wbxml import Element
from smsync.scheduling import imip, itip
from smsync.scheduling.calendar import file_answer
from smsync.scheduling.scheduler import Scheduler

MR = "MeetingResponse:"
SEARCH = "Search:"

#: Result Status values (MS-ASCMD 2.2.3.177.9).
OK, INVALID, MAILBOX_ERROR, SERVER_ERROR = "1", "2", "3", "4"
#: UserResponse -> the PARTSTAT filed and replied.
ANSWERS = {"1": "ACCEPTED", "2": "TENTATIVE", "3": "DECLINED"}


class Refused(Exception):
    """One Request cannot be served: answered with ``status``."""

    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


@attrs.frozen
class Answer:
    """One Request of a MeetingResponse.

    Attributes:
        partstat: ACCEPTED, TENTATIVE or DECLINED.
        collection_id, request_id: the folder and ServerId named (None: not given).
        long_id: the Search result named instead.
        instance_id: the occurrence named (16.x), as the device wrote it.
        send: whether the server tells the organizer (16.x SendResponse).
        comment: the text the device asked to send with the reply.
    """

    partstat: str
    collection_id: Optional[str] = None
    request_id: Optional[str] = None
    long_id: Optional[str] = None
    instance_id: Optional[str] = None
    send: bool = False
    comment: Optional[str] = None


def _text(element: Optional[Element]) -> Optional[str]:
    return element.text if element is not None and element.text else None


def _at_least_16(version: Optional[str]) -> bool:
    try:
        return float(version or "16.1") >= 16.0
    except ValueError:
        return False


def parse_request(request: Element, version: Optional[str]) -> Answer:
    """The ``Answer`` one ``Request`` element asks for. ``Refused`` (Status 2) when it
    names no answer, no item, or a bad InstanceId."""
    partstat = ANSWERS.get(_text(request.find(MR, "UserResponse")) or "")
    if partstat is None:
        raise Refused(INVALID, "UserResponse is not 1, 2 or 3")
    long_id = _text(request.find(SEARCH, "LongId"))
    collection_id = _text(request.find(MR, "CollectionId"))
    request_id = _text(request.find(MR, "RequestId"))
    if long_id is None and request_id is None:
        raise Refused(INVALID, "no RequestId or LongId")
    instance_id = _text(request.find(MR, "InstanceId")) or _text(request.find(BASE, "InstanceId"))
    if instance_id is not None:
        try:
            parse_eas_date(instance_id)
        except ConversionError:
            raise Refused(INVALID, f"bad InstanceId {instance_id[:40]!r}") from None
    send, comment = False, None
    if _at_least_16(version):
        response = request.find(MR, "SendResponse")
        send = response is not None
        body = response.find(BASE, "Body") if response is not None else None
        if body is not None:
            data = _text(body.find(BASE, "Data"))
            kind = _text(body.find(BASE, "Type"))
            comment = html_to_text(data) if data and kind == "2" else data
    return Answer(partstat, collection_id, request_id, long_id, instance_id, send, comment)


@attrs.frozen
class Invitation:
    """The iTIP object answered and, when it came by mail, where the message is."""

    ics: bytes
    mailbox: object = None
    uid: Optional[int] = None


async def find_invitation(ctx, answer: Answer) -> Invitation:
    """The invitation ``answer`` names. ``Refused`` (Status 2) when it names nothing
    that is a meeting request: no such folder or item, a message without an iTIP
    REQUEST, an item that is no event."""
    folder, item = answer.collection_id, answer.request_id
    if answer.long_id is not None:
        found = parse_long_id(answer.long_id)
        if found is None:
            raise Refused(INVALID, f"no item {answer.long_id[:40]!r}")
        folder, item = found[0], str(found[1])
    if not folder:
        raise Refused(INVALID, "no CollectionId")
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(folder)
    except NotFound:
        box = None
    if box is not None:
        if not (item.isascii() and item.isdigit()):
            raise Refused(INVALID, f"no message {item[:40]!r}")
        uid = int(item)
        structure = (await box.structures([uid])).get(uid)
        if structure is None:
            raise Refused(INVALID, f"no message {uid}")
        ics = await imip.read_calendar(box, uid, structure)
        if ics is None:
            raise Refused(INVALID, f"message {uid} carries no invitation")
        try:
            method = itip.parse_itip(ics).method
        except InvalidData as e:
            raise Refused(INVALID, f"message {uid}: unreadable invitation: {e}") from None
        if method != itip.REQUEST:
            raise Refused(INVALID, f"message {uid} is a {method}, not a REQUEST")
        return Invitation(ics, box, uid)
    collections = await ctx.store.collections(ctx.account)
    try:
        collection = await collections.collection_by_id(folder)
    except NotFound:
        raise Refused(INVALID, f"no folder {folder[:40]!r}") from None
    items = await collection.get([item])
    if not items or b"BEGIN:VEVENT" not in items[0].content.upper():
        raise Refused(INVALID, f"no event {item[:40]!r}")
    return Invitation(items[0].content)


async def _tell_organizer(ctx, invitation: Invitation, info: itip.ITip, answer: Answer) -> None:
    """Send the iMIP REPLY; a failure is logged, not answered (the calendar has the
    answer, and the device would otherwise ask again and file it twice)."""
    own = info.attendee(ctx.account)
    try:
        reply = itip.reply(invitation.ics, ctx.account, answer.partstat, comment=answer.comment)
        message = imip.reply_message(reply, attendee=ctx.account, organizer=info.organizer,
                                     partstat=answer.partstat, summary=info.summary,
                                     attendee_name=own.name if own else None,
                                     comment=answer.comment)
        submitter = ctx.edge.outbound.submitter
        # The answer matters more than its copy: an account at its quota sends it and
        # keeps no copy in Sent (logged by the check).
        full = await exceeded(getattr(ctx.edge, "quotas", None), ctx.account, len(message),
                              "EAS MeetingResponse (its copy in Sent; sent without)")
        await submitter.send(ctx.account, ctx.account, [info.organizer], message,
                             trace=_trace(ctx), save_in_sent=full is None)
        ctx.log(f"MeetingResponse: {answer.partstat} sent to {info.organizer}")
    except (InvalidData, ValueError, SendFailed, OSError) as e:
        ctx.log(f"MeetingResponse: the reply to {info.organizer} was not sent: {e}")


async def _answer_local_organizer(ctx, invitation: Invitation, info: itip.ITip, answer: Answer) -> None:
    """An organizer of this server has the answer on their copy at once, as CalDAV
    scheduling gives it (whether the server or the device then mails the REPLY)."""
    if not info.organizer:
        return
    scheduler = Scheduler(ctx.store)
    organizer = await scheduler.local_account(info.organizer)
    if organizer is None or organizer == ctx.account:
        return
    try:
        answer_ics = itip.reply(invitation.ics, ctx.account, answer.partstat)
        await scheduler.receive(organizer, answer_ics, sender=ctx.account)
    except (InvalidData, SmsyncError) as e:
        ctx.log(f"MeetingResponse: {info.organizer}'s copy not updated: {e}")


async def _to_deleted_items(ctx, invitation: Invitation) -> None:
    if invitation.mailbox is None:
        return
    mail = await ctx.store.mail(ctx.account)
    try:
        trash = await mail.mailbox_by_role(Role.TRASH)
    except NotFound:
        return
    if trash.id == invitation.mailbox.id:
        return
    try:
        await invitation.mailbox.move(UIDSet.of([invitation.uid]), (await trash.info()).name)
    except NotFound:
        pass  # deleted meanwhile


async def respond(ctx, answer: Answer) -> Optional[str]:
    """Serve one Request: the calendar item's ServerId (None when declined).
    ``Refused`` with the Status otherwise."""
    invitation = await find_invitation(ctx, answer)
    try:
        info = itip.parse_itip(invitation.ics, method_required=False)
    except InvalidData as e:
        raise Refused(INVALID, f"unreadable invitation: {e}") from None
    if info.organizer and itip.same_address(info.organizer, ctx.account):
        raise Refused(INVALID, "the account organizes this meeting")
    if answer.instance_id is not None:
        ctx.log(f"MeetingResponse: InstanceId {answer.instance_id}: answered for the whole series")
    collections = await ctx.store.collections(ctx.account)
    try:
        answered = await file_answer(collections, invitation.ics, ctx.account, answer.partstat)
    except InvalidData as e:
        raise Refused(INVALID, f"the event cannot be filed: {e}") from None
    except NotFound as e:
        raise Refused(MAILBOX_ERROR, str(e)) from None
    own = info.attendee(ctx.account)
    await _answer_local_organizer(ctx, invitation, info, answer)
    if answer.send and info.organizer and not (own is not None and own.rsvp is False):
        await _tell_organizer(ctx, invitation, info, answer)
    await _to_deleted_items(ctx, invitation)
    ctx.log(f"MeetingResponse: {info.uid[:60]} {answer.partstat}")
    return answered.item.name if answered.item is not None else None


def _result(request: Element, status: str, calendar_id: Optional[str] = None) -> Element:
    children = []
    request_id = request.find(MR, "RequestId")
    if request_id is not None:
        children.append(Element(MR, "RequestId", (), request_id.text))
    children.append(Element(MR, "Status", (), status))
    if calendar_id is not None:
        children.append(Element(MR, "CalendarId", (), calendar_id))
    instance = request.find(MR, "InstanceId")
    if instance is not None and status == OK:
        children.append(Element(MR, "InstanceId", (), instance.text))
    return Element(MR, "Result", tuple(children))


@command("MeetingResponse", MR)
async def meeting_response(ctx, body):
    if body is None or (body.namespace, body.tag) != (MR, "MeetingResponse"):
        raise CommandError(400, "MeetingResponse needs a MeetingResponse body")
    requests = [c for c in body.children if (c.namespace, c.tag) == (MR, "Request")]
    if not requests:
        raise CommandError(400, "MeetingResponse without a Request")
    results = []
    for request in requests:
        try:
            calendar_id = await respond(ctx, parse_request(request, ctx.version))
            results.append(_result(request, OK, calendar_id))
        except Refused as e:
            ctx.log(f"MeetingResponse: Status {e.status}: {e}")
            results.append(_result(request, e.status))
        except SmsyncError as e:
            ctx.log(f"MeetingResponse: Status {SERVER_ERROR}: {e}")
            results.append(_result(request, SERVER_ERROR))
    return Element(MR, "MeetingResponse", tuple(results))
