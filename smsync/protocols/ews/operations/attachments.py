"""GetAttachment (MS-OXWSCORE 3.1.4.3): a message's attachment, decoded from the stored
bytes; CreateAttachment and DeleteAttachment of file attachments of messages, which
rewrite the stored message (``attachments.add_parts``, ``remove_part``): the new one is
appended to the same folder with the old one's flags and date, then the old one is
removed -- every protocol sees one message replaced by another. The answer's
RootItemId and RootItemChangeKey name the new message. The old message's ids keep
working (Exchange's item ids survive an attachment change, and clients keep them): each
rewrite records its successor (``successors``) before the old message goes, and the
ids of the old message's attachments follow theirs to their new place."""

from __future__ import annotations

from lxml import etree
from twisted.internet.defer import DeferredLock

from smsync.errors import NotFound, PreconditionFailed, SmsyncError
from smsync.formats.contentlines import parse_components, serialize
from smsync.formats.message import parse_message
from smsync.model import UIDSet
from smsync.protocols.ews import attachments, extended_store, ids, item_attachments, items, shapes, successors
from smsync.protocols.ews.errors import ACCESS_DENIED, INVALID_ID_MALFORMED, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t, xs_bool


def _attachment_shape(request) -> shapes.Shape:
    """What an attached item is shown with (``<m:AttachmentShape>``: IncludeMimeContent,
    BodyType, AdditionalProperties beyond the Default shape)."""
    node = request.find(m("AttachmentShape"))
    if node is None:
        return shapes.Shape()
    extra = node.find(t("AdditionalProperties"))
    fields = frozenset(p.get("FieldURI") for p in extra if p.get("FieldURI")) if extra is not None else frozenset()
    body_type = (node.findtext(t("BodyType")) or "Best").strip()
    if body_type not in ("Best", "HTML", "Text"):
        raise EWSError(SCHEMA_VALIDATION, f"BodyType {body_type[:20]!r}")
    return shapes.Shape(shapes.DEFAULT, fields, body_type, xs_bool(node.findtext(t("IncludeMimeContent"))))


def _compose(ctx):
    """How an ItemAttachment's message is made: as CreateItem makes one."""
    from smsync.protocols.ews.operations.changes import _content

    return lambda node: _content(ctx, node)


@operation("GetAttachment")
async def get_attachment(ctx, request):
    holder = request.find(m("AttachmentIds"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no AttachmentIds")
    shape = _attachment_shape(request)
    answers = []
    for element in holder:
        if not isinstance(element.tag, str):
            continue
        try:
            try:
                ref, path = ids.parse_attachment_id(element.get("Id") or "")
            except ids.MalformedId as e:
                raise EWSError(INVALID_ID_MALFORMED, f"attachment id: {e}") from None
            if ref.account != ctx.account:
                raise EWSError(ACCESS_DENIED, "the attachment belongs to another account")
            if ref.kind == ids.ITEM:
                listed = etree.Element(m("Attachments"))
                listed.append(await _item_attachment(ctx, ref, path))
                answers.append(response_message("GetAttachment", children=[listed]))
                continue
            msg = await items.message(ctx, ref)
            now = msg.attachment_path(path)
            part = attachments.find(msg.structure.root, now) if now is not None else None
            if part is None:
                raise EWSError("ErrorItemNotFound", "no such attachment")
            try:
                raw = await msg.mailbox.read_body(msg.uid, part.body_start, part.body_end - part.body_start)
            except NotFound:
                raise EWSError("ErrorItemNotFound", "the item is gone") from None
            if attachments.is_item(part):
                node = attachments.item_attachment(ref, path, part,
                                                   attachments.inner_message(ctx.account, raw, part, shape))
            else:
                node = attachments.file_attachment(ref, path, part, raw)
        except (EWSError, SmsyncError) as e:
            error = from_store(e)
            ctx.log(f"GetAttachment: {error.code}: {error.message}")
            answers.append(response_message("GetAttachment", error.code, error.message,
                                            [etree.Element(m("Attachments"))]))
            continue
        listed = etree.Element(m("Attachments"))
        listed.append(node)
        answers.append(response_message("GetAttachment", children=[listed]))
    return response("GetAttachment", answers)


# -- CreateAttachment, DeleteAttachment ------------------------------------------------


def _failed(ctx, name: str, error, children=()):
    error = from_store(error)
    ctx.log(f"{name}: {error.code}: {error.message}")
    return response_message(name, error.code, error.message, list(children))


class ChangedMeanwhile(EWSError):
    """The message changed (or was rewritten) between its read and its rewrite."""

    def __init__(self):
        super().__init__("ErrorIrresolvableConflict", "the item changed since it was read")


# Rewrites of one message in this process go one after the other: a second one finds
# the message gone (rewritten) instead of storing a second copy of it.
_rewriting: dict = {}


async def replace_message(ctx, msg, old_raw: bytes, content: bytes, removed=(), flags=None,
                          expected_modseq=None):
    """Store ``content`` in place of ``msg`` (same folder and date; its flags, or
    ``flags``), whose bytes were ``old_raw``, and record the new one as its successor:
    the new message's ``ItemRef`` and MODSEQ. ``removed``: the attachment paths the
    rewrite took out. A message gone since it was read (rewritten meanwhile) is
    ``ChangedMeanwhile`` (ErrorIrresolvableConflict), nothing stored; so is one changed since, with
    ``expected_modseq`` (ConflictResolution NeverOverwrite) -- else its flags as they
    are now, with the changes ``flags`` makes to those read, go with it. Its extended
    properties go with it (``extended_store.carry``). A rewrite making the message
    bigger than the account's quota leaves room for is ``OverQuota``
    (ErrorQuotaExceeded), nothing stored."""
    from smsync.protocols.ews.operations.changes import room_for

    # Only what the rewrite adds counts: the old message goes.
    await room_for(ctx, len(content) - len(old_raw), "rewrite of a message (UpdateItem, CreateAttachment)")
    key = (ctx.account, msg.ref.source, msg.uid)
    lock = _rewriting.setdefault(key, DeferredLock())
    async with lock:
        try:
            now = await msg.mailbox.messages(UIDSet.of([msg.uid]))
            if not now or (expected_modseq is not None and now[0].modseq != expected_modseq):
                raise ChangedMeanwhile()
            kept = set(now[0].flags)
            if flags is not None:
                kept = (kept | (set(flags) - set(msg.info.flags))) - (set(msg.info.flags) - set(flags))
            result = await msg.mailbox.append(content, flags=sorted(kept), internal_date=msg.info.internal_date)
            # Recorded before the old message goes: a client never finds neither.
            paths = attachments.renumbered(old_raw, msg.structure.root, content, removed)
            await successors.record(ctx, msg.ref.source, msg.uid, result.uid, paths)
            await extended_store.carry(ctx, msg.ref.source, msg.uid, msg.mailbox, result.uid)
            await msg.mailbox.remove(UIDSet.of([msg.uid]))
        finally:
            if not lock.waiting:
                _rewriting.pop(key, None)
    return ids.ItemRef(ctx.account, ids.MESSAGE, msg.ref.source, str(result.uid)), result.modseq


@operation("CreateAttachment")
async def create_attachment(ctx, request):
    parent = request.find(m("ParentItemId"))
    holder = request.find(m("Attachments"))
    if parent is None or holder is None:
        raise EWSError(SCHEMA_VALIDATION, "CreateAttachment needs a ParentItemId and Attachments")
    nodes = [c for c in holder if isinstance(c.tag, str)]
    if not nodes:
        raise EWSError(SCHEMA_VALIDATION, "no attachment to create")
    try:
        ref = items.parse_item_ref(ctx, parent)
        if ref.kind == ids.ITEM:
            return await _create_item_attachments(ctx, ref, parent, nodes)
        msg = await items.message(ctx, ref)
        presented = ids.parse_change_key(parent.get("ChangeKey"))
        if presented is not None and presented != msg.info.modseq:
            raise EWSError("ErrorIrresolvableConflict", "the item changed since its ChangeKey")
        raw = await items.body(msg)
        eol = attachments._eol(raw)
        added = [attachments.new_part(node, eol, _compose(ctx)) for node in nodes]
        content = attachments.add_parts(raw, msg.structure, added)
        item, modseq = await replace_message(ctx, msg, raw, content)
    except (EWSError, SmsyncError) as e:
        # The message is rewritten once for all of them: they fail together.
        return response("CreateAttachment", [_failed(ctx, "CreateAttachment", e) for _ in nodes])
    # The new parts are the message's last attachments.
    made = list(attachments.parts(parse_message(content).root))[-len(nodes):]
    answers = []
    for path, part in made:
        listed = etree.Element(m("Attachments"))
        node = etree.SubElement(listed, t("ItemAttachment" if attachments.is_item(part) else "FileAttachment"))
        etree.SubElement(node, t("AttachmentId"), Id=ids.attachment_id(item, path),
                         RootItemId=ids.item_id(item), RootItemChangeKey=ids.change_key(modseq))
        answers.append(response_message("CreateAttachment", children=[listed]))
    await ctx.note(f"CreateAttachment: {len(nodes)} attachment(s) added to a message")
    return response("CreateAttachment", answers)


async def _attachment_message(ctx, ref, cache: dict):
    """The message ``ref`` names, read once per request (several attachment ids can
    name one message, or messages rewritten into one); ``EWSError`` when it is gone."""
    if ref not in cache:
        try:
            cache[ref] = await items.message(ctx, ref)
        except (EWSError, SmsyncError) as e:
            cache[ref] = e
    found = cache[ref]
    if isinstance(found, Exception):
        raise found
    return found


# -- attachments of calendar items, tasks, notes and contacts (item_attachments) -------


async def _stored_item(ctx, ref):
    """``(the stored collection item, its parsed content)`` ``ref`` names (an
    occurrence's id names its series' item)."""
    found = await items.collection_item(ctx, ref)
    try:
        roots = parse_components(found.item.content)
    except SmsyncError:
        raise EWSError("ErrorItemCorrupt", "the stored item cannot be read") from None
    if not roots:
        raise EWSError("ErrorItemCorrupt", "the stored item is empty")
    return found, roots[0]


async def _store_item(found, root):
    """Store ``root`` as ``found``'s new content if it did not change meanwhile; the
    new revision."""
    try:
        stored = await found.collection.put(found.item.info.name, serialize(root), if_match=found.item.info.etag)
    except PreconditionFailed:
        raise EWSError("ErrorIrresolvableConflict", "the item changed meanwhile") from None
    return stored.revision


def _master_ref(ctx, ref, found):
    return ids.ItemRef(ctx.account, ids.ITEM, ref.source, found.item.info.name)


async def _item_attachment(ctx, ref, path: str):
    found, root = await _stored_item(ctx, ref)
    component = item_attachments.holder_of(root)
    prop = item_attachments.find(component, path) if component is not None else None
    if prop is None:
        raise EWSError("ErrorItemNotFound", "no such attachment")
    return item_attachments.file_attachment(_master_ref(ctx, ref, found), path, prop, with_content=True)


async def _create_item_attachments(ctx, ref, parent, nodes):
    """CreateAttachment to an event, task, note or contact: every attachment added in
    one change of the stored item (they fail together)."""
    try:
        found, root = await _stored_item(ctx, ref)
        presented = ids.parse_change_key(parent.get("ChangeKey"))
        if presented is not None and presented != found.item.info.revision:
            raise EWSError("ErrorIrresolvableConflict", "the item changed since its ChangeKey")
        paths = [item_attachments.add(root, node) for node in nodes]
        revision = await _store_item(found, root)
    except (EWSError, SmsyncError) as e:
        return response("CreateAttachment", [_failed(ctx, "CreateAttachment", e) for _ in nodes])
    item = _master_ref(ctx, ref, found)
    answers = []
    for path in paths:
        listed = etree.Element(m("Attachments"))
        node = etree.SubElement(listed, t("FileAttachment"))
        etree.SubElement(node, t("AttachmentId"), Id=ids.attachment_id(item, path),
                         RootItemId=ids.item_id(ref), RootItemChangeKey=ids.change_key(revision))
        answers.append(response_message("CreateAttachment", children=[listed]))
    await ctx.note(f"CreateAttachment: {len(nodes)} attachment(s) added to a {found.item.info.component}")
    return response("CreateAttachment", answers)


async def _delete_item_attachment(ctx, ref, path: str):
    try:
        found, root = await _stored_item(ctx, ref)
        if not item_attachments.remove(root, path):
            raise EWSError("ErrorItemNotFound", "no such attachment")
        revision = await _store_item(found, root)
    except (EWSError, SmsyncError) as e:
        return _failed(ctx, "DeleteAttachment", e)
    root_id = etree.Element(m("RootItemId"), RootItemId=ids.item_id(_master_ref(ctx, ref, found)),
                            RootItemChangeKey=ids.change_key(revision))
    return response_message("DeleteAttachment", children=[root_id])


@operation("DeleteAttachment")
async def delete_attachment(ctx, request):
    # Attachments of one message are removed in one rewrite (their ids name the message
    # before it, or one it replaced): each is answered with the message after it.
    holder = request.find(m("AttachmentIds"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no AttachmentIds")
    elements = [c for c in holder if isinstance(c.tag, str)]
    answers: list = [None] * len(elements)
    groups: dict = {}
    cache: dict = {}
    for n, element in enumerate(elements):
        try:
            try:
                ref, path = ids.parse_attachment_id(element.get("Id") or "")
            except ids.MalformedId as e:
                raise EWSError(INVALID_ID_MALFORMED, f"attachment id: {e}") from None
            if ref.account != ctx.account:
                raise EWSError(ACCESS_DENIED, "the attachment belongs to another account")
            if ref.kind == ids.ITEM:
                answers[n] = await _delete_item_attachment(ctx, ref, path)
                continue
            msg = await _attachment_message(ctx, ref, cache)
        except (EWSError, SmsyncError) as e:
            answers[n] = _failed(ctx, "DeleteAttachment", e)
            continue
        # Grouped by the message as stored now, with the part's path in it now.
        groups.setdefault((msg.ref.source, msg.uid), (msg, []))[1].append((n, msg.attachment_path(path)))
    for msg, wanted in groups.values():
        found = []
        try:
            for n, path in wanted:
                part = attachments.find(msg.structure.root, path) if path is not None else None
                if part is None or any(path == other for _n, other, _p in found):
                    answers[n] = _failed(ctx, "DeleteAttachment", EWSError(
                        "ErrorItemNotFound", "no such attachment"))
                else:
                    found.append((n, path, part))
            if not found:
                continue
            raw = content = await items.body(msg)
            # Last first: a cut never moves the parts before it.
            for _n, path, _part in sorted(found, key=lambda f: -f[2].header_start):
                content = attachments.remove_part(content, msg.structure, path)
            item, modseq = await replace_message(ctx, msg, raw, content, [path for _n, path, _p in found])
        except (EWSError, SmsyncError, ValueError) as e:
            error = e if not isinstance(e, ValueError) else EWSError("ErrorInternalServerError", str(e))
            for n, _path in wanted:
                if answers[n] is None:
                    answers[n] = _failed(ctx, "DeleteAttachment", error)
            continue
        for n, _path, _part in found:
            root = etree.Element(m("RootItemId"), RootItemId=ids.item_id(item),
                                 RootItemChangeKey=ids.change_key(modseq))
            answers[n] = response_message("DeleteAttachment", children=[root])
    return response("DeleteAttachment", answers)
