"""Meeting invitations, updates and cancellations of EWS calendar items, through the core
``Scheduler`` CalDAV's implicit scheduling uses.

CreateItem's ``SendMeetingInvitations``, UpdateItem's ``SendMeetingInvitationsOrCancellations``
and DeleteItem's ``SendMeetingCancellations`` say whether a write of an event the account
organizes goes out: ``SendToNone`` stores without sending; the others (SendOnlyToAll,
SendToAllAndSaveCopy, SendOnlyToChanged, SendToChangedAndSaveCopy) send what the
scheduler plans -- REQUEST to the attendees on a significant change, CANCEL to those
taken off or when deleted -- local attendees at once, remote ones as iMIP mail through
the edge's submission service. The organizer's copy is the calendar item itself, so
"SaveCopy" adds nothing; "OnlyToChanged" is sent as the scheduler decides (to every
attendee of a significant change).
"""

from __future__ import annotations

from typing import Optional

from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError
from smsync.scheduling.scheduler import Plan, Scheduler

SEND_TO_NONE = "SendToNone"
MODES = frozenset({SEND_TO_NONE, "SendOnlyToAll", "SendToAllAndSaveCopy", "SendOnlyToChanged",
                   "SendToChangedAndSaveCopy"})


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
    return Scheduler(ctx.store, _sender(ctx.edge))


async def plan_put(ctx, mode: str, old: Optional[bytes], new: bytes) -> tuple[bytes, Plan]:
    """``(content to store, plan)`` of writing ``new`` over ``old`` (None: a new event)
    in ``mode``: with SendToNone, ``new`` as it is and nothing to send."""
    if mode == SEND_TO_NONE or b"ORGANIZER" not in new.upper():
        return new, Plan()
    plan = await scheduler_of(ctx).plan_put(ctx.account, old, new)
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
