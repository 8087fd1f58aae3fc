"""Meeting requests, cancellations and responses in mail folders (MS-OXWSMTGS).

A stored mail carrying an iTIP object (iMIP, RFC 6047: a ``text/calendar`` part whose
METHOD is REQUEST, CANCEL, REPLY or COUNTER, for a VEVENT) is served as Exchange serves
its meeting messages: ``t:MeetingRequest`` (IPM.Schedule.Meeting.Request),
``t:MeetingCancellation`` (IPM.Schedule.Meeting.Canceled) or ``t:MeetingResponse``
(IPM.Schedule.Meeting.Resp.Pos/Tent/Neg by the answer; a COUNTER is a tentative answer
with its ProposedStart and ProposedEnd). The message fields are ``messages``'s; the
meeting fields are added after them, in the schema's order, and the event's fields are
``calendar``'s rendering of the iTIP object. Anything unreadable (no METHOD, a VTODO, a
broken part) leaves the mail a ``t:Message``.

Detection is cheap: the stored structure says whether a message has a
``text/calendar`` part at all (no I/O for other mail); only those parts' bytes are read,
in one ranged read per folder. The account's calendar item of the same UID -- which
delivery placed there (``Scheduler.incoming_mail``) -- is the AssociatedCalendarItemId.

Answering a request (AcceptItem, TentativelyAcceptItem, DeclineItem naming the message;
``meeting_replies`` dispatches here) answers that calendar item as ``meeting_replies``
does, storing the request's event in the default calendar first when the account has
none, and then moves the request to Deleted Items, as Exchange does. RemoveItem naming
a cancellation removes the cancelled event from the calendar (and the message to
Deleted Items).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.errors import InvalidData, NotFound, PreconditionFailed, SmsyncError
from smsync.formats.icaltime import prop_time, zones_of
from smsync.model import CollectionKind, Role, UIDSet
from smsync.protocols.ews import calendar, extended_store, ids, items, meeting_replies, shapes
from smsync.protocols.ews.errors import INVALID_OPERATION, EWSError
from smsync.protocols.ews.messages import ews_date
from smsync.protocols.ews.soap import t
from smsync.protocols.ews.subscriptions import note_transfer
from smsync.scheduling import imip, itip
from smsync.scheduling.calendar import default_calendar
from smsync.scheduling.messages import strip_schedule_params
from smsync.sync.reads import read_ranges

REQUEST, CANCEL, REPLY, COUNTER = itip.REQUEST, itip.CANCEL, itip.REPLY, itip.COUNTER
#: The CreateItem response object removing a cancelled meeting from the calendar.
REMOVE = t("RemoveItem")

#: A PARTSTAT as an EWS ResponseType.
RESPONSE_TYPES = {"ACCEPTED": "Accept", "TENTATIVE": "Tentative", "DECLINED": "Decline",
                  "NEEDS-ACTION": "NoResponseReceived"}
#: A MeetingResponse's ItemClass by its ResponseType.
RESPONSE_CLASSES = {"Accept": "IPM.Schedule.Meeting.Resp.Pos", "Decline": "IPM.Schedule.Meeting.Resp.Neg"}
TENTATIVE_CLASS = "IPM.Schedule.Meeting.Resp.Tent"

#: Meeting fields in the Default shape (beside the message's and the event's defaults).
DEFAULT_FIELDS = frozenset({
    "meeting:AssociatedCalendarItemId", "meeting:ResponseType", "meetingRequest:MeetingRequestType",
    "meeting:ProposedStart", "meeting:ProposedEnd",
})
#: The event's fields each kind carries, in the schema's order (MS-OXWSMTGS
#: MeetingRequestMessageType, MeetingCancellationMessageType, MeetingResponseMessageType),
#: taken from ``calendar``'s rendering of the event.
REQUEST_EVENT_FIELDS = ("Start", "End", "OriginalStart", "IsAllDayEvent", "LegacyFreeBusyStatus", "Location",
                        "When", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
                        "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees",
                        "OptionalAttendees", "Resources", "AppointmentSequenceNumber", "AppointmentState",
                        "Recurrence")
OTHER_EVENT_FIELDS = ("Start", "End", "Location", "Recurrence", "CalendarItemType")
#: What the calendar rendering is asked for: the event's fields alone.
_EVENT_URIS = frozenset({"calendar:Start", "calendar:End", "calendar:IsAllDayEvent", "calendar:LegacyFreeBusyStatus",
                         "calendar:Location", "calendar:IsRecurring", "calendar:CalendarItemType",
                         "calendar:Organizer", "calendar:RequiredAttendees", "calendar:OptionalAttendees",
                         "calendar:Resources", "calendar:Recurrence", "calendar:UID",
                         "calendar:RecurrenceId", "calendar:OriginalStart"})


@attrs.frozen
class Associated:
    """The account's calendar item of the meeting's UID: its id, revision and content."""

    ref: ids.ItemRef
    revision: int
    etag: str
    content: bytes


@attrs.frozen
class Meeting:
    """What a meeting message says: its METHOD, the decoded iTIP object, what it reads
    as (``itip.ITip``), the account it was delivered to and the associated calendar item
    (None: the account's calendars have none of that UID)."""

    method: str
    ics: bytes
    info: itip.ITip
    account: str
    associated: Optional[Associated] = None

    @property
    def tag(self) -> str:
        return {REQUEST: "MeetingRequest", CANCEL: "MeetingCancellation"}.get(self.method, "MeetingResponse")

    @property
    def response_type(self) -> str:
        """The ResponseType: a response's answer; for a request or cancellation the
        account's own (as its calendar item records it, else the request)."""
        if self.method in (REPLY, COUNTER):
            partstat = self.info.attendees[0].partstat if self.info.attendees else "TENTATIVE"
            if self.method == COUNTER and partstat == "NEEDS-ACTION":
                partstat = "TENTATIVE"  # Exchange files a new time proposal as a tentative answer
            return RESPONSE_TYPES.get(partstat, "Unknown")
        if itip.same_address(self.info.organizer, self.account):
            return "Organizer"
        source = self.info
        if self.associated is not None:
            try:
                source = itip.parse_itip(self.associated.content, method_required=False)
            except InvalidData:
                pass
        own = source.attendee(self.account)
        return RESPONSE_TYPES.get(own.partstat, "Unknown") if own is not None else "Unknown"

    @property
    def item_class(self) -> str:
        if self.method == REQUEST:
            return "IPM.Schedule.Meeting.Request"
        if self.method == CANCEL:
            return "IPM.Schedule.Meeting.Canceled"
        return RESPONSE_CLASSES.get(self.response_type, TENTATIVE_CLASS)

    @property
    def out_of_date(self) -> bool:
        """Whether the calendar holds a newer version than this message (a higher
        SEQUENCE: an update came after it) or, for a request, the meeting was cancelled
        since (applying a CANCEL marks the event, its SEQUENCE may stay)."""
        if self.associated is None or self.method not in (REQUEST, CANCEL):
            return False
        try:
            stored = itip.parse_itip(self.associated.content, method_required=False)
            status = (calendar.master_of(calendar.load(self.associated.content)).value("STATUS") or "")
        except (InvalidData, EWSError, SmsyncError):
            return False
        if self.method == REQUEST and status.strip().upper() == "CANCELLED":
            return True
        return stored.sequence > self.info.sequence

    def dress(self, node, shape: shapes.Shape) -> None:
        """Make the ``<t:Message>`` ``node`` (``messages.message_element``) this meeting
        item: its tag, ItemClass and, after the message fields, the meeting's."""
        node.tag = t(self.tag)
        item_class = node.find(t("ItemClass"))
        if item_class is not None:
            item_class.text = self.item_class

        def wants(uri: str) -> bool:
            return shape.wants(uri, uri in DEFAULT_FIELDS)

        event = self._event(shape)
        associated = self.associated
        if associated is not None and wants("meeting:AssociatedCalendarItemId"):
            etree.SubElement(node, t("AssociatedCalendarItemId"), Id=ids.item_id(associated.ref),
                             ChangeKey=ids.change_key(associated.revision))
        if wants("meeting:IsDelegated"):
            etree.SubElement(node, t("IsDelegated")).text = "false"
        if wants("meeting:IsOutOfDate"):
            etree.SubElement(node, t("IsOutOfDate")).text = _bool(self.out_of_date)
        if wants("meeting:HasBeenProcessed"):
            # Delivery applies an iMIP message to the calendar as it stores it.
            etree.SubElement(node, t("HasBeenProcessed")).text = _bool(associated is not None)
        if wants("meeting:ResponseType"):
            etree.SubElement(node, t("ResponseType")).text = self.response_type
        _take(node, event, ("UID",))
        instance = self._recurrence_id()
        if instance is not None and wants("calendar:RecurrenceId"):
            etree.SubElement(node, t("RecurrenceId")).text = ews_date(instance)
        if instance is not None and event is not None and event.find(t("CalendarItemType")) is not None:
            # A message about one occurrence of a series (its RECURRENCE-ID alone).
            event.find(t("CalendarItemType")).text = "Occurrence"
        stamp = self._stamp()
        if stamp is not None and wants("calendar:DateTimeStamp"):
            etree.SubElement(node, t("DateTimeStamp")).text = ews_date(stamp)
        if self.method == REQUEST:
            if wants("meetingRequest:MeetingRequestType"):
                etree.SubElement(node, t("MeetingRequestType")).text = self._request_type()
            if wants("meetingRequest:IntendedFreeBusyStatus"):
                etree.SubElement(node, t("IntendedFreeBusyStatus")).text = self._intended_status()
            self._add_request_fields(event, wants)
            _take(node, event, REQUEST_EVENT_FIELDS)
            return
        _take(node, event, OTHER_EVENT_FIELDS)
        if self.method == COUNTER:
            proposed = self._event(shapes.Shape(shapes.ID_ONLY, frozenset({"calendar:Start", "calendar:End"})),
                                   content=self.ics)
            if proposed is not None:
                for field in ("Start", "End"):
                    found = proposed.find(t(field))
                    if found is not None and wants(f"meeting:Proposed{field}"):
                        etree.SubElement(node, t(f"Proposed{field}")).text = found.text

    def _event(self, shape: shapes.Shape, content: Optional[bytes] = None):
        """``calendar``'s ``<t:CalendarItem>`` of the event the message is about (a
        COUNTER's: the calendar's version, its proposal is ProposedStart/End), in the
        shape's calendar fields; None when the event cannot be read."""
        if content is None:
            content = self.ics
            if self.method == COUNTER and self.associated is not None:
                content = self.associated.content
        asked = attrs.evolve(shape, fields=frozenset(f for f in shape.fields if f in _EVENT_URIS),
                             extended=(), mime=False)
        try:
            if content is self.ics or content == self.ics:
                content = itip.calendar_object(content)  # a stored event has no METHOD
            return calendar.calendar_item_element(self.account, "-", "-", 0, content, asked)
        except (EWSError, SmsyncError, ValueError, OverflowError):
            return None  # the message's fields are still served

    def _add_request_fields(self, event, wants) -> None:
        """The request's fields the calendar rendering has no counterpart for."""
        if event is None:
            return

        def put(tag: str, value: str) -> None:
            if wants(f"calendar:{tag}"):
                etree.SubElement(event, t(tag)).text = value

        put("IsMeeting", "true")
        put("IsCancelled", "false")
        put("MeetingRequestWasSent", "false")
        put("MyResponseType", self.response_type)
        put("AppointmentSequenceNumber", str(self.info.sequence))
        put("AppointmentState", "3")  # a meeting (1), received (2)

    def _request_type(self) -> str:
        if self.out_of_date:
            return "Outdated"
        return "NewMeetingRequest" if self.info.sequence == 0 else "FullUpdate"

    def _master(self):
        try:
            return calendar.master_of(calendar.load(self.ics))
        except (EWSError, SmsyncError):
            return None

    def _intended_status(self) -> str:
        master = self._master()
        if master is None:
            return "Busy"
        intended = (master.value("X-MICROSOFT-CDO-INTENDEDSTATUS") or "").strip().upper()
        found = {"FREE": "Free", "TENTATIVE": "Tentative", "BUSY": "Busy", "OOF": "OOF"}.get(intended)
        if found is not None:
            return found
        return "Free" if (master.value("TRANSP") or "").strip().upper() == "TRANSPARENT" else "Busy"

    def _stamp(self) -> Optional[datetime]:
        return self._time_of("DTSTAMP")

    def _recurrence_id(self) -> Optional[datetime]:
        """The occurrence a message about one instance names (None: the whole meeting)."""
        return None if self.info.has_master else self._time_of("RECURRENCE-ID")

    def _time_of(self, name: str) -> Optional[datetime]:
        master = self._master()
        prop = master.get(name) if master is not None else None
        if prop is None:
            return None
        try:
            return datetime.fromtimestamp(prop_time(prop, zones_of(calendar.load(self.ics))).epoch, timezone.utc)
        except (SmsyncError, ValueError, OverflowError):
            return None


def _take(node, event, fields) -> None:
    """Move ``fields`` (local names) of the rendered ``event`` to ``node``, in that order."""
    if event is None:
        return
    for field in fields:
        found = event.find(t(field))
        if found is not None:
            node.append(found)


def _bool(value: bool) -> str:
    return "true" if value else "false"


# -- detection --------------------------------------------------------------------------


def calendar_part(structure):
    """The ``text/calendar`` part a message's structure shows (not inside attached
    messages; None: no such part, or one too large to be an invitation)."""
    part = imip.calendar_part(structure)
    if part is None or part.body_end - part.header_end > imip.MAX_CALENDAR or part.body_end < part.header_end:
        return None
    return part


def detect(ics: bytes) -> Optional[tuple[str, itip.ITip]]:
    """``(METHOD, what it says)`` when the decoded calendar part ``ics`` is a meeting
    message EWS has an item for (a VEVENT REQUEST, CANCEL, REPLY or COUNTER with an
    ORGANIZER, or an answering ATTENDEE), else None: the mail stays a Message."""
    try:
        info = itip.parse_itip(ics)
        calendar.master_of(calendar.load(ics))
    except (InvalidData, EWSError, SmsyncError, ValueError, UnicodeError):
        return None
    if info.component != "VEVENT" or info.method not in (REQUEST, CANCEL, REPLY, COUNTER):
        return None
    if info.method in (REPLY, COUNTER) and not info.attendees:
        return None
    if info.method in (REQUEST, CANCEL) and not info.organizer:
        return None
    return info.method, info


async def meetings_of(ctx, mailbox, structures: dict, raws: Optional[dict] = None) -> dict:
    """``{uid: Meeting}`` for the meeting messages among ``structures`` (UID ->
    structure) of ``mailbox``: only messages with a ``text/calendar`` part are read (that
    part alone, in one ranged read; from ``raws``, UID -> the stored bytes, when the
    caller has them)."""
    parts = {uid: part for uid, s in structures.items() if s is not None
             and (part := calendar_part(s)) is not None}
    if not parts:
        return {}
    raws = raws or {}
    bodies = {uid: raws[uid][part.header_end:part.body_end] for uid, part in parts.items()
              if raws.get(uid) is not None}
    wanted = [uid for uid in parts if uid not in bodies]
    if wanted:
        read = await read_ranges(mailbox, [(uid, parts[uid].header_end, parts[uid].body_end - parts[uid].header_end)
                                           for uid in wanted])
        bodies.update({uid: raw for uid, raw in zip(wanted, read) if raw is not None})
    found = {}
    for uid, raw in bodies.items():
        ics = imip.decode_part(raw, parts[uid])
        detected = detect(ics)
        if detected is not None:
            found[uid] = Meeting(detected[0], ics, detected[1], ctx.account)
    if found:
        associated = await _associated(ctx, {m.info.uid for m in found.values()})
        found = {uid: attrs.evolve(m, associated=associated.get(m.info.uid)) for uid, m in found.items()}
    return found


async def _associated(ctx, uids: set) -> dict:
    """``{UID: Associated}``: the account's calendar items of those iCalendar UIDs."""
    out: dict = {}
    try:
        collections = await ctx.store.collections(ctx.account)
        listed = await collections.list_collections(CollectionKind.CALENDAR)
    except SmsyncError:
        return out
    for entry in listed:
        left = uids - out.keys()
        if not left:
            break
        try:
            collection = await collections.collection_by_id(entry.id)
        except NotFound:
            continue
        for uid in left:
            try:
                item = await collection.get_by_uid(uid)
            except (NotFound, InvalidData):
                continue
            if item is None or item.info.component != "VEVENT":
                continue
            ref = ids.ItemRef(ctx.account, ids.ITEM, entry.id, item.info.name)
            out[uid] = Associated(ref, item.info.revision, item.info.etag, item.content)
    return out


async def meeting_of(ctx, msg: items.Message) -> Optional[Meeting]:
    """The meeting one message (``items.message``) is, or None."""
    return (await meetings_of(ctx, msg.mailbox, {msg.uid: msg.structure})).get(msg.uid)


# -- answering a request, removing a cancelled meeting ----------------------------------


async def respond(ctx, node, ref: ids.ItemRef, disposition: str):
    """Serve a response object ``node`` (AcceptItem, TentativelyAcceptItem, DeclineItem
    or RemoveItem) whose ReferenceItemId, ``ref``, names a meeting message: what
    ``meeting_replies.respond`` answers (the calendar item's new id, or None)."""
    if ref.kind != ids.MESSAGE:
        raise EWSError(INVALID_OPERATION, "RemoveItem names a meeting cancellation message")
    msg = await items.message(ctx, ref)
    meeting = await meeting_of(ctx, msg)
    if node.tag == REMOVE:
        if meeting is None or meeting.method != CANCEL:
            raise EWSError(INVALID_OPERATION, "RemoveItem answers a meeting cancellation")
        await _remove(ctx, meeting)
        await _to_deleted_items(ctx, msg)
        return None
    if meeting is None or meeting.method != REQUEST:
        raise EWSError(INVALID_OPERATION, "the item is not a meeting request")
    if itip.same_address(meeting.info.organizer, ctx.account):
        raise EWSError(INVALID_OPERATION, "the account organizes this meeting")
    associated = meeting.associated or await _file(ctx, meeting)
    answer = etree.Element(node.tag)
    etree.SubElement(answer, t("ReferenceItemId"), Id=ids.item_id(associated.ref))
    for child in node:
        if isinstance(child.tag, str) and child.tag != t("ReferenceItemId"):
            answer.append(child)
    created = await meeting_replies.respond(ctx, answer, disposition)
    await _to_deleted_items(ctx, msg)
    return created


async def _file(ctx, meeting: Meeting) -> Associated:
    """Store the request's event in the account's default calendar (an invitation
    delivery did not place, say from an organizer it does not take as the sender), with
    the account as an attendee that has not answered yet; the answer follows."""
    try:
        collections = await ctx.store.collections(ctx.account)
        target = await default_calendar(collections)
        content = itip.apply_partstat(strip_schedule_params(itip.calendar_object(meeting.ics)),
                                      ctx.account, "NEEDS-ACTION")
        item = await target.put(f"{uuid.uuid4().hex}.ics", content, if_none_match=True)
    except NotFound:
        raise EWSError(INVALID_OPERATION, "the account has no calendar") from None
    except (InvalidData, PreconditionFailed) as e:
        raise EWSError(INVALID_OPERATION, f"the meeting cannot be filed: {e}"[:120]) from None
    ref = ids.ItemRef(ctx.account, ids.ITEM, target.id, item.name)
    return Associated(ref, item.revision, item.etag, content)


async def _remove(ctx, meeting: Meeting) -> None:
    """Take the cancelled meeting out of the calendar (nothing to do when it is gone)."""
    associated = meeting.associated
    if associated is None:
        return
    if not itip.same_address(_organizer_of(associated.content), meeting.info.organizer):
        raise EWSError(INVALID_OPERATION, "the calendar's meeting of that UID has another organizer")
    collections = await ctx.store.collections(ctx.account)
    try:
        collection = await collections.collection_by_id(associated.ref.source)
        await collection.delete(associated.ref.key, if_match=associated.etag)
    except NotFound:
        pass
    except PreconditionFailed:
        raise EWSError("ErrorIrresolvableConflict", "the calendar item changed meanwhile") from None


def _organizer_of(content: bytes) -> Optional[str]:
    try:
        return itip.parse_itip(content, method_required=False).organizer
    except InvalidData:
        return None


async def _to_deleted_items(ctx, msg: items.Message) -> None:
    """Move a meeting message that was acted on to Deleted Items, as Exchange does."""
    mail = await ctx.store.mail(ctx.account)
    try:
        trash = await mail.mailbox_by_role(Role.TRASH)
    except SmsyncError:
        return
    if trash.id == msg.mailbox.id:
        return
    try:
        moved = await msg.mailbox.move(UIDSet.of([msg.uid]), (await trash.info()).name)
    except NotFound:
        return  # deleted meanwhile
    note_transfer(ctx.store, ctx.account, msg.mailbox.id, moved, trash.id, True)
    if moved.dest_uids:
        await extended_store.carry(ctx, msg.ref.source, msg.uid, trash, moved.dest_uids[0])

