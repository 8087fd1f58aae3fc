"""Changes to items: UpdateItem (messages: IsRead, Flag, Categories, and their content
by a rewrite, ``drafts``; contacts: their fields, merged into the stored vCard), DeleteItem, MoveItem, CopyItem and CreateItem
(messages from MIME content or fields -- SaveOnly files a draft, SendOnly and
SendAndSaveCopy send through the edge's submitter -- and contacts).

Every item of a batch is answered on its own; each change is one store call, so it is
seen at once over IMAP, EAS and the rest. What would take the account past its storage
quota (``smsync.edge.quota``) -- a message saved, copied, or kept as a sent copy, a
rewrite making one bigger -- is that item's ErrorQuotaExceeded, nothing stored; a
message whose sent copy does not fit is not sent either (Exchange's "prohibit send").
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
from datetime import datetime, timezone

from lxml import etree
from twisted.internet.defer import DeferredLock

from smsync.edge.quota import require
from smsync.errors import SmsyncError
from smsync.formats.headers import address_field, unstructured_field
from smsync.model import FlagMode, Role, UIDSet
from smsync.protocols.ews import calendar, ids, items, meeting_replies, meetings, notes, tree
from smsync.protocols.ews import extended, extended_flags, extended_store
from smsync.protocols.ews import drafts
from smsync.protocols.ews.errors import (
    INVALID_OPERATION,
    INVALID_PROPERTY_SET,
    IRRESOLVABLE_CONFLICT,
    MIME_CONTENT_INVALID,
    MOVE_COPY_FAILED,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.messages import DRAFT, FLAGGED, SEEN, keywords
from smsync.protocols.ews.operations import operation, pim_changes
from smsync.protocols.ews.operations.getitem import ID_TAGS, item_ids, resolve_item_ref
from smsync.protocols.ews.soap import m, response, response_message, t, xs_bool
from smsync.protocols.ews.subscriptions import note_transfer
from smsync.scheduling.scheduler import Plan

_CONFLICT_RESOLUTIONS = ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite")
_content_locks: dict = {}
#: Message fields of a full save (exchangelib's ``save()``) that a message does not keep.
_KEPT_AS_THEY_ARE = frozenset({"item:ReminderMinutesBeforeStart", "item:ReminderDueBy",
                               "message:IsResponseRequested", "item:Culture"})


def _item_holder(node=None):
    holder = etree.Element(m("Items"))
    if node is not None:
        holder.append(node)
    return holder


def _id_only(account: str, source: str, uid: int, modseq: int):
    node = etree.Element(t("Message"))
    ref = ids.ItemRef(account, ids.MESSAGE, source, str(uid))
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(modseq))
    return node


async def room_for(ctx, size, what: str) -> None:
    """``OverQuota`` (answered ErrorQuotaExceeded, ``errors.from_store``) when ``size``
    more octets (or an async function of none giving them) would take the account past
    its quota; logged as ``what``."""
    await require(getattr(ctx.edge, "quotas", None), ctx.account, size, f"EWS {what} by {ctx.account}")


def _failed(ctx, name: str, error, extra=()) -> object:
    error = from_store(error)
    ctx.log(f"{name}: {error.code}: {error.message}")
    return response_message(name, error.code, error.message, list(extra))


# -- UpdateItem ------------------------------------------------------------------------


def _field_uri(update) -> str:
    node = update.find(t("FieldURI"))
    if node is None:
        raise EWSError(INVALID_PROPERTY_SET, "only FieldURI updates of messages are served")
    return node.get("FieldURI", "")


def _item_value(update, tag: str):
    # A meeting message (meeting_items) is updated under its own tag.
    for kind in ("Message", "MeetingRequest", "MeetingCancellation", "MeetingResponse", "MeetingMessage", "Item"):
        holder = update.find(t(kind))
        if holder is not None:
            return holder.find(t(tag))
    return None


def flag_changes(updates, flags: frozenset) -> tuple[set, set]:
    """``(flags to add, flags to remove)`` for a message's ``<t:Updates>``; the
    message's current ``flags`` let a field set to what it already is pass (clients
    send every field they hold)."""
    add, remove = set(), set()
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        action = update.tag.rpartition("}")[2]
        uri = _field_uri(update)
        if action not in ("SetItemField", "AppendToItemField", "DeleteItemField"):
            raise EWSError(SCHEMA_VALIDATION, f"{action[:40]} is not an update")
        if uri == "message:IsRead":
            node = _item_value(update, "IsRead") if action != "DeleteItemField" else None
            value = node is not None and xs_bool(node.text)
            (add if value else remove).add(SEEN)
        elif uri == "item:Flag":
            status = "NotFlagged"
            if action != "DeleteItemField":
                node = _item_value(update, "Flag")
                status = (node.findtext(t("FlagStatus")) if node is not None else None) or "NotFlagged"
            (add if status == "Flagged" else remove).add(FLAGGED)
        elif uri == "item:Categories":
            node = _item_value(update, "Categories") if action != "DeleteItemField" else None
            wanted = {(s.text or "").strip() for s in node if isinstance(s.tag, str)} if node is not None else set()
            wanted.discard("")
            if any(not re.fullmatch(r"[!#-'*-[\]-~]+", w) for w in wanted):
                raise EWSError(INVALID_PROPERTY_SET, "a category must be one word of printable ASCII")
            current = set(keywords(flags))
            add |= wanted - current
            if action != "AppendToItemField":
                remove |= current - wanted
        elif uri == "item:IsDraft":
            continue  # read-only here, as in Exchange once saved
        elif uri in _KEPT_AS_THEY_ARE or (uri == "item:ReminderIsSet" and not (
                action != "DeleteItemField" and xs_bool(getattr(_item_value(update, "ReminderIsSet"), "text", "")))):
            # A client saving every field it holds sends these with their defaults; a
            # message keeps no reminder or culture, so they are what they were.
            continue
        else:
            raise EWSError(INVALID_PROPERTY_SET, f"{uri[:60]} cannot be changed on a message here yet")
    return add, remove


async def _update_message(ctx, ref, change, id_el, resolution: str, disposition: str = "SaveOnly",
                          request=None):
    """One ItemChange of a message: its flags (IsRead, Flag, Categories and the
    extended properties that are flags) changed in place; its content (``drafts``)
    by storing the message rewritten in its place, with its flags, the changed ones
    included. The answer names the message by the id the client sent; with a
    ``disposition`` that sends (exchangelib's ``send_and_save()`` of a saved draft) the
    message is then sent as SendItem sends it (its copy in the request's
    SavedItemFolderId, else Sent Items), and there is none."""
    from smsync.protocols.ews.operations.attachments import ChangedMeanwhile

    # Content changes of one folder's messages in this process go one at a time, each
    # reading the message as the one before left it; another process's rewrite
    # meanwhile makes the change again to the message as it is now, unless the client
    # asked to be told (NeverOverwrite).
    content = any(uri.get("FieldURI") in drafts.CONTENT_URIS for uri in change.iter(t("FieldURI")))
    lock = _content_locks.setdefault((ctx.account, ref.source), DeferredLock()) if content else None
    try:
        for attempt in range(4):
            try:
                if lock is None:
                    node = await _change_message(ctx, ref, change, id_el, resolution)
                else:
                    async with lock:
                        node = await _change_message(ctx, ref, change, id_el, resolution)
                break
            except ChangedMeanwhile:
                if resolution == "NeverOverwrite" or attempt == 3:
                    raise
    finally:
        if lock is not None and not lock.locked and not lock.waiting:
            _content_locks.pop((ctx.account, ref.source), None)
    if disposition == "SaveOnly":
        return node
    from smsync.protocols.ews.operations.sending import send_stored

    target = None
    saved = request.find(m("SavedItemFolderId")) if request is not None and disposition == "SendAndSaveCopy" else None
    if saved is not None:
        found = [c for c in saved if isinstance(c.tag, str)]
        target = await tree.resolve(ctx, found[0]) if len(found) == 1 else None
        if target is None or not target.is_mail:
            raise EWSError(INVALID_OPERATION, "a sent copy goes to one mail folder")
    await send_stored(ctx, await items.message(ctx, ref), disposition == "SendAndSaveCopy", target,
                      name="UpdateItem")
    return None


async def _change_message(ctx, ref, change, id_el, resolution: str):
    msg = await items.message(ctx, ref)
    presented = ids.parse_change_key(id_el.get("ChangeKey"))
    stale = presented is not None and presented != msg.info.modseq
    if stale and resolution == "NeverOverwrite":
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed since its ChangeKey")
    # Extended properties are kept beside the message (extended_store); the
    # rest are its flags, or its content.
    props, updates = extended.split_updates(change.find(t("Updates")))
    updates, edits = drafts.split(updates)
    by_props, unflag, props = extended_flags.to_flags(props)
    extended_store.require(ctx, props)
    add, remove = flag_changes(updates, msg.info.flags)
    add, remove = add | by_props, remove | unflag
    remove -= add
    guard = presented if resolution == "NeverOverwrite" else None
    content = None
    if edits:
        raw = await items.body(msg)
        content = drafts.rewrite(raw, edits, ctx.account, DRAFT in msg.info.flags)
    if content is not None:
        from smsync.protocols.ews.operations.attachments import replace_message

        flags = (set(msg.info.flags) | add) - remove
        new, modseq = await replace_message(ctx, msg, raw, content, flags=flags, expected_modseq=guard)
        await extended_store.change_message(ctx, msg.mailbox, int(new.key), props)
        await ctx.note("UpdateItem: a message's content changed (stored anew)")
        return _id_only(ctx.account, msg.ref.source, msg.ref.uid, modseq)
    modseq = msg.info.modseq
    uids = UIDSet.of([msg.uid])
    for mode, flags in ((FlagMode.ADD, add), (FlagMode.REMOVE, remove)):
        if not flags:
            continue
        result = await msg.mailbox.store_flags(uids, mode, sorted(flags), unchanged_since=guard)
        if result.modified:
            raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed since its ChangeKey")
        for info in result.changed:
            modseq = info.modseq
            guard = info.modseq if guard is not None else None
    await extended_store.change_message(ctx, msg.mailbox, msg.uid, props)
    return _id_only(ctx.account, msg.ref.source, msg.ref.uid, modseq)


@operation("UpdateItem")
async def update_item(ctx, request):
    resolution = request.get("ConflictResolution", "AutoResolve")
    if resolution not in _CONFLICT_RESOLUTIONS:
        raise EWSError(SCHEMA_VALIDATION, f"ConflictResolution {resolution[:30]!r}")
    invitations = meetings.mode_of(request, "SendMeetingInvitationsOrCancellations")
    disposition = request.get("MessageDisposition", "SaveOnly")
    if disposition not in ("SaveOnly", "SendOnly", "SendAndSaveCopy"):
        raise EWSError(SCHEMA_VALIDATION, f"MessageDisposition {disposition[:30]!r}")
    holder = request.find(m("ItemChanges"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no ItemChanges")
    answers = []
    for change in holder:
        if not isinstance(change.tag, str):
            continue
        try:
            id_el = next((c for c in change if c.tag in ID_TAGS), None)
            if id_el is None:
                raise EWSError(INVALID_OPERATION, "only ItemId changes are served")
            ref = await resolve_item_ref(ctx, id_el)
            if ref.kind == ids.ITEM:
                node = await notes.update_note(ctx, ref, change, resolution, id_el.get("ChangeKey"))
                if node is None:  # not a note
                    node = await pim_changes.update_collection_item(ctx, ref, change, resolution,
                                                                    id_el.get("ChangeKey"), invitations)
                conflicts = etree.Element(m("ConflictResults"))
                etree.SubElement(conflicts, t("Count")).text = "0"
                answers.append(response_message("UpdateItem", children=[_item_holder(node), conflicts]))
                continue
            node = await _update_message(ctx, ref, change, id_el, resolution, disposition, request)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "UpdateItem", e, [_item_holder()]))
            continue
        conflicts = etree.Element(m("ConflictResults"))
        etree.SubElement(conflicts, t("Count")).text = "0"
        answers.append(response_message("UpdateItem", children=[_item_holder(node), conflicts]))
    return response("UpdateItem", answers)


# -- DeleteItem ------------------------------------------------------------------------


async def role_box(ctx, role: Role):
    """The account's mail folder of ``role`` (None when it has none)."""
    mail = await ctx.store.mail(ctx.account)
    try:
        return await mail.mailbox_by_role(role)
    except SmsyncError:
        return None


@operation("DeleteItem")
async def delete_item(ctx, request):
    kind = request.get("DeleteType", "")
    if kind not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise EWSError(SCHEMA_VALIDATION, f"DeleteType {kind[:30]!r}")
    trash = await role_box(ctx, Role.TRASH) if kind == "MoveToDeletedItems" else None
    cancellations = meetings.mode_of(request, "SendMeetingCancellations")
    answers = []
    for element in item_ids(request):
        try:
            ref = await resolve_item_ref(ctx, element)
            if ref.kind == ids.ITEM:
                # A collection keeps no Deleted Items of its own: every kind deletes,
                # leaving the tombstone every protocol reports.
                found = await items.collection_item(ctx, ref)
                name, rid = calendar.split_key(ref.key)
                if rid is None:
                    plan = Plan()
                    if found.item.info.component == "VEVENT":
                        plan = await meetings.plan_delete(ctx, cancellations, found.item.content)
                    await found.collection.delete(name)
                    await meetings.carry_out(ctx, plan)
                else:
                    # One occurrence: excluded from its series, which stays; a meeting's
                    # attendees get that instance's CANCEL (its organizer, a decline).
                    await meetings.delete_occurrence(ctx, cancellations, found, name, rid)
                answers.append(response_message("DeleteItem"))
                continue
            mailbox = await items.open_mailbox(ctx, ref.source)
            msg = await items.message(ctx, ref, mailbox)
            uids = UIDSet.of([msg.uid])
            if trash is not None and trash.id != mailbox.id:
                trash_name = (await trash.info()).name
                moved = await mailbox.move(uids, trash_name)
                note_transfer(ctx.store, ctx.account, mailbox.id, moved, trash.id, True)
                if moved.dest_uids:
                    await extended_store.carry(ctx, ref.source, ref.uid, trash, moved.dest_uids[0])
            else:
                # SoftDelete (Exchange's recoverable items) and a delete from Deleted Items
                # remove the message: every protocol sees it expunged.
                await mailbox.remove(uids)
            del msg
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "DeleteItem", e))
            continue
        answers.append(response_message("DeleteItem"))
    return response("DeleteItem", answers)


# -- MoveItem, CopyItem ----------------------------------------------------------------


async def _destination(ctx, request):
    holder = request.find(m("ToFolderId"))
    targets = [c for c in holder if isinstance(c.tag, str)] if holder is not None else []
    if len(targets) != 1:
        raise EWSError(SCHEMA_VALIDATION, "ToFolderId names one folder")
    folder = await tree.resolve(ctx, targets[0])
    if not folder.is_mail:
        raise EWSError(MOVE_COPY_FAILED, "messages go only to mail folders")
    return folder


async def _move_or_copy(ctx, request, name: str, move: bool):
    try:
        dest = await _destination(ctx, request)
    except (EWSError, SmsyncError) as e:
        # The destination fails every item alike.
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"{name}: {error.code}: {error.message}")
        return response(name, [response_message(name, error.code, error.message)
                               for _ in item_ids(request)])
    dest_box = await tree.mailbox_of(ctx, dest)
    answers = []
    for element in item_ids(request):
        try:
            ref = items.parse_item_ref(ctx, element)
            mailbox = await items.open_mailbox(ctx, ref.source)
            msg = await items.message(ctx, ref, mailbox)
            uids = UIDSet.of([msg.uid])
            if move and mailbox.id == dest_box.id:
                node = _id_only(ctx.account, ref.source, ref.uid,
                                (await mailbox.messages(uids))[0].modseq)
            else:
                if not move:  # a move within the account adds nothing to it
                    await room_for(ctx, msg.info.size, name)
                result = await (mailbox.move if move else mailbox.copy)(uids, dest.name)
                note_transfer(ctx.store, ctx.account, mailbox.id, result, dest_box.id, move)
                if not result.dest_uids:
                    raise EWSError("ErrorItemNotFound", "the item is gone")
                new_uid = result.dest_uids[0]
                await extended_store.carry(ctx, ref.source, ref.uid, dest_box, new_uid)
                infos = await dest_box.messages(UIDSet.of([new_uid]))
                node = _id_only(ctx.account, dest_box.id, new_uid, infos[0].modseq if infos else 0)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, name, e, [_item_holder()]))
            continue
        answers.append(response_message(name, children=[_item_holder(node)]))
    return response(name, answers)


@operation("MoveItem")
async def move_item(ctx, request):
    return await _move_or_copy(ctx, request, "MoveItem", True)


@operation("CopyItem")
async def copy_item(ctx, request):
    return await _move_or_copy(ctx, request, "CopyItem", False)


# -- CreateItem ------------------------------------------------------------------------


def _mailboxes(node, tag: str) -> list[tuple[str, str]]:
    holder = node.find(t(tag))
    out = []
    if holder is None:
        return out
    for box in holder.iter(t("Mailbox")):
        address = (box.findtext(t("EmailAddress")) or "").strip()
        if not re.fullmatch(r"[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9.-]+", address):
            raise EWSError("ErrorInvalidRecipients", f"{address[:80]!r} is not an address")
        name = (box.findtext(t("Name")) or "").replace("\r", " ").replace("\n", " ").strip()
        out.append((name if name != address else "", address))
    return out


def stamp(ctx) -> tuple[bytes, bytes]:
    """A new message's Date and Message-ID fields."""
    domain = ctx.account.rpartition("@")[2] or "localhost"
    return (b"Date: " + email.utils.format_datetime(datetime.now(timezone.utc)).encode("ascii"),
            b"Message-ID: " + email.utils.make_msgid(domain=domain).encode("ascii"))


def compose(ctx, node, bcc: bool = True, stamped=None) -> bytes:
    """RFC 5322 bytes for a ``<t:Message>`` given by fields (Subject, Body, recipients;
    the Bcc field only with ``bcc``: the copies sent lose it), dated and named by
    ``stamped`` (``stamp``; a new one by default)."""
    subject = (node.findtext(t("Subject")) or "").replace("\r", " ").replace("\n", " ")
    body_el = node.find(t("Body"))
    body = body_el.text or "" if body_el is not None else ""
    html = body_el is not None and body_el.get("BodyType", "Text") == "HTML"
    sender = _mailboxes(node, "From") or [("", ctx.account)]
    lines = [address_field("From", sender[:1])]
    for tag, field in (("ToRecipients", "To"), ("CcRecipients", "Cc"), ("BccRecipients", "Bcc")):
        if field == "Bcc" and not bcc:
            continue
        found = _mailboxes(node, tag)
        if found:
            lines.append(address_field(field, found))
    lines.append(unstructured_field("Subject", subject))
    lines.extend(stamped or stamp(ctx))
    lines.append(b"MIME-Version: 1.0")
    lines.append(f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8".encode("ascii"))
    lines.append(b"Content-Transfer-Encoding: base64")
    encoded = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    composed = b"\r\n".join(lines) + b"\r\n\r\n" + encoded
    composed = drafts.with_item_fields(composed, node, ctx.account)  # ews-drafts
    # ews-directory hook: the item's own <t:Attachments> (exchangelib sends them inline).
    from smsync.protocols.ews.attachments import with_attachments

    return with_attachments(composed, node, lambda inner: _content(ctx, inner))  # ews-drafts: item attachments


def _content(ctx, node, stamped=None) -> bytes:
    mime = node.find(t("MimeContent"))
    if mime is not None and (mime.text or "").strip():
        try:
            raw = base64.b64decode("".join((mime.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            raise EWSError(MIME_CONTENT_INVALID, "MimeContent is not base64") from None
        if not raw.strip():
            raise EWSError(MIME_CONTENT_INVALID, "empty MimeContent")
        return raw
    return compose(ctx, node, stamped=stamped)


def _recipients(node) -> list[str]:
    out = []
    for tag in ("ToRecipients", "CcRecipients", "BccRecipients"):
        out += [address for _name, address in _mailboxes(node, tag)]
    return out


@operation("CreateItem")
async def create_item(ctx, request):
    disposition = request.get("MessageDisposition", "SaveOnly")
    if disposition not in ("SaveOnly", "SendOnly", "SendAndSaveCopy"):
        raise EWSError(SCHEMA_VALIDATION, f"MessageDisposition {disposition[:30]!r}")
    holder = request.find(m("Items"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no Items")
    saved = request.find(m("SavedItemFolderId"))
    invitations = meetings.mode_of(request, "SendMeetingInvitations")
    answers = []
    for node in holder:
        if not isinstance(node.tag, str):
            continue
        try:
            if node.tag in (t("Contact"), t("CalendarItem"), t("Task")):
                make = {t("Contact"): pim_changes.create_contact, t("CalendarItem"): pim_changes.create_event,
                        t("Task"): pim_changes.create_task}[node.tag]
                extra = {"send_mode": invitations} if node.tag == t("CalendarItem") else {}
                answers.append(response_message("CreateItem", children=[
                    _item_holder(await make(ctx, node, saved, **extra))]))
                continue
            if node.tag in meeting_replies.ANSWERS:
                answered = await meeting_replies.respond(ctx, node, disposition)
                answers.append(response_message("CreateItem", children=[_item_holder(answered)]))
                continue
            if node.tag != t("Message"):
                raise EWSError(INVALID_OPERATION, f"{node.tag.rpartition('}')[2][:40]} items are not served yet")
            if await notes.is_note(ctx, node, saved):
                answers.append(response_message("CreateItem", children=[
                    _item_holder(await notes.create_note(ctx, node, saved))]))
                continue
            stamped = stamp(ctx)
            content = _content(ctx, node, stamped)
            if disposition == "SaveOnly":
                created = await _save(ctx, node, content, saved)
            else:
                await _send(ctx, node, content, disposition == "SendAndSaveCopy", stamped)
                created = None
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "CreateItem", e, [_item_holder()]))
            continue
        answers.append(response_message("CreateItem", children=[_item_holder(created)]))
    return response("CreateItem", answers)


async def _save(ctx, node, content: bytes, saved):
    if saved is not None:
        targets = [c for c in saved if isinstance(c.tag, str)]
        if len(targets) != 1:
            raise EWSError(SCHEMA_VALIDATION, "SavedItemFolderId names one folder")
        folder = await tree.resolve(ctx, targets[0])
        if not folder.is_mail:
            raise EWSError(INVALID_OPERATION, "messages are saved only in mail folders")
        mailbox = await tree.mailbox_of(ctx, folder)
    else:
        mailbox = await role_box(ctx, Role.DRAFTS)
        if mailbox is None:
            raise EWSError("ErrorFolderNotFound", "the account has no Drafts folder")
    is_read = node.findtext(t("IsRead"))
    # What is composed here, or saved in Drafts, is a draft; a whole message uploaded
    # elsewhere (an import) is a message like any other.
    drafts = await role_box(ctx, Role.DRAFTS)
    composed = node.find(t("MimeContent")) is None
    flags = {DRAFT} if composed or (drafts is not None and drafts.id == mailbox.id) else set()
    if xs_bool(is_read) or (is_read is None and DRAFT in flags):
        flags.add(SEEN)
    categories = node.find(t("Categories"))
    if categories is not None:
        flags |= {(s.text or "").strip() for s in categories if isinstance(s.tag, str) and (s.text or "").strip()}
    props = {key: stored for key, (_uri, stored) in extended.read_props(node).items()}
    by_props, unflag, props = extended_flags.to_flags(props)
    flags = (flags | by_props) - unflag
    extended_store.require(ctx, props)
    await room_for(ctx, len(content), "CreateItem (SaveOnly)")
    result = await mailbox.append(content, flags=sorted(flags))
    try:
        await extended_store.change_message(ctx, mailbox, result.uid, props)
    except EWSError:
        # Not half made: a message whose properties cannot be kept is not kept either.
        await mailbox.remove(UIDSet.of([result.uid]))
        raise
    return _id_only(ctx.account, mailbox.id, result.uid, result.modseq)


def header_recipients(content: bytes) -> list[str]:
    """Every address of a message's To, Cc and Bcc fields."""
    from smsync.formats.message import parse_message

    envelope = parse_message(content).envelope
    return [a.email for a in (*envelope.to, *envelope.cc, *envelope.bcc) if a.email]


async def _send(ctx, node, content: bytes, save_copy: bool, stamped) -> None:
    from smsync.edge.outbound import SendFailed

    composed = node.find(t("MimeContent")) is None
    recipients = _recipients(node) or ([] if composed else header_recipients(content))
    if not recipients:
        raise EWSError("ErrorInvalidRecipients", "a message to send needs recipients")
    body = compose(ctx, node, bcc=False, stamped=stamped) if composed else content
    # The copy kept in Sent Items keeps the message's extended properties: it is the
    # one message appended there while sending.
    props = {key: stored for key, (_uri, stored) in extended.read_props(node).items()} if save_copy else {}
    props = extended_flags.to_flags(props)[2]  # the copy's flags are the sent ones
    extended_store.require(ctx, props)
    if save_copy:
        await room_for(ctx, len(content), "CreateItem (SendAndSaveCopy: not sent)")
    sent_box = await role_box(ctx, Role.SENT) if props else None
    before = (await sent_box.info()).uidnext if sent_box is not None else None
    try:
        await ctx.edge.outbound.submitter.send(ctx.account, ctx.account, recipients, body,
                                               save_in_sent=save_copy, sent_copy=content)
    except SendFailed as e:
        raise EWSError("ErrorMessageSubmissionBlocked", str(e)) from None
    if before is not None:
        # (n:* names the last message even below n, as in IMAP.)
        filed = [i for i in await sent_box.messages(UIDSet.range(before, None)) if i.uid >= before]
        if len(filed) == 1:
            await extended_store.change_message(ctx, sent_box, filed[0].uid, props)
        else:
            ctx.log("CreateItem: the sent copy's extended properties were not kept (Sent changed meanwhile)")
    await ctx.note(f"CreateItem: sent a message to {len(recipients)} recipient(s)")
