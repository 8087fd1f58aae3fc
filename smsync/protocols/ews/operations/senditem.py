"""SendItem (MS-OXWSCORE 3.1.4.7): a saved draft sent through the edge's submitter --
the same path CreateItem's SendOnly takes -- to the recipients of its header fields.
The copies sent lose the Bcc field; the sender's copy keeps it and is filed in Sent
Items (or the SavedItemFolderId) when SaveItemToFolder asks; the draft is then removed,
as Exchange does."""

from __future__ import annotations

from smsync.errors import SmsyncError
from smsync.formats.headers import without_fields
from smsync.model import Role, UIDSet
from smsync.protocols.ews import items, tree
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.changes import _header_recipients
from smsync.protocols.ews.operations.getitem import item_ids
from smsync.protocols.ews.soap import m, response, response_message, xs_bool

SEEN, DRAFT = "\\Seen", "\\Draft"


async def _saved_folder(ctx, request):
    """The mail folder SavedItemFolderId names (None: Sent Items)."""
    holder = request.find(m("SavedItemFolderId"))
    if holder is None:
        return None
    targets = [c for c in holder if isinstance(c.tag, str)]
    if len(targets) != 1:
        raise EWSError(SCHEMA_VALIDATION, "SavedItemFolderId names one folder")
    folder = await tree.resolve(ctx, targets[0])
    if not folder.is_mail:
        raise EWSError(INVALID_OPERATION, "a sent message is saved only in a mail folder")
    return await tree.mailbox_of(ctx, folder)


@operation("SendItem")
async def send_item(ctx, request):
    from smsync.edge.outbound import SendFailed

    save = xs_bool(request.get("SaveItemToFolder", "true"))
    elements = item_ids(request)
    try:
        saved = await _saved_folder(ctx, request) if save else None
        mail = await ctx.store.mail(ctx.account)
        sent = await mail.mailbox_by_role(Role.SENT) if save else None
    except (EWSError, SmsyncError) as e:
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"SendItem: {error.code}: {error.message}")
        return response("SendItem", [response_message("SendItem", error.code, error.message)
                                     for _ in elements])
    answers = []
    for element in elements:
        try:
            msg = await items.message(ctx, items.parse_item_ref(ctx, element))
            if DRAFT not in msg.info.flags:
                raise EWSError(INVALID_OPERATION, "only a draft is sent; forward a received message")
            content = await items.body(msg)
            recipients = _header_recipients(content)
            if not recipients:
                raise EWSError("ErrorInvalidRecipients", "the draft has no recipients")
            in_sent = save and (saved is None or saved.id == sent.id)
            try:
                await ctx.edge.outbound.submitter.send(
                    ctx.account, ctx.account, recipients, without_fields(content, "Bcc"),
                    save_in_sent=in_sent, sent_copy=content)
            except SendFailed as e:
                raise EWSError("ErrorMessageSubmissionBlocked", str(e)) from None
            if save and not in_sent:
                await saved.append(content, flags=[SEEN])
            await msg.mailbox.remove(UIDSet.of([msg.ref.uid]))
        except (EWSError, SmsyncError) as e:
            error = from_store(e)
            ctx.log(f"SendItem: {error.code}: {error.message}")
            answers.append(response_message("SendItem", error.code, error.message))
            continue
        await ctx.note(f"SendItem: sent a draft to {len(recipients)} recipient(s)")
        answers.append(response_message("SendItem"))
    return response("SendItem", answers)
