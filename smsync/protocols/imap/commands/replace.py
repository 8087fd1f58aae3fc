"""REPLACE and UID REPLACE (RFC 8508): a message of the selected folder swapped for a new
one (a draft saved again), in place of APPEND, STORE \\Deleted and UID EXPUNGE.

The new message is appended first and the old one removed after, so a failure leaves
the old message in place: a failed append removes nothing, and a removal that fails
(or finds the old message already expunged by another session) takes the new message
back out. The client hears of the new message as of an APPEND (``* OK [APPENDUID ...]``,
and ``EXISTS`` when it went to the selected folder) and of the old one as of an EXPUNGE
(``EXPUNGE``, or ``VANISHED`` once QRESYNC is on), all before the tagged OK.
"""

from __future__ import annotations

from datetime import datetime, timezone

from smsync.errors import NotFound, SmsyncError
from smsync.model import UIDSet
from smsync.protocols.imap.commands import SELECTED, Reply, command
from smsync.protocols.imap.commands.messages import client_flags, message_bytes, over_quota, owner_of


def _old_uid(sel, number, uid_mode: bool):
    """The UID the command's message number (None: ``*``) names, or None."""
    uids = sel.uids
    if not uids:
        return None
    if number is None:
        return uids[-1]
    if uid_mode:
        return number if sel.seq_of(number) is not None else None
    return uids[number - 1] if number <= len(uids) else None


@command("REPLACE", SELECTED)
async def replace(conn, cmd):
    session = conn.session
    sel = session.selected
    args = cmd.args
    if sel.readonly:
        return Reply("NO", "mailbox is read-only", "READ-ONLY")
    old = _old_uid(sel, args.number, cmd.uid)
    if old is None:
        return Reply("NO", "no such message to replace")
    name = session.decode_mailbox(args.mailbox)
    try:
        target = await session.mail.mailbox(name)
    except NotFound:
        return Reply("NO", "no such mailbox", "TRYCREATE")
    data = await message_bytes(conn, args.message)
    if isinstance(data, Reply):
        return data
    msg = args.message
    found = await sel.mailbox.messages(UIDSet.of([old]))
    if not found:
        return Reply("NO", "the message to replace has been expunged")
    # The old message's size is given back to its owner: only a bigger new one (or
    # one going to another account's folder) counts against the target's quota.
    same_owner = owner_of(conn, sel.mailbox) == owner_of(conn, target)
    grows = len(data) - (found[0].size if same_owner else 0)
    refused = await over_quota(conn, target, grows, f"IMAP {'UID ' if cmd.uid else ''}REPLACE")
    if refused is not None:
        return refused
    result = await target.append(data, client_flags(msg.flags), msg.date or datetime.now(timezone.utc))
    try:
        removed = await sel.mailbox.remove(UIDSet.of([old]))
    except SmsyncError:
        await target.remove(UIDSet.of([result.uid]))
        raise
    if old not in removed:
        # Expunged by another session between our look and the removal.
        await target.remove(UIDSet.of([result.uid]))
        return Reply("NO", "the message to replace has been expunged")
    # In the order of RFC 8508's example: an untagged OK with APPENDUID (leaving the
    # tagged OK's response code to HIGHESTMODSEQ), the new message's EXISTS, then the old
    # one's EXPUNGE.
    conn.untagged(b"OK [APPENDUID %d %d] replacement stored" % (result.uidvalidity, result.uid))
    await session.report_changes(allow_expunge=False, force=True)
    if session.selected is not sel:
        return None  # the folder went meanwhile (report_changes said BYE)
    sel.forget(conn, [old], session.qresync)
    if session.qresync:
        return Reply("OK", "REPLACE completed", "HIGHESTMODSEQ %d" % sel.modseq)
    return Reply("OK", "REPLACE completed")
