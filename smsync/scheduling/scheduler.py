"""Implicit scheduling (RFC 6638) over the store, for every protocol that writes events.

A protocol asks the ``Scheduler`` what a write means before storing it (``plan_put``,
``plan_delete``): the organizer's change sends REQUEST to the attendees and CANCEL to
those taken off, an attendee's new PARTSTAT sends a REPLY to the organizer, deleting
sends CANCEL (organizer) or a declining REPLY (attendee). The ``Plan`` says what to
store (the organizer's copy gets each attendee's SCHEDULE-STATUS) and what to send;
once stored, ``carry_out`` sends it.

Delivery: an address that is an account of this server gets the message at once
(``receive``): in its schedule inbox, and applied to its calendars -- a REQUEST placed
or updated in the default calendar, a CANCEL marking the event cancelled, a REPLY
setting the attendee's PARTSTAT on the organizer's copy. Any other address gets the
message as iMIP mail (RFC 6047) through ``send``, the server's submission service.
iMIP mail coming in (``incoming_mail``) is received the same way once its sender is
seen to be who may send it.
"""

from __future__ import annotations

import uuid
from typing import Awaitable, Callable, Optional

import attrs
from twisted.logger import Logger

from smsync.errors import InvalidData, NotFound, PreconditionFailed, SmsyncError
from smsync.model import CollectionKind
from smsync.scheduling import imip
from smsync.scheduling.calendar import default_calendar, find_event
from smsync.scheduling.itip import (CANCEL, COUNTER, REPLY, REQUEST, ITip, address_of,
                                    apply_partstat, calendar_object, parse_itip, reply,
                                    same_address)
from smsync.scheduling.messages import (DELIVERED, NO_ROUTE, SENT, cancelled, forced, message,
                                        partstat_of, recipients, set_schedule_status,
                                        significant_change, strip_force_send,
                                        strip_schedule_params, to_inbox)

log = Logger(namespace="smsync.scheduling")

DECLINECOUNTER = "DECLINECOUNTER"
#: Methods a schedule inbox takes (RFC 5546 1.4; PUBLISH and ADD are not scheduling).
INBOX_METHODS = frozenset({REQUEST, REPLY, CANCEL, COUNTER, DECLINECOUNTER, "REFRESH"})

#: Names the scheduling mailboxes are made with (another name is taken if a collection
#: of the account already has it).
INBOX_NAME = "schedule-inbox"
OUTBOX_NAME = "schedule-outbox"

#: ``send(account, recipients, message)``: hand an RFC 5322 message from ``account`` to
#: the submission service for ``recipients`` (none of them an account here).
SendMail = Callable[[str, list, bytes], Awaitable]

#: Collections an invitation may be found in, or filed into.
_CALENDAR_KINDS = (CollectionKind.CALENDAR, CollectionKind.TASKS)


@attrs.frozen
class Outgoing:
    """One iTIP message to send: ``method``, the iCalendar ``message``, its
    ``recipients`` (calendar user addresses without ``mailto:``), the event's
    ``summary`` for the mail's subject."""

    method: str
    message: bytes
    recipients: tuple
    summary: Optional[str] = None


@attrs.frozen
class Plan:
    """What a write means: ``content`` to store instead of what the client sent (None:
    as sent) and the messages to send once stored."""

    content: Optional[bytes] = None
    outgoing: tuple = ()


async def mailbox(collections, kind: CollectionKind):
    """The account's scheduling mailbox of ``kind`` (``SCHEDULE_INBOX`` or
    ``SCHEDULE_OUTBOX``), made when missing."""
    found = await collections.list_collections(kind)
    if found:
        return await collections.collection_by_id(found[0].id)
    base = INBOX_NAME if kind is CollectionKind.SCHEDULE_INBOX else OUTBOX_NAME
    taken = {info.name for info in await collections.list_collections()}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    try:
        info = await collections.create_collection(name, kind)
    except SmsyncError:
        # Made meanwhile by another request.
        found = await collections.list_collections(kind)
        if not found:
            raise
        info = found[0]
    return await collections.collection_by_id(info.id)


def _parse(data: Optional[bytes]) -> Optional[ITip]:
    if data is None:
        return None
    try:
        return parse_itip(data, method_required=False)
    except InvalidData:
        return None


class Scheduler:
    """Implicit scheduling over ``store`` (an ``IStore``); ``send`` carries iMIP mail
    out (None: remote attendees cannot be reached, SCHEDULE-STATUS says so)."""

    def __init__(self, store, send: Optional[SendMail] = None):
        self.store = store
        self.send = send

    async def local_account(self, address: str) -> Optional[str]:
        """The account of this server whose calendar user address ``address`` is
        (``mailto:`` dropped, case ignored), or None."""
        candidate = address_of(address).lower()
        if "@" not in candidate:
            return None
        if await self.store.accounts.password_hash(candidate) is not None:
            return candidate
        return None

    async def _status(self, address: str) -> str:
        if await self.local_account(address) is not None:
            return DELIVERED
        return SENT if self.send is not None else NO_ROUTE

    # --- what a write means

    async def plan_put(self, account: str, old: Optional[bytes], new: bytes) -> Plan:
        """What storing ``new`` in place of ``old`` (None: a new object) in ``account``'s
        calendar sends. Data that is no scheduling object, or unreadable, sends nothing."""
        info = _parse(new)
        if info is None:
            return Plan()
        before = _parse(old)
        organizer = info.organizer or (before.organizer if before is not None else None)
        if not organizer:
            return Plan()
        if same_address(organizer, account):
            return await self._organizer_put(account, old if before is not None else None, new, info)
        if info.attendee(account) is not None:
            return self._attendee_change(account, old if before is not None else None, new, info,
                                         organizer)
        return Plan()

    async def _organizer_put(self, account, old, new, info: ITip) -> Plan:
        now = recipients(new, account)
        earlier = recipients(old, account) if old is not None else {}
        removed = [address for key, address in earlier.items() if key not in now]
        outgoing, content = [], None
        to = now if significant_change(old, new) else {k: v for k, v in now.items() if k in forced(new)}
        if to:
            statuses = {key: await self._status(address) for key, address in to.items()}
            # SCHEDULE-FORCE-SEND is a request for this write only: not kept.
            content = strip_force_send(set_schedule_status(new, statuses))
            outgoing.append(Outgoing(REQUEST, message(content, REQUEST), tuple(to.values()),
                                     info.summary))
        if removed:
            outgoing.append(Outgoing(CANCEL, message(old, CANCEL, only=removed), tuple(removed),
                                     info.summary))
        return Plan(content, tuple(outgoing))

    def _attendee_change(self, account, old, new, info: ITip, organizer: str) -> Plan:
        own = partstat_of(new, account)
        earlier = partstat_of(old, account) if old is not None else None
        if own is None or own == earlier or (old is None and own == "NEEDS-ACTION"):
            return Plan()
        try:
            answer = reply(new, account, own)
        except InvalidData:
            return Plan()  # e.g. no ORGANIZER left in the new version to reply to
        return Plan(None, (Outgoing(REPLY, answer, (organizer,), info.summary),))

    async def plan_delete(self, account: str, old: bytes) -> Plan:
        """What deleting ``old`` from ``account``'s calendar sends: CANCEL to the
        attendees when the account organizes it, a DECLINED reply when it attends."""
        info = _parse(old)
        if info is None or not info.organizer:
            return Plan()
        if same_address(info.organizer, account):
            to = recipients(old, account)
            if not to:
                return Plan()
            return Plan(None, (Outgoing(CANCEL, message(old, CANCEL, bump_sequence=True),
                                        tuple(to.values()), info.summary),))
        own = partstat_of(old, account)
        if own is None or own == "DECLINED" or b"STATUS:CANCELLED" in old.upper():
            return Plan()
        answer = reply(old, account, "DECLINED")
        return Plan(None, (Outgoing(REPLY, answer, (info.organizer,), info.summary),))

    # --- sending

    async def carry_out(self, account: str, plan: Plan) -> dict:
        """Send what ``plan`` says, from ``account``. Fires with the outcome per
        recipient (lower-cased address -> SCHEDULE-STATUS code); never fails: what
        could not be delivered is logged and reported."""
        statuses: dict[str, str] = {}
        for out in plan.outgoing:
            statuses.update(await self.deliver(account, out))
        return statuses

    async def deliver(self, account: str, out: Outgoing) -> dict:
        """Deliver one ``Outgoing`` from ``account``: local recipients at once, the rest
        in one iMIP mail. The outcome per recipient, as ``carry_out``."""
        statuses: dict[str, str] = {}
        remote = []
        for recipient in out.recipients:
            target = await self.local_account(recipient)
            if target == account:
                continue
            if target is None:
                remote.append(recipient)
                continue
            try:
                await self.receive(target, out.message, sender=account)
                statuses[recipient.lower()] = DELIVERED
            except SmsyncError as e:
                log.warn("scheduling: {method} from {account} to {target} not delivered: {why}",
                         method=out.method, account=account, target=target, why=e)
                statuses[recipient.lower()] = NO_ROUTE
        if remote:
            code = NO_ROUTE
            if self.send is not None:
                try:
                    await self.send(account, remote, self._mail(account, out, remote))
                    code = SENT
                except Exception:
                    log.failure("scheduling: {method} from {account} to {to} not sent",
                                method=out.method, account=account, to=", ".join(remote))
            statuses.update({r.lower(): code for r in remote})
        return statuses

    def _mail(self, account: str, out: Outgoing, remote: list) -> bytes:
        title = out.summary or "(no subject)"
        if out.method == REPLY:
            partstat = partstat_of(out.message, account) or "NEEDS-ACTION"
            return imip.reply_message(out.message, attendee=account, organizer=remote[0],
                                      partstat=partstat, summary=out.summary)
        subject, text = {
            REQUEST: (f"Invitation: {title}", f"{account} invites you to: {title}\n"),
            CANCEL: (f"Cancelled: {title}", f"{account} has cancelled: {title}\n"),
            COUNTER: (f"New time proposed: {title}", f"{account} proposes a change to: {title}\n"),
            DECLINECOUNTER: (f"Proposal declined: {title}",
                             f"{account} has declined your proposal for: {title}\n"),
        }.get(out.method, (title, f"{title}\n"))
        return imip.imip_message(out.message, method=out.method, sender=account,
                                 recipients=list(remote), subject=subject, text=text)

    # --- receiving

    async def receive(self, account: str, itip_message: bytes, sender: Optional[str]) -> None:
        """``account`` (of this server) gets ``itip_message`` from ``sender``: filed in
        its schedule inbox and applied to its calendars (REQUEST placed or updated in
        the default calendar; CANCEL marks the event cancelled; a REPLY from an attendee
        sets their PARTSTAT on the organizer's copy).

        Raises:
            InvalidData: the message is unreadable or has no METHOD.
        """
        info = parse_itip(itip_message)
        collections = await self.store.collections(account)
        if info.method in (REQUEST, CANCEL) and same_address(info.organizer, account):
            # Nobody sends an organizer their own event: such a message (mail claiming
            # to be from them) changes nothing of what they organize.
            log.info("scheduling: {method} {uid} to its own organizer {account}: not applied",
                     method=info.method, uid=info.uid[:60], account=account)
        elif info.method == REQUEST:
            await self._apply_request(collections, account, itip_message, info)
        elif info.method == CANCEL:
            await self._apply_cancel(collections, itip_message, info, sender)
        elif info.method == REPLY:
            await self._apply_reply(collections, account, info, sender)
        if info.method in INBOX_METHODS:
            await self._file_in_inbox(collections, itip_message, info)

    async def _find(self, collections, uid: str):
        for kind in _CALENDAR_KINDS:
            for entry in await collections.list_collections(kind):
                collection = await collections.collection_by_id(entry.id)
                item = await find_event(collection, uid)
                if item is not None:
                    return collection, item
        return None

    async def _file_in_inbox(self, collections, itip_message: bytes, info: ITip) -> None:
        try:
            inbox = await mailbox(collections, CollectionKind.SCHEDULE_INBOX)
            content = to_inbox(strip_schedule_params(itip_message))
            existing = await find_event(inbox, info.uid)
            if existing is not None:
                await inbox.put(existing.info.name, content)
            else:
                await inbox.put(f"{uuid.uuid4().hex}.ics", content, if_none_match=True)
        except SmsyncError as e:
            # The calendar has what matters; a message the store will not keep as it
            # came (a REPLY without DTSTART, say) is only missing from the inbox.
            log.info("scheduling: {method} {uid} not filed in the inbox of {account}: {why}",
                     method=info.method, uid=info.uid[:60], account=collections.account, why=e)

    async def _apply_request(self, collections, account, itip_message, info: ITip) -> None:
        content = strip_schedule_params(calendar_object(itip_message))
        found = await self._find(collections, info.uid)
        try:
            if found is None:
                calendar = await default_calendar(collections)
                await calendar.put(f"{uuid.uuid4().hex}.ics", content, if_none_match=True)
                return
            collection, item = found
            stored = _parse(item.content)
            if stored is not None:
                if stored.organizer and info.organizer and not same_address(stored.organizer, info.organizer):
                    log.info("scheduling: REQUEST {uid} for {account} from another organizer: ignored",
                             uid=info.uid[:60], account=account)
                    return
                if stored.sequence > info.sequence:
                    return  # an older version than the one filed
                own = partstat_of(item.content, account)
                if stored.sequence == info.sequence and own and own != "NEEDS-ACTION":
                    # The same version sent again: the attendee's answer stands.
                    content = apply_partstat(content, account, own)
            await collection.put(item.info.name, content, if_match=item.info.etag)
        except PreconditionFailed:
            log.info("scheduling: REQUEST {uid} for {account} raced a change: not filed",
                     uid=info.uid[:60], account=account)

    async def _apply_cancel(self, collections, itip_message, info: ITip, sender) -> None:
        found = await self._find(collections, info.uid)
        if found is None:
            return
        collection, item = found
        stored = _parse(item.content)
        organizer = stored.organizer if stored is not None else None
        if not organizer or (sender is not None and not same_address(organizer, sender)):
            return
        try:
            await collection.put(item.info.name, cancelled(item.content, info.recurrence_ids),
                                 if_match=item.info.etag)
        except (PreconditionFailed, InvalidData) as e:
            log.info("scheduling: CANCEL {uid} not applied: {why}", uid=info.uid[:60], why=e)

    async def _apply_reply(self, collections, account, info: ITip, sender) -> None:
        found = await self._find(collections, info.uid)
        if found is None:
            return
        collection, item = found
        stored = _parse(item.content)
        if stored is None or not same_address(stored.organizer, account):
            return
        content = item.content
        for attendee in info.attendees:
            if sender is not None and not same_address(attendee.address, sender):
                continue  # only an attendee answers for themselves
            try:
                content = apply_partstat(content, attendee.address, attendee.partstat)
            except InvalidData:
                continue
        if content == item.content:
            return
        try:
            await collection.put(item.info.name, content, if_match=item.info.etag)
        except PreconditionFailed:
            log.info("scheduling: REPLY {uid} raced a change of the organizer's copy",
                     uid=info.uid[:60])

    async def incoming_mail(self, account: str, ics: bytes, senders) -> bool:
        """Apply the iTIP object ``ics`` of a mail delivered to ``account`` (iMIP,
        RFC 6047). ``senders``: the addresses the mail came from (envelope sender,
        From). A REPLY counts only for an attendee among them and a CANCEL only from the
        organizer (RFC 6047 3: the sender is who may send it). True when applied."""
        try:
            info = parse_itip(ics)
        except InvalidData:
            return False
        if info.method not in INBOX_METHODS:
            return False
        senders = [address_of(s) for s in senders if s and address_of(s)]
        sender = None
        if info.method == REPLY:
            sender = next((s for s in senders if info.attendee(s) is not None), None)
            if sender is None:
                log.info("iMIP: REPLY {uid} to {account} not from its attendee: ignored",
                         uid=info.uid[:60], account=account)
                return False
        elif info.method in (CANCEL, REQUEST):
            sender = next((s for s in senders if same_address(info.organizer, s)), None)
            if sender is None and info.method == CANCEL:
                log.info("iMIP: CANCEL {uid} to {account} not from its organizer: ignored",
                         uid=info.uid[:60], account=account)
                return False
        try:
            await self.receive(account, ics, sender)
        except (InvalidData, NotFound) as e:
            log.info("iMIP: {method} {uid} for {account} not applied: {why}", method=info.method,
                     uid=info.uid[:60], account=account, why=e)
            return False
        return True
