"""SendItem (send a saved draft) and MarkAsJunk (move a message to Junk Email, or back to
the Inbox, with the $Junk/$NotJunk keywords mail clients share)."""

from __future__ import annotations

import re

from lxml import etree

from smsync.errors import SmsyncError
from smsync.model import FlagMode, Role, UIDSet
from smsync.protocols.ews import ids, items, tree
from smsync.protocols.ews.errors import INVALID_OPERATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.changes import header_recipients, role_box
from smsync.protocols.ews.operations.getitem import item_ids
from smsync.protocols.ews.soap import m, response, response_message, xs_bool

_BCC = re.compile(rb"^Bcc:.*?\r?\n(?=[^ \t]|$)", re.IGNORECASE | re.MULTILINE | re.DOTALL)


def without_bcc(raw: bytes) -> bytes:
    """``raw`` with its Bcc field (folded lines included) taken out of the header."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    return _BCC.sub(b"", head + b"\r\n").rstrip(b"\r\n") + sep + body


def _failed(ctx, name: str, error):
    error = from_store(error)
    ctx.log(f"{name}: {error.code}: {error.message}")
    return response_message(name, error.code, error.message)


async def send_stored(ctx, msg, save: bool, target=None, name: str = "SendItem") -> None:
    """Send the saved message ``msg`` (a draft) to the recipients of its header, its
    copy kept in ``target`` (a mail folder), else in Sent Items when ``save``; the
    message itself is removed (SendItem; UpdateItem with a MessageDisposition that
    sends)."""
    from smsync.edge.outbound import SendFailed

    raw = await items.body(msg)
    recipients = header_recipients(raw)
    if not recipients:
        raise EWSError("ErrorInvalidRecipients", "the message has no recipients")
    try:
        await ctx.edge.outbound.submitter.send(ctx.account, ctx.account, recipients,
                                               without_bcc(raw), sent_copy=raw,
                                               save_in_sent=save and target is None)
    except SendFailed as e:
        raise EWSError("ErrorMessageSubmissionBlocked", str(e)) from None
    if target is not None:
        await (await tree.mailbox_of(ctx, target)).append(raw, flags=["\\Seen"])
    await msg.mailbox.remove(UIDSet.of([msg.uid]))
    await ctx.note(f"{name}: sent a message to {len(recipients)} recipient(s)")


@operation("SendItem")
async def send_item(ctx, request):
    save = xs_bool(request.get("SaveItemToFolder", "true"))
    saved = request.find(m("SavedItemFolderId"))
    target = None
    answers = []
    for element in item_ids(request):
        try:
            if saved is not None and save and target is None:
                found = [c for c in saved if isinstance(c.tag, str)]
                target = await tree.resolve(ctx, found[0]) if found else None
                if target is not None and not target.is_mail:
                    raise EWSError(INVALID_OPERATION, "a sent copy goes to a mail folder")
            ref = items.parse_item_ref(ctx, element)
            await send_stored(ctx, await items.message(ctx, ref), save, target)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "SendItem", e))
            continue
        answers.append(response_message("SendItem"))
    return response("SendItem", answers)


@operation("MarkAsJunk")
async def mark_as_junk(ctx, request):
    junk = xs_bool(request.get("IsJunk"))
    move = xs_bool(request.get("MoveItem"))
    dest = await role_box(ctx, Role.JUNK if junk else Role.INBOX) if move else None
    answers = []
    for element in item_ids(request):
        try:
            ref = items.parse_item_ref(ctx, element)
            msg = await items.message(ctx, ref)
            uids = UIDSet.of([msg.uid])
            await msg.mailbox.store_flags(uids, FlagMode.ADD, ["$Junk" if junk else "$NotJunk"])
            await msg.mailbox.store_flags(uids, FlagMode.REMOVE, ["$NotJunk" if junk else "$Junk"])
            node = None
            if dest is not None and dest.id != msg.mailbox.id:
                result = await msg.mailbox.move(uids, (await dest.info()).name)
                if result.dest_uids:
                    node = etree.Element(m("MovedItemId"), Id=ids.item_id(
                        ids.ItemRef(ctx.account, ids.MESSAGE, dest.id, str(result.dest_uids[0]))))
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "MarkAsJunk", e))
            continue
        answers.append(response_message("MarkAsJunk", children=[node] if node is not None else []))
    return response("MarkAsJunk", answers)


