"""SELECT and EXAMINE (with CONDSTORE and QRESYNC), CLOSE and UNSELECT."""

from __future__ import annotations

import bisect

from smsync.errors import PermissionDenied
from smsync.interfaces import IMailboxSelect
from smsync.model import SYSTEM_FLAGS
from smsync.protocols.imap import encode, objectid, rights, shared
from smsync.protocols.imap.commands import AUTH, SELECTED, CommandBad, Reply, command
from smsync.protocols.imap.recent import RecentMarks
from smsync.protocols.imap.selected import SelectedMailbox


@command("SELECT", AUTH, sync_after=False)
async def select(conn, cmd):
    return await _open(conn, cmd, readonly=False)


@command("EXAMINE", AUTH, sync_after=False)
async def examine(conn, cmd):
    return await _open(conn, cmd, readonly=True)


async def _open(conn, cmd, readonly: bool):
    session = conn.session
    args = cmd.args
    if args.qresync is not None and not session.qresync:
        raise CommandBad("QRESYNC parameter needs ENABLE QRESYNC first")
    if session.selected is not None:
        session.selected = None
        if session.qresync:
            conn.untagged("OK [CLOSED] previous mailbox closed")
    name = session.decode_mailbox(args.mailbox)
    mailbox = await session.mail.mailbox(name)
    # Someone else's folder: what its access control list lets this account do there.
    have = shared.rights_of(mailbox)
    if IMailboxSelect.providedBy(mailbox):
        # Optional fast path: one job (and one snapshot) instead of two.
        info, uids = await mailbox.info_and_uids()
    else:
        info = await mailbox.info()
        uids = await mailbox.uids()
    sel = SelectedMailbox(mailbox, info, uids, readonly, getattr(session.store, "uri", ""))
    if args.condstore or args.qresync is not None:
        # No mailbox is selected here: the HIGHESTMODSEQ below is the one RFC 7162 asks.
        session.enable_condstore()
    sel.condstore = session.condstore
    if not session.rev2:
        sel.marks = RecentMarks(session.store, mailbox)
        sel.recent = []
        await sel.take_recent(sel.uids, info.recent_mark)
    conn.untagged(b"FLAGS " + encode.flags(SYSTEM_FLAGS))
    permanent = encode.flags(() if readonly else rights.permanent_flags(SYSTEM_FLAGS, have))
    conn.untagged(b"OK [PERMANENTFLAGS " + permanent + b"] flags permitted")
    conn.untagged(b"%d EXISTS" % sel.exists)
    if not session.rev2:
        conn.untagged(b"%d RECENT" % sel.recent_count)
        if info.first_unseen_uid is not None:
            seq = bisect.bisect_left(sel.uids, info.first_unseen_uid) + 1
            if seq <= sel.exists:
                conn.untagged(b"OK [UNSEEN %d] first unseen" % seq)
    conn.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % info.uidvalidity)
    conn.untagged(b"OK [UIDNEXT %d] predicted next UID" % info.uidnext)
    conn.untagged(b"OK [HIGHESTMODSEQ %d] highest modseq" % info.highestmodseq)
    # RFC 8474 4.2: "MUST return an untagged OK response with the MAILBOXID response code
    # on all successful SELECT and EXAMINE commands".
    conn.untagged(b"OK [MAILBOXID (%s)] mailbox id" % objectid.mailbox_id(info.id).encode())
    if args.qresync is not None and args.qresync.uidvalidity == info.uidvalidity:
        await _qresync(conn, sel, args.qresync)
    session.selected = sel
    if readonly:
        return Reply("OK", "EXAMINE completed", "READ-ONLY")
    if not rights.read_write(have):
        # RFC 4314 5.2: none of "i", "e" or a flag right. Writes are refused by right
        # (NOPERM) rather than as a read-only selection would be.
        return Reply("OK", "SELECT completed", "READ-ONLY")
    return Reply("OK", "SELECT completed", "READ-WRITE")


async def _qresync(conn, sel: SelectedMailbox, params) -> None:
    """RFC 7162 3.2.5.2: tell a reconnecting client what vanished and what changed."""
    changes = await sel.mailbox.changes_since(params.modseq)
    known = params.known_uids
    top = sel.uids[-1] if sel.uids else 0
    expunged = list(changes.expunged)
    if known is not None:
        expunged = [u for u in expunged if known.contains(u, max(top, u))]
    if expunged:
        conn.untagged(b"VANISHED (EARLIER) " + encode.seq_set(expunged))
    for m in changes.changed:
        if known is not None and not known.contains(m.uid, max(top, m.uid)):
            continue
        seq = sel.seq_of(m.uid)
        if seq is not None:
            conn.untagged(sel.flags_response(conn, seq, m, with_uid=True))


@command("CLOSE", SELECTED, sync_after=False)
async def close(conn, cmd):
    sel = conn.session.selected
    conn.session.selected = None
    if not sel.readonly:
        # Silent expunge: CLOSE sends no EXPUNGE responses (RFC 3501 6.4.2).
        try:
            await sel.mailbox.expunge()
        except PermissionDenied:
            # RFC 4314 4: without "e", CLOSE "MUST ignore the expunge request, close
            # the mailbox, and return the tagged OK response".
            pass


@command("UNSELECT", SELECTED, sync_after=False)
async def unselect(conn, cmd):
    conn.session.selected = None
