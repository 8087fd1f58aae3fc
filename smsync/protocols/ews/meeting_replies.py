"""An attendee's answer to a meeting over EWS: CreateItem of ``t:AcceptItem``,
``t:TentativelyAcceptItem`` or ``t:DeclineItem`` whose ReferenceItemId is the calendar
item the invitation placed in the account's calendar.

The account's PARTSTAT is set on that item (a declined meeting leaves the calendar, as
Exchange and EAS MeetingResponse do) and, unless MessageDisposition is SaveOnly, the
iTIP REPLY goes to the organizer through the core ``Scheduler``: an organizer of this
server has it on their copy at once, a remote one gets it as iMIP mail.

An occurrence's ItemId answers that occurrence alone: the PARTSTAT is set on its
RECURRENCE-ID override (made from the master when there is none) and the REPLY names
that instance.
"""

from __future__ import annotations

from typing import Optional

from lxml import etree

from smsync.errors import InvalidData, NotFound, PreconditionFailed
from smsync.formats.bodytext import html_to_text
from smsync.formats.contentlines import Component, serialize
from smsync.protocols.ews import calendar, calendar_edit, ids, items, meeting_items, meetings
from smsync.protocols.ews.errors import INVALID_OPERATION, IRRESOLVABLE_CONFLICT, ITEM_NOT_FOUND, EWSError
from smsync.protocols.ews.soap import t
from smsync.scheduling import itip
from smsync.scheduling.scheduler import Outgoing, Plan

#: The response item tags and the PARTSTAT each files.
ANSWERS = {t("AcceptItem"): "ACCEPTED", t("TentativelyAcceptItem"): "TENTATIVE",
           t("DeclineItem"): "DECLINED", t("RemoveItem"): None}


def comment_of(node) -> Optional[str]:
    """The text the attendee wrote with the response (its Body, an HTML one as text),
    sent as the REPLY's COMMENT; None when there is none."""
    body = node.find(t("Body"))
    if body is None or not (body.text or "").strip():
        return None
    text = body.text
    if (body.get("BodyType") or "").lower() == "html":
        text = html_to_text(text)
    return text.strip()[:4000] or None


async def respond(ctx, node, disposition: str):
    """Serve one response item ``node``: the answered calendar item (its new ItemId), or
    None when declining removed it from the calendar. ``EWSError`` otherwise."""
    partstat = ANSWERS[node.tag]
    reference = node.find(t("ReferenceItemId"))
    if reference is None or not reference.get("Id"):
        raise EWSError(ITEM_NOT_FOUND, "a response names its ReferenceItemId")
    try:
        ref = ids.parse_item_id(reference.get("Id"))
    except ids.MalformedId:
        raise EWSError(ITEM_NOT_FOUND, "the ReferenceItemId names no item here") from None
    if ref.account != ctx.account:
        raise EWSError(ITEM_NOT_FOUND, "the ReferenceItemId is another account's item")
    if ref.kind != ids.ITEM or partstat is None:
        return await meeting_items.respond(ctx, node, ref, disposition)  # meeting messages, RemoveItem
    found = await items.collection_item(ctx, ref)
    stored = found.item.content
    try:
        info = itip.parse_itip(stored, method_required=False)
    except InvalidData:
        raise EWSError(INVALID_OPERATION, "the item is not a meeting") from None
    if not info.organizer or itip.same_address(info.organizer, ctx.account):
        raise EWSError(INVALID_OPERATION, "the account organizes this meeting")
    if info.attendee(ctx.account) is None:
        raise EWSError(INVALID_OPERATION, "the account does not attend this meeting")
    _name, rid = calendar.split_key(ref.key)
    if rid is not None:
        return await _respond_occurrence(ctx, ref, found, info, rid, partstat, disposition,
                                         comment_of(node))
    try:
        answer = itip.reply(stored, ctx.account, partstat, comment=comment_of(node))
        updated = itip.apply_partstat(stored, ctx.account, partstat)
    except InvalidData as e:
        raise EWSError(INVALID_OPERATION, f"the meeting cannot be answered: {e}"[:120]) from None
    created = None
    try:
        if partstat == "DECLINED":
            await found.collection.delete(ref.key, if_match=found.item.info.etag)
        else:
            new = await found.collection.put(ref.key, updated, if_match=found.item.info.etag)
            created = etree.Element(t("CalendarItem"))
            etree.SubElement(created, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(new.revision))
    except PreconditionFailed:
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed meanwhile") from None
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone") from None
    own = info.attendee(ctx.account)
    if disposition != "SaveOnly" and not (own is not None and own.rsvp is False):
        await meetings.carry_out(ctx, Plan(None, (Outgoing(itip.REPLY, answer, (info.organizer,), info.summary),)))
    return created


async def _respond_occurrence(ctx, ref, found, info, rid, partstat: str, disposition: str,
                              comment: Optional[str] = None):
    """Answer one occurrence: the PARTSTAT goes on that instance's override (made from
    the master when there is none), the series keeps the account's answer to it, and
    the REPLY names the instance (RECURRENCE-ID). A declined occurrence stays, marked
    declined, so the answer is kept with it; the answer is the occurrence's ItemId."""
    stored = found.item.content
    if calendar.occurrence(stored, rid) is None:
        raise EWSError(ITEM_NOT_FOUND, "no such occurrence")
    parsed = calendar.load(stored)
    event = calendar_edit.override(parsed, rid)
    # The override alone (with the zones its times need), for itip's functions.
    alone = Component("VCALENDAR", list(parsed.properties),
                      [c for c in parsed.components if c.name == "VTIMEZONE"] + [event])
    try:
        answered = calendar.load(itip.apply_partstat(serialize(alone), ctx.account, partstat))
        answer = itip.reply(serialize(answered), ctx.account, partstat, comment=comment)
    except InvalidData as e:
        raise EWSError(INVALID_OPERATION, f"the meeting cannot be answered: {e}"[:120]) from None
    parsed.components[parsed.components.index(event)] = calendar.master_of(answered)
    name = calendar.split_key(ref.key)[0]
    try:
        new = await found.collection.put(name, serialize(parsed), if_match=found.item.info.etag)
    except PreconditionFailed:
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed meanwhile") from None
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone") from None
    created = etree.Element(t("CalendarItem"))
    etree.SubElement(created, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(new.revision))
    own = next((a for a in itip.parse_itip(serialize(alone), method_required=False).attendees
                if itip.same_address(a.address, ctx.account)), None)
    if disposition != "SaveOnly" and not (own is not None and own.rsvp is False):
        await meetings.carry_out(ctx, Plan(None, (Outgoing(itip.REPLY, answer, (info.organizer,), info.summary),)))
    return created
