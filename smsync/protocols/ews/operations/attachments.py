"""GetAttachment (MS-OXWSCORE 3.1.4.3): a message's attachment, decoded from the stored
bytes. (CreateAttachment and DeleteAttachment would rewrite the message: not yet.)"""

from __future__ import annotations

from lxml import etree

from smsync.errors import NotFound, SmsyncError
from smsync.protocols.ews import attachments, ids, items
from smsync.protocols.ews.errors import ACCESS_DENIED, INVALID_ID_MALFORMED, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message


@operation("GetAttachment")
async def get_attachment(ctx, request):
    holder = request.find(m("AttachmentIds"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no AttachmentIds")
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
            msg = await items.message(ctx, ref)
            part = attachments.find(msg.structure.root, path)
            if part is None:
                raise EWSError("ErrorItemNotFound", "no such attachment")
            try:
                raw = await msg.mailbox.read_body(ref.uid, part.body_start, part.body_end - part.body_start)
            except NotFound:
                raise EWSError("ErrorItemNotFound", "the item is gone") from None
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
