"""MoveItems (MS-ASCMD 2.2.1.12): the phone moves messages between mail folders. A
moved message gets a new UID in its new folder, which is its new server id (DstMsgId).

Items of calendars, address books, task and note lists are not moved (Status 5): no
phone moves them with MoveItems, and doing it would need their converters.
"""

from __future__ import annotations

from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound, QuotaExceeded
from smsync.model import UIDSet
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.wbxml import Element
from smsync.sync import MAIL, SourceRef

MOVE = "Move:"

#: MoveItems Status values (MS-ASCMD 2.2.3.177.9).
INVALID_SOURCE, INVALID_DESTINATION, OK, SAME_FOLDER, FAILED, LOCKED = "1", "2", "3", "4", "5", "7"

#: Moves taken in one request: a phone moves what one screen selects.
MAX_MOVES = 1000


def _m(tag: str, text=None, *children) -> Element:
    return Element(MOVE, tag, children, text)


def _text(element, tag: str):
    child = element.find(MOVE, tag)
    return child.text if child is not None and child.text else None


async def _is_collection(ctx, folder_id: str) -> bool:
    collections = await ctx.store.collections(ctx.account)
    try:
        await collections.collection_by_id(folder_id)
    except NotFound:
        return False
    return True


async def move_one(ctx, names: dict, src_msg: str, src_folder: str, dst_folder: str):
    """Move message ``src_msg`` of mail folder ``src_folder`` to ``dst_folder`` (server
    ids; ``names`` maps folder ids to names). Fire with ``(status, new server id or
    None)``."""
    if src_folder not in names:
        return (FAILED if await _is_collection(ctx, src_folder) else INVALID_SOURCE), None
    if dst_folder not in names:
        return INVALID_DESTINATION, None
    if src_folder == dst_folder:
        return SAME_FOLDER, None
    if not src_msg.isdigit():
        return INVALID_SOURCE, None
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(src_folder)
        result = await box.move(UIDSet.of([int(src_msg)]), names[dst_folder])
    except NotFound:
        return INVALID_SOURCE, None
    except (Conflict, AlreadyExists):
        return LOCKED, None
    except (QuotaExceeded, InvalidData):
        return FAILED, None
    if not result.dest_uids:
        return INVALID_SOURCE, None
    new_id = str(result.dest_uids[0])
    # The device moved its own copy: neither the source's expunge nor the destination's
    # new message is news to it.
    await ctx.sync_adapter.moved(ctx.account, ctx.device_id, SourceRef(MAIL, src_folder), src_msg,
                                 SourceRef(MAIL, dst_folder), new_id)
    return OK, new_id


@command("MoveItems", MOVE)
async def move_items(ctx, body):
    if body is None or (body.namespace, body.tag) != (MOVE, "MoveItems"):
        raise CommandError(400, "MoveItems needs a MoveItems body")
    moves = [c for c in body.children if (c.namespace, c.tag) == (MOVE, "Move")]
    if not moves or len(moves) > MAX_MOVES:
        raise CommandError(400, f"MoveItems with {len(moves)} moves")
    mail = await ctx.store.mail(ctx.account)
    names = {entry.id: entry.name for entry in await mail.list_mailboxes()}
    responses, done = [], 0
    for move in moves:
        src_msg = _text(move, "SrcMsgId") or ""
        src_folder, dst_folder = _text(move, "SrcFldId"), _text(move, "DstFldId")
        if src_folder is None:
            status, new_id = INVALID_SOURCE, None
        elif dst_folder is None:
            status, new_id = INVALID_DESTINATION, None
        else:
            status, new_id = await move_one(ctx, names, src_msg, src_folder, dst_folder)
        done += status == OK
        out = [_m("SrcMsgId", src_msg), _m("Status", status)]
        if new_id is not None:
            out.append(_m("DstMsgId", new_id))
        responses.append(_m("Response", None, *out))
    ctx.log(f"MoveItems: {done} of {len(moves)} moved")
    return _m("MoveItems", None, *responses)
