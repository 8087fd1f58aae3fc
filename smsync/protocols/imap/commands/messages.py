"""Commands that change messages: APPEND (MULTIAPPEND, APPENDLIMIT, CATENATE), STORE
(CONDSTORE UNCHANGEDSINCE), COPY and MOVE (UIDPLUS COPYUID), EXPUNGE and UID EXPUNGE."""

from __future__ import annotations

from datetime import datetime, timezone

from smsync.edge.quota import exceeded
from smsync.errors import NotFound, SmsyncError
from smsync.formats.transfer import encode_nul_parts
from smsync.model import FlagMode, UIDSet
from smsync.protocols.imap import catenate, encode
from smsync.protocols.imap.commands import AUTH, SELECTED, Reply, command

_MODES = {"set": FlagMode.SET, "add": FlagMode.ADD, "remove": FlagMode.REMOVE}


def _added_to_selected(session, mailbox, uids) -> None:
    """Messages ``uids`` were just added to ``mailbox``: if it is the selected one, have
    the command's completion report them (RFC 3501 6.3.11: EXISTS before the tagged OK).
    The store's change notice may come later than that (a store that commits on
    another thread hands it back to the reactor afterwards)."""
    sel = session.selected
    if sel is not None and sel.id == mailbox.id:
        sel.dirty = True
        sel.note_own_new(uids)


def client_flags(flags) -> tuple[str, ...]:
    # \Recent is the server's to set, per session; clients may not store it.
    return tuple(f for f in flags if f.lower() != "\\recent")


async def message_bytes(conn, msg):
    """What an APPEND (or REPLACE) stores for ``msg`` (an ``AppendMessage``): the bytes
    to store, or the tagged NO refusing them -- too large (RFC 7889 APPENDLIMIT), a
    CATENATE part naming nothing the user can read (RFC 4469 BADURL), or NUL octets
    that cannot be kept (RFC 3516)."""
    if msg.parts is None:
        data = msg.data
    else:
        try:
            data = await catenate.assemble(conn, msg.parts, conn.config.append_limit)
        except catenate.CatenateError as e:
            return Reply("NO", str(e), e.code)
    if len(data) > conn.config.append_limit:
        return Reply("NO", "message larger than APPENDLIMIT", "TOOBIG")
    # RFC 3516 4.4/6: a literal8 may carry NULs, which no literal can give back, so the
    # parts holding them are stored base64 encoded (BODY[n] then matches BODYSTRUCTURE
    # and BINARY[n] decodes them); a NUL that cannot be moved so makes the APPEND fail.
    storable = encode_nul_parts(data)
    if storable is None:
        return Reply("NO", "cannot store NUL octets outside a body part", "UNKNOWN-CTE")
    return storable


@command("APPEND", AUTH)
async def append(conn, cmd):
    session = conn.session
    name = session.decode_mailbox(cmd.args.mailbox)
    try:
        mailbox = await session.mail.mailbox(name)
    except NotFound:
        return Reply("NO", "no such mailbox", "TRYCREATE")
    storable = []
    for msg in cmd.args.messages:
        data = await message_bytes(conn, msg)
        if isinstance(data, Reply):
            return data
        storable.append(data)
    refused = await over_quota(conn, mailbox, sum(len(d) for d in storable), "IMAP APPEND")
    if refused is not None:
        return refused
    done = []
    uidvalidity = None
    session.own_change(name)
    try:
        for msg, data in zip(cmd.args.messages, storable):
            date = msg.date or datetime.now(timezone.utc)
            result = await mailbox.append(data, client_flags(msg.flags), date)
            done.append(result.uid)
            uidvalidity = result.uidvalidity
    except SmsyncError:
        # MULTIAPPEND is all or nothing (RFC 3502).
        if done:
            await mailbox.remove(UIDSet.of(done))
        raise
    _added_to_selected(session, mailbox, done)
    return Reply("OK", "APPEND completed", "APPENDUID %d %s" % (uidvalidity, encode.seq_set_ordered(done).decode()))


def owner_of(conn, mailbox) -> str:
    """Whose quota ``mailbox``'s messages count in: its owner's (a shared folder's is
    another account's)."""
    return getattr(mailbox, "account", None) or conn.session.account


async def over_quota(conn, mailbox, size, what: str):
    """The tagged NO [OVERQUOTA] (RFC 9208 5.3) when ``size`` more octets (or an async
    function of none giving them, ``smsync.edge.quota.exceeded``) would take the
    folder's owner past their quota, else None. Logged as ``what``."""
    refused = await exceeded(getattr(conn.factory.edge, "quotas", None), owner_of(conn, mailbox),
                             size, f"{what} by {conn.session.account}")
    return Reply("NO", str(refused), "OVERQUOTA") if refused is not None else None


def _fetch_line(conn, sel, seq: int, info, with_uid: bool, flags: bool = True) -> bytes:
    parts = []
    # RFC 7162 3.2.4 (a QRESYNC server): once CONDSTORE is on, UID and MODSEQ both.
    if with_uid or sel.condstore:
        parts.append(b"UID %d" % info.uid)
    if flags:
        shown = sel.flags_of(info)
        sel.announce(conn, shown)
        parts.append(b"FLAGS " + encode.flags(shown))
    if sel.condstore:
        parts.append(b"MODSEQ (%d)" % info.modseq)
    return b"%d FETCH (" % seq + b" ".join(parts) + b")"


@command("STORE", SELECTED)
async def store(conn, cmd):
    session = conn.session
    sel = session.selected
    args = cmd.args
    if sel.readonly:
        return Reply("NO", "mailbox is read-only", "READ-ONLY")
    if args.unchangedsince is not None:
        session.enable_condstore()
    uids = sel.resolve(args.seqset, cmd.uid, session.saved_uids)
    if not uids:
        return None
    result = await sel.mailbox.store_flags(
        UIDSet.of(uids), _MODES[args.mode], client_flags(args.flags), args.unchangedsince
    )
    sel.note_own(result.changed)
    for info in list(result.changed) + list(result.unchanged):
        seq = sel.seq_of(info.uid)
        if seq is None:
            continue
        if not args.silent:
            conn.untagged(_fetch_line(conn, sel, seq, info, cmd.uid))
        elif args.unchangedsince is not None and info in result.changed:
            # RFC 7162 3.1.3: MODSEQ of changed messages is reported even with .SILENT.
            conn.untagged(_fetch_line(conn, sel, seq, info, cmd.uid, flags=False))
    if result.modified:
        if cmd.uid:
            ids = result.modified
        else:
            ids = [s for s in (sel.seq_of(u) for u in result.modified) if s is not None]
        return Reply("OK", "conditional STORE failed for some", "MODIFIED " + encode.seq_set(ids).decode())
    return None


async def _copy(conn, cmd, move: bool):
    session = conn.session
    sel = session.selected
    if move and sel.readonly:
        return Reply("NO", "mailbox is read-only", "READ-ONLY")
    dest = session.decode_mailbox(cmd.args.mailbox)
    uids = sel.resolve(cmd.args.seqset, cmd.uid, session.saved_uids)
    try:
        target = await session.mail.mailbox(dest)
    except NotFound:
        return Reply("NO", "no such mailbox", "TRYCREATE")
    if not uids:
        return Reply("OK", "no messages matched")
    # A copy adds its messages' size to the target's owner; a move does too, but only
    # when it takes them from another account's folder (one within the account only
    # moves what is already counted).
    if not move or owner_of(conn, sel.mailbox) != owner_of(conn, target):
        async def size():
            return sum(i.size for i in await sel.mailbox.messages(UIDSet.of(uids)))

        refused = await over_quota(conn, target, size, f"IMAP {'UID ' if cmd.uid else ''}"
                                                       f"{'MOVE' if move else 'COPY'}")
        if refused is not None:
            return refused
    op = sel.mailbox.move if move else sel.mailbox.copy
    session.own_change(dest)
    result = await op(UIDSet.of(uids), dest)
    if result.dest_uids:
        _added_to_selected(session, target, result.dest_uids)
    code = None
    if result.source_uids:
        code = "COPYUID %d %s %s" % (
            result.uidvalidity,
            encode.seq_set_ordered(result.source_uids).decode(),
            encode.seq_set_ordered(result.dest_uids).decode(),
        )
    if move:
        if code:
            conn.untagged(f"OK [{code}] moved")
            code = None
        sel.forget(conn, list(result.source_uids), session.qresync)
    return Reply("OK", "MOVE completed" if move else "COPY completed", code)


@command("COPY", SELECTED)
async def copy(conn, cmd):
    return await _copy(conn, cmd, move=False)


@command("MOVE", SELECTED)
async def move(conn, cmd):
    return await _copy(conn, cmd, move=True)


@command("EXPUNGE", SELECTED)
async def expunge(conn, cmd):
    session = conn.session
    sel = session.selected
    if sel.readonly:
        return Reply("NO", "mailbox is read-only", "READ-ONLY")
    if cmd.uid:
        uids = sel.resolve(cmd.args.seqset, True, session.saved_uids)
        if not uids:
            return None
        removed = await sel.mailbox.expunge(UIDSet.of(uids))
    else:
        removed = await sel.mailbox.expunge()
    sel.forget(conn, removed, session.qresync)
    if removed and session.qresync:
        # RFC 7162 3.2.7 (and 3.2.9 for UID EXPUNGE): "If at least one message got
        # expunged and QRESYNC was enabled, the server MUST send the updated per-mailbox
        # modification sequence using the HIGHESTMODSEQ response code [...] in the
        # tagged OK response" -- once the client has been told all changes up to it.
        await session.report_changes(force=True)
        if session.selected is sel:
            return Reply("OK", "EXPUNGE completed", "HIGHESTMODSEQ %d" % sel.modseq)
    return None
