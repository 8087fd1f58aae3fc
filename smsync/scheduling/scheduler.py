"""Implicit scheduling (RFC 6638) over the store, for every protocol that writes events.

A protocol asks the ``Scheduler`` what a write means before storing it (``plan_put``,
``plan_delete``): the organizer's change sends REQUEST to the attendees and CANCEL to
those taken off, an attendee's new PARTSTAT sends a REPLY to the organizer, deleting
sends CANCEL (organizer) or a declining REPLY (attendee). The ``Plan`` says what to
store (the organizer's copy gets each attendee's SCHEDULE-STATUS) and what to send;
once stored, ``carry_out`` sends it. What names single occurrences of a series
(RECURRENCE-ID) -- an answer to one, an occurrence taken out (an EXDATE), a request for
one -- is about those instances alone (``instances``).

Delivery: an address that is an account of this server gets the message at once
(``receive``): in its schedule inbox, and applied to its calendars -- a REQUEST placed
or updated in the default calendar, a CANCEL marking the event cancelled (or taking
the cancelled occurrences out of the series), a REPLY setting the attendee's PARTSTAT on
the organizer's copy (on the occurrences it names, when it names some). Any other address gets the
message as iMIP mail (RFC 6047) through ``send``, the server's submission service.
A local account also gets that iMIP mail in its INBOX (``inbox_messages``), as Exchange
gives every invitation, update, cancellation and answer: Outlook for Mac, EAS phones
and IMAP users see and answer meetings in their mail. Answering from that message
answers the calendar item delivery already placed, so nothing is applied twice.
iMIP mail coming in (``incoming_mail``) is received the same way once its sender is
seen to be who may send it.
"""

from __future__ import annotations

import uuid
from typing import Awaitable, Callable, Optional

import attrs
from twisted.logger import Logger

from smsync.errors import InvalidData, NotFound, PreconditionFailed, SmsyncError
from smsync.formats.contentlines import Property, serialize
from smsync.model import CollectionKind
from smsync.scheduling import imip, instances
from smsync.scheduling.calendar import default_calendar, find_event
from smsync.scheduling.itip import (CANCEL, COUNTER, REPLY, REQUEST, ITip, address_of,
                                    calendar_object, parse_itip, reply,
                                    same_address)
from smsync.scheduling.messages import (DELIVERED, NO_ROUTE, SENT, attendee_entries, cancelled,
                                        changed_for_all, differs_but_exdates, forced, message,
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

#: Methods whose delivery to a local account is also an iMIP mail in its INBOX (what an
#: organizer sends its attendees, and an attendee its organizer; not REFRESH, a request
#: for a REQUEST the client answers itself).
INBOX_MAIL_METHODS = frozenset({REQUEST, CANCEL, REPLY, COUNTER, DECLINECOUNTER})

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


def inbox_messages_of(config) -> bool:
    """``[scheduling] inbox_messages`` of ``config`` (a ``smsync.config.Config``; None or
    one without the section: the default, yes)."""
    return bool(getattr(getattr(config, "scheduling", None), "inbox_messages", True))


def _parse(data: Optional[bytes]) -> Optional[ITip]:
    if data is None:
        return None
    try:
        return parse_itip(data, method_required=False)
    except InvalidData:
        return None


class Scheduler:
    """Implicit scheduling over ``store`` (an ``IStore``); ``send`` carries iMIP mail
    out (None: remote attendees cannot be reached, SCHEDULE-STATUS says so);
    ``inbox_messages``: a local recipient also gets the iMIP mail in its INBOX."""

    def __init__(self, store, send: Optional[SendMail] = None, *, inbox_messages: bool = True):
        self.store = store
        self.send = send
        self.inbox_messages = inbox_messages

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

    async def plan_put(self, account: str, old: Optional[bytes], new: bytes, *,
                       only_changed: bool = False) -> Plan:
        """What storing ``new`` in place of ``old`` (None: a new object) in ``account``'s
        calendar sends. Data that is no scheduling object, or unreadable, sends nothing.

        The organizer's significant change sends REQUEST to every attendee -- with
        ``only_changed`` (EWS's SendOnlyToChanged), when what changed is the attendee
        list alone, only to the attendees added or whose entry changed; attendees taken
        off get a CANCEL, and occurrences taken out of a series (a new EXDATE) a CANCEL
        naming each instance. An attendee's new answer, to the series or to single
        occurrences, sends a REPLY naming what was answered (an occurrence they took
        out of their copy, a DECLINED one)."""
        info = _parse(new)
        if info is None:
            return Plan()
        before = _parse(old)
        organizer = info.organizer or (before.organizer if before is not None else None)
        if not organizer:
            return Plan()
        if same_address(organizer, account):
            return await self._organizer_put(account, old if before is not None else None, new, info,
                                             only_changed)
        if info.attendee(account) is not None:
            return self._attendee_change(account, old if before is not None else None, new, info,
                                         organizer)
        return Plan()

    async def _organizer_put(self, account, old, new, info: ITip, only_changed: bool = False) -> Plan:
        now = recipients(new, account)
        earlier = recipients(old, account) if old is not None else {}
        removed = [address for key, address in earlier.items() if key not in now]
        dropped, base = self._dropped(old, new)
        outgoing, content = [], None
        if base is not None:
            # Occurrences taken out: a change for everyone only if more than that changed.
            significant = differs_but_exdates(base, new)
        else:
            significant = significant_change(old, new)
        if significant and only_changed and old is not None and not changed_for_all(base or old, new):
            before, after = attendee_entries(old, account), attendee_entries(new, account)
            to = {k: v for k, v in now.items() if before.get(k) != after.get(k) or k in forced(new)}
        elif significant:
            to = now
        else:
            to = {k: v for k, v in now.items() if k in forced(new)}
        if to:
            statuses = {key: await self._status(address) for key, address in to.items()}
            # SCHEDULE-FORCE-SEND is a request for this write only: not kept.
            content = strip_force_send(set_schedule_status(new, statuses))
            outgoing.append(Outgoing(REQUEST, message(content, REQUEST), tuple(to.values()),
                                     info.summary))
        if removed:
            outgoing.append(Outgoing(CANCEL, message(old, CANCEL, only=removed), tuple(removed),
                                     info.summary))
        gone = {address.lower() for address in removed}
        for when in sorted(dropped):
            out = self._instance_cancel(account, old, new, when, gone, info.summary)
            if out is not None:
                outgoing.append(out)
        return Plan(content, tuple(outgoing))

    @staticmethod
    def _dropped(old: Optional[bytes], new: bytes) -> tuple[set, Optional[bytes]]:
        """``(instants, base)``: the occurrences of ``old``'s series that ``new`` newly
        excludes (EXDATEs added), and ``old`` with every added EXDATE applied (None when
        none was added, or the series lost one)."""
        if old is None:
            return set(), None
        try:
            before, after = instances.load(old), instances.load(new)
            if not instances.is_series(before):
                return set(), None
            added = instances.exdates(after) - instances.exdates(before)
            if not added or not instances.exdates(before) <= instances.exdates(after):
                return set(), None
            dropped = {when for when in added if instances.has_instance(before, when)}
            for when in added:
                instances.exclude(before, when)
            return dropped, serialize(before)
        except InvalidData:
            return set(), None

    @staticmethod
    def _instance_cancel(account, old: bytes, new: bytes, when: int, gone: set,
                         summary) -> Optional[Outgoing]:
        """The CANCEL of the one occurrence at ``when`` of ``old`` (RFC 5546 3.2.5): that
        instance alone, to its attendees (but those taken off the whole event, who get
        their own), with the SEQUENCE the series now has."""
        try:
            cal, comp = instances.instance_component(old, when)
            top = instances.master(instances.load(new))
            sequence = top.value("SEQUENCE") if top is not None else None
            if sequence is not None:
                comp.properties = [p for p in comp.properties if p.name != "SEQUENCE"]
                comp.properties.append(Property("SEQUENCE", sequence.strip()))
            alone = instances.only(cal, [comp])
            to = [address for key, address in recipients(alone, account).items() if key not in gone]
        except InvalidData:
            return None
        if not to:
            return None
        return Outgoing(CANCEL, message(alone, CANCEL), tuple(to), summary)

    def _attendee_change(self, account, old, new, info: ITip, organizer: str) -> Plan:
        """The REPLY an attendee's write sends: their answers that changed, per
        component (the series, single occurrences), and a DECLINED one for each
        occurrence they took out of their copy (RFC 6638 3.2.2)."""
        try:
            now = instances.answers(new, account)
            before = instances.answers(old, account) if old is not None else {}
        except InvalidData:
            return Plan()

        def earlier(when):
            if when in before:
                return before[when]
            if when is not None and None in before:
                return before[None]  # the occurrence had the series' answer
            return None if old is not None else "NEEDS-ACTION"

        changed = [when for when, partstat in now.items() if partstat != earlier(when)]
        dropped, _base = self._dropped(old, new)
        try:
            newcal = instances.load(new)
            parts = [instances.master(newcal) if when is None else instances.find_override(newcal, when)
                     for when in sorted(changed, key=lambda w: (w is not None, w or 0))]
            oldcal = instances.load(old) if old is not None else newcal
            for when in sorted(dropped):
                comp = instances.override(oldcal, instances.utc(when))
                cancelled_there = any((c.value("STATUS") or "").strip().upper() == "CANCELLED"
                                      for c in (comp, instances.master(oldcal)) if c is not None)
                if earlier(when) in (None, "DECLINED") or cancelled_there:
                    continue  # not theirs to answer, already declined, or called off
                instances.set_partstat(comp, account, "DECLINED")
                parts.append(comp)
            parts = [p for p in parts if p is not None]
            if not parts:
                return Plan()
            answer = reply(instances.only(newcal, parts, oldcal), account, None)
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
        """Deliver one ``Outgoing`` from ``account``: local recipients at once (with
        ``inbox_messages``, also as iMIP mail in their INBOX), the rest in one iMIP
        mail. The outcome per recipient, as ``carry_out``."""
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
                continue
            if self.inbox_messages and out.method in INBOX_MAIL_METHODS:
                await self._mail_to_inbox(account, target, recipient, out)
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

    async def _mail_to_inbox(self, account: str, target: str, recipient: str, out: Outgoing) -> None:
        """File the iMIP mail of ``out`` from ``account`` in ``target``'s INBOX, as the
        submission service's local delivery does (``Return-Path`` first). The calendar
        already has the message (``receive``): the mail is for reading and answering,
        and is not applied again. A failure is logged: the delivery stands."""
        try:
            body = self._mail(account, out, [recipient])
            inbox = await (await self.store.mail(target)).mailbox("INBOX")
            await inbox.append(imip.return_path(account) + body)
        except Exception:
            log.failure("scheduling: the {method} mail from {account} to {target} not filed in its INBOX",
                        method=out.method, account=account, target=target)

    def _mail(self, account: str, out: Outgoing, remote: list) -> bytes:
        title = out.summary or "(no subject)"
        info = _parse(out.message)
        if out.method == REPLY:
            partstat = partstat_of(out.message, account) or "NEEDS-ACTION"
            own = info.attendee(account) if info is not None else None
            return imip.reply_message(out.message, attendee=account, organizer=remote[0],
                                      partstat=partstat, summary=out.summary,
                                      attendee_name=own.name if own is not None else None)
        if out.method == COUNTER:
            own = info.attendee(account) if info is not None else None
            name = own.name if own is not None else None
        else:
            name = info.organizer_name if info is not None else None
        subject, text = {
            REQUEST: (f"Invitation: {title}", f"{account} invites you to: {title}\n"),
            CANCEL: (f"Cancelled: {title}", f"{account} has cancelled: {title}\n"),
            COUNTER: (f"New time proposed: {title}", f"{account} proposes a change to: {title}\n"),
            DECLINECOUNTER: (f"Proposal declined: {title}",
                             f"{account} has declined your proposal for: {title}\n"),
        }.get(out.method, (title, f"{title}\n"))
        return imip.imip_message(out.message, method=out.method, sender=account,
                                 recipients=list(remote), subject=subject, text=text,
                                 sender_name=name)

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
            await self._apply_reply(collections, account, itip_message, info, sender)
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
                if not info.has_master and stored.has_master:
                    # Single occurrences of the series: those change, the rest stays.
                    content = strip_schedule_params(calendar_object(
                        instances.merge_instances(item.content, itip_message, account)))
                    await collection.put(item.info.name, content, if_match=item.info.etag)
                    return
                if stored.sequence > info.sequence:
                    return  # an older version than the one filed
                if stored.sequence == info.sequence:
                    # The same version sent again: the attendee's answers stand.
                    content = instances.keep_answers(content, item.content, account)
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
            if info.has_master:
                content = cancelled(item.content)
            else:
                # Instances cancelled: they leave the series (RFC 5546 3.2.5).
                content = instances.cancel_instances(item.content, info.recurrence_ids, itip_message)
            await collection.put(item.info.name, content, if_match=item.info.etag)
        except (PreconditionFailed, InvalidData) as e:
            log.info("scheduling: CANCEL {uid} not applied: {why}", uid=info.uid[:60], why=e)

    async def _apply_reply(self, collections, account, itip_message: bytes, info: ITip, sender) -> None:
        found = await self._find(collections, info.uid)
        if found is None:
            return
        collection, item = found
        stored = _parse(item.content)
        if stored is None or not same_address(stored.organizer, account):
            return
        try:
            # Each answer goes to the instance it names (RFC 5546 3.2.3): an attendee
            # answering one occurrence changes that occurrence alone.
            content = instances.apply_reply(item.content, itip_message, sender)
        except InvalidData as e:
            log.info("scheduling: REPLY {uid} not applied: {why}", uid=info.uid[:60], why=e)
            return
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
