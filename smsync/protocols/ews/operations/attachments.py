"""GetAttachment, CreateAttachment and DeleteAttachment (MS-OXWSATT) of file attachments
of messages, in the stored RFC 5322 message (``smsync.protocols.ews.attachments``).

Adding or removing attachments rewrites the message: the new one is appended to the
same folder with the old one's flags and date, then the old one is removed -- every
protocol sees one message replaced by another. The answer's RootItemId and
RootItemChangeKey name the new message, as Exchange answers them.
"""

from __future__ import annotations

from lxml import etree

from smsync.errors import SmsyncError
from smsync.model import UIDSet
from smsync.protocols.ews import attachments, ids, items
from smsync.protocols.ews.errors import (
    ACCESS_DENIED,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t



def _ids(request) -> list:
    holder = request.find(m("AttachmentIds"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no AttachmentIds")
    return [c for c in holder if isinstance(c.tag, str)]


def _ref(ctx, element) -> attachments.AttachmentRef:
    ref = attachments.parse_attachment_id(element.get("Id") or "")
    if ref.item.account != ctx.account:
        raise EWSError(ACCESS_DENIED, "the attachment belongs to another account")
    return ref


async def _message_and_part(ctx, ref: attachments.AttachmentRef):
    msg = await items.message(ctx, ref.item)
    parts = attachments.file_parts(msg.structure)
    if ref.index >= len(parts):
        raise EWSError("ErrorItemNotFound", "the message has no such attachment")
    return msg, parts


def _failed(ctx, name: str, error, children=()):
    error = from_store(error)
    ctx.log(f"{name}: {error.code}: {error.message}")
    return response_message(name, error.code, error.message, list(children))


@operation("GetAttachment")
async def get_attachment(ctx, request):
    answers = []
    for element in _ids(request):
        try:
            ref = _ref(ctx, element)
            msg, parts = await _message_and_part(ctx, ref)
            raw = await items.body(msg)
            node = attachments.attachment_element(ref, parts[ref.index].part, raw)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "GetAttachment", e, [etree.Element(m("Attachments"))]))
            continue
        holder = etree.Element(m("Attachments"))
        holder.append(node)
        answers.append(response_message("GetAttachment", children=[holder]))
    return response("GetAttachment", answers)


async def _replace(ctx, msg, content: bytes):
    """Store ``content`` in place of ``msg``: ``(new ItemRef, its modseq)``."""
    result = await msg.mailbox.append(content, flags=sorted(msg.info.flags),
                                      internal_date=msg.info.internal_date)
    await msg.mailbox.remove(UIDSet.of([msg.ref.uid]))
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
        msg = await items.message(ctx, items.parse_item_ref(ctx, parent))
        presented = ids.parse_change_key(parent.get("ChangeKey"))
        if presented is not None and presented != msg.info.modseq:
            raise EWSError("ErrorIrresolvableConflict", "the item changed since its ChangeKey")
        raw = await items.body(msg)
        eol = attachments._eol(raw)
        new_parts = [attachments.new_part(node, eol) for node in nodes]
        before = len(attachments.file_parts(msg.structure))
        content = attachments.add_parts(raw, msg.structure, new_parts)
        item, modseq = await _replace(ctx, msg, content)
    except (EWSError, SmsyncError) as e:
        # The message is rewritten once for all of them: they fail together.
        return response("CreateAttachment", [_failed(ctx, "CreateAttachment", e) for _ in nodes])
    from smsync.formats.message import parse_message

    parts = attachments.file_parts(parse_message(content))
    root = (ids.item_id(item), ids.change_key(modseq))
    answers = []
    for offset in range(len(nodes)):
        ref = attachments.AttachmentRef(item, before + offset)
        holder_out = etree.Element(m("Attachments"))
        if ref.index < len(parts):
            node = etree.SubElement(holder_out, t("FileAttachment"))
            etree.SubElement(node, t("AttachmentId"), Id=attachments.attachment_id(ref),
                             RootItemId=root[0], RootItemChangeKey=root[1])
        answers.append(response_message("CreateAttachment", children=[holder_out]))
    await ctx.note(f"CreateAttachment: {len(nodes)} attachment(s) added to a message")
    return response("CreateAttachment", answers)


@operation("DeleteAttachment")
async def delete_attachment(ctx, request):
    # Attachments of one message are removed in one rewrite (the ids all name the
    # message before it): each is answered with the message after it.
    elements = _ids(request)
    answers: list = [None] * len(elements)
    groups: dict = {}
    for n, element in enumerate(elements):
        try:
            ref = _ref(ctx, element)
        except EWSError as e:
            answers[n] = _failed(ctx, "DeleteAttachment", e)
            continue
        groups.setdefault(ref.item, []).append((n, ref))
    for item_ref, wanted in groups.items():
        try:
            msg = await items.message(ctx, item_ref)
            parts = attachments.file_parts(msg.structure)
            found = []
            for n, ref in wanted:
                if ref.index >= len(parts):
                    answers[n] = _failed(ctx, "DeleteAttachment", EWSError(
                        "ErrorItemNotFound", "the message has no such attachment"))
                elif all(ref.index != other.index for _m, other in found):
                    found.append((n, ref))
                else:
                    answers[n] = _failed(ctx, "DeleteAttachment", EWSError(
                        "ErrorItemNotFound", "the attachment is named twice"))
            if not found:
                continue
            content = await items.body(msg)
            # Last first: a cut never moves the parts before it.
            for _n, ref in sorted(found, key=lambda f: -parts[f[1].index].part.header_start):
                content = attachments.remove_part(content, parts[ref.index])
            item, modseq = await _replace(ctx, msg, content)
        except (EWSError, SmsyncError, ValueError) as e:
            error = e if not isinstance(e, ValueError) else EWSError("ErrorInternalServerError", str(e))
            for n, _given in wanted:
                if answers[n] is None:
                    answers[n] = _failed(ctx, "DeleteAttachment", error)
            continue
        for n, _given in found:
            root = etree.Element(m("RootItemId"), RootItemId=ids.item_id(item),
                                 RootItemChangeKey=ids.change_key(modseq))
            answers[n] = response_message("DeleteAttachment", children=[root])
    return response("DeleteAttachment", answers)
