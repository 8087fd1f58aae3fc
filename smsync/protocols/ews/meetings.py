"""Meeting invitations, updates and cancellations of EWS calendar items, through the core
``Scheduler`` CalDAV's implicit scheduling uses.

CreateItem's ``SendMeetingInvitations``, UpdateItem's ``SendMeetingInvitationsOrCancellations``
and DeleteItem's ``SendMeetingCancellations`` say whether a write of an event the account
organizes goes out: ``SendToNone`` stores without sending; the others (SendOnlyToAll,
SendToAllAndSaveCopy, SendOnlyToChanged, SendToChangedAndSaveCopy) send what the
scheduler plans -- REQUEST to the attendees on a significant change, CANCEL to those
taken off or when deleted -- local attendees at once, remote ones as iMIP mail through
the edge's submission service. The organizer's copy is the calendar item itself, so
"SaveCopy" adds nothing. "ToChanged" sends a change of the attendee list alone only to
the attendees added or whose entry changed (those taken off get their CANCEL); a change
of times, place, text or recurrence still goes to every attendee.

Deleting one occurrence of a series (``delete_occurrence``) excludes it (an EXDATE): the
organizer's attendees get a CANCEL naming that instance, and an attendee's organizer a
REPLY declining it.
"""

from __future__ import annotations

from typing import Optional

from smsync.errors import InvalidData, NotFound, PreconditionFailed
from smsync.protocols.ews import calendar, calendar_edit, contacts
from smsync.protocols.ews.errors import IRRESOLVABLE_CONFLICT, ITEM_NOT_FOUND, SCHEMA_VALIDATION, EWSError
from smsync.scheduling import instances, itip
from smsync.scheduling.scheduler import Plan, Scheduler, inbox_messages_of

SEND_TO_NONE = "SendToNone"
TO_CHANGED = frozenset({"SendOnlyToChanged", "SendToChangedAndSaveCopy"})
MODES = frozenset({SEND_TO_NONE, "SendOnlyToAll", "SendToAllAndSaveCopy"}) | TO_CHANGED


def mode_of(request, attribute: str) -> str:
    """The send mode ``request`` names in ``attribute`` (SendToNone when absent, as
    Exchange takes a save without it)."""
    mode = request.get(attribute) or SEND_TO_NONE
    if mode not in MODES:
        raise EWSError(SCHEMA_VALIDATION, f"{attribute} {mode[:30]!r}")
    return mode


def _sender(edge):
    """iMIP mail out through the edge's submission service (None: no relay queue)."""
    try:
        submitter = edge.outbound.submitter
    except (ValueError, AttributeError):
        return None

    async def send(account, recipients, body):
        await submitter.send(account, account, list(recipients), body, save_in_sent=False)

    return send


def scheduler_of(ctx) -> Scheduler:
    """A ``Scheduler`` over the request's store, sending through its edge (it keeps no
    state of its own: one per call is as good as one per server)."""
    return Scheduler(ctx.store, _sender(ctx.edge),
                     inbox_messages=inbox_messages_of(getattr(ctx.edge, "config", None)))


async def plan_put(ctx, mode: str, old: Optional[bytes], new: bytes) -> tuple[bytes, Plan]:
    """``(content to store, plan)`` of writing ``new`` over ``old`` (None: a new event)
    in ``mode``: with SendToNone, ``new`` as it is and nothing to send."""
    if mode == SEND_TO_NONE or b"ORGANIZER" not in new.upper():
        return new, Plan()
    plan = await scheduler_of(ctx).plan_put(ctx.account, old, new, only_changed=mode in TO_CHANGED)
    return (plan.content if plan.content is not None else new), plan


async def plan_delete(ctx, mode: str, old: bytes) -> Plan:
    """What deleting ``old`` in ``mode`` sends (nothing with SendToNone)."""
    if mode == SEND_TO_NONE:
        return Plan()
    return await scheduler_of(ctx).plan_delete(ctx.account, old)


async def carry_out(ctx, plan: Plan) -> None:
    """Send ``plan``'s messages, once what they are about is stored."""
    if not plan.outgoing:
        return
    statuses = await scheduler_of(ctx).carry_out(ctx.account, plan)
    methods = ",".join(sorted({out.method for out in plan.outgoing}))
    await ctx.note(f"meeting {methods} to {len(statuses)} attendee(s)")


async def delete_occurrence(ctx, mode: str, found, name: str, recurrence_id) -> None:
    """Delete the occurrence at ``recurrence_id`` of the series ``found`` (stored as
    ``name``): excluded from the series, which stays, and -- unless ``mode`` is
    SendToNone -- the instance cancelled to the attendees of a meeting the account
    organizes, or declined to the organizer of one it attends."""
    stored = found.item.content
    parsed = calendar.load(stored)
    try:
        attending = _attends(stored, ctx.account)
    except InvalidData:
        attending = False
    if attending:
        # The attendee's copy keeps the organizer's SEQUENCE: only they change it.
        instances.exclude(parsed, int(recurrence_id.timestamp()))
    else:
        calendar_edit.exclude(parsed, recurrence_id)
    content, plan = await plan_put(ctx, mode, stored, contacts.serialize(parsed))
    try:
        await found.collection.put(name, content, if_match=found.item.info.etag)
    except PreconditionFailed:
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed meanwhile") from None
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone") from None
    await carry_out(ctx, plan)


def _attends(stored: bytes, account: str) -> bool:
    """Whether ``stored`` is a meeting ``account`` attends, organized by someone else."""
    if b"ORGANIZER" not in stored.upper():
        return False
    info = itip.parse_itip(stored, method_required=False)
    return bool(info.organizer) and not itip.same_address(info.organizer, account)
