"""MarkAsJunk (MS-OXWSMSG 3.1.4.3): a message marked as junk gets the ``$Junk`` keyword
(and loses ``$NotJunk``) -- the keywords IMAP clients and filters use -- and, with
MoveItem, goes to the Junk folder; marked as not junk, the reverse, back to the Inbox.
Every item is answered on its own, with the id it has after the move."""

from __future__ import annotations

from lxml import etree

from smsync.errors import SmsyncError
from smsync.model import FlagMode, Role, UIDSet
from smsync.protocols.ews import ids, items
from smsync.protocols.ews.errors import FOLDER_NOT_FOUND, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.getitem import item_ids
from smsync.protocols.ews.soap import m, response, response_message, xs_bool

JUNK, NOT_JUNK = "$Junk", "$NotJunk"


async def _role_box(ctx, role: Role):
    mail = await ctx.store.mail(ctx.account)
    try:
        return await mail.mailbox_by_role(role)
    except SmsyncError:
        return None


def moved_id(account: str, source: str, uid: int, modseq: int):
    """The ``<m:MovedItemId>`` of a message where it is now."""
    ref = ids.ItemRef(account, ids.MESSAGE, source, str(uid))
    return etree.Element(m("MovedItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(modseq))


@operation("MarkAsJunk")
async def mark_as_junk(ctx, request):
    is_junk = xs_bool(request.get("IsJunk"))
    move = xs_bool(request.get("MoveItem"))
    target = await _role_box(ctx, Role.JUNK if is_junk else Role.INBOX) if move else None
    answers = []
    for element in item_ids(request):
        try:
            if move and target is None:
                raise EWSError(FOLDER_NOT_FOUND, "the account has no %s folder"
                               % ("Junk" if is_junk else "Inbox"))
            ref = items.parse_item_ref(ctx, element)
            mailbox = await items.open_mailbox(ctx, ref.source)
            msg = await items.message(ctx, ref, mailbox)
            uids = UIDSet.of([ref.uid])
            await mailbox.store_flags(uids, FlagMode.ADD, [JUNK if is_junk else NOT_JUNK])
            await mailbox.store_flags(uids, FlagMode.REMOVE, [NOT_JUNK if is_junk else JUNK])
            children = []
            if move and target.id != mailbox.id:
                result = await mailbox.move(uids, (await target.info()).name)
                if not result.dest_uids:
                    raise EWSError("ErrorItemNotFound", "the item is gone")
                [info] = await target.messages(UIDSet.of([result.dest_uids[0]]))
                children.append(moved_id(ctx.account, target.id, info.uid, info.modseq))
            elif move:
                [info] = await mailbox.messages(uids)
                children.append(moved_id(ctx.account, mailbox.id, info.uid, info.modseq))
            del msg
        except (EWSError, SmsyncError) as e:
            error = from_store(e)
            ctx.log(f"MarkAsJunk: {error.code}: {error.message}")
            answers.append(response_message("MarkAsJunk", error.code, error.message))
            continue
        answers.append(response_message("MarkAsJunk", children=children))
    verdict = "junk" if is_junk else "not junk"
    ctx.log(f"MarkAsJunk: {len(answers)} item(s) marked {verdict}{', moved' if move else ''}")
    return response("MarkAsJunk", answers)
