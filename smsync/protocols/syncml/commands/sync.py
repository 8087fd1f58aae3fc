"""Sync: the client's changes to one database (Add, Replace, Delete), each answered with
its own Status.

An item's type is its own Meta Type, else its command's, else its Sync's, else the type
the session agreed for the database. A large object comes in chunks: every Item but the
last says MoreData (the first says the whole Size), each chunk is answered 213 and the
joined item is applied when the last arrives (424 if its size is not the one announced,
and the server takes no other item of that database meanwhile).
"""

from __future__ import annotations

from smsync.protocols.syncml import engine
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.commands import command

_ITEM_COMMANDS = ("Add", "Replace", "Delete")


@command("Sync")
async def sync(ctx, cmd):
    session = ctx.session
    target = m.text(cmd, "Target", "LocURI") or ""
    source = m.text(cmd, "Source", "LocURI")
    db = session.dbs.get(target.split("?", 1)[0])
    if db is None:
        ctx.status(cmd, m.NOT_FOUND, target=target, source=source)
        for sub in cmd.children:
            if sub.tag in _ITEM_COMMANDS + ("Copy", "Atomic", "Sequence", "Move"):
                ctx.status(sub, m.NOT_FOUND)
        return
    db.client_sync_seen = True
    ctx.status(cmd, m.OK, target=target, source=source)
    sync_type = m.metinf_text(cmd, "Type")
    pending: list = []   # (element, luid, Change or reply code)
    for sub in cmd.children:
        if sub.tag in ("Copy", "Atomic", "Sequence", "Move"):
            ctx.status(sub, m.NOT_SUPPORTED)
            continue
        if sub.tag not in _ITEM_COMMANDS:
            continue
        cmd_type = m.metinf_text(sub, "Type") or sync_type
        soft = m.child(sub, "SftDel") is not None
        cmd_size = m.metinf_text(sub, "Size")
        for item in m.children(sub, "Item"):
            luid = m.text(item, "Source", "LocURI") or m.text(item, "Target", "LocURI")
            mime = m.metinf_text(item, "Type") or cmd_type
            data = m.data_bytes(m.child(item, "Data"))
            size = m.metinf_text(item, "Size") or cmd_size
            more = m.child(item, "MoreData") is not None
            got = _chunked(db, sub.tag, luid, mime, data, size, more)
            if isinstance(got, str):
                pending.append((sub, luid, got))
                continue
            if got is not None:
                sub_tag, luid, mime, data = got
            pending.append((sub, luid, engine.Change(sub.tag, luid, data, mime, soft)))
    changes = [c for _, _, c in pending if isinstance(c, engine.Change)]
    if changes:
        await engine.apply(ctx, db, changes)
    for sub, luid, outcome in pending:
        code = outcome if isinstance(outcome, str) else outcome.reply
        ctx.status(sub, code, source=luid if sub.tag != "Delete" else None,
                   target=luid if sub.tag == "Delete" else None)


def _chunked(db, command: str, luid, mime, data, size, more: bool):
    """Large objects: None for a whole item; a reply code for a chunk kept (213) or a
    chunk refused; (command, luid, mime, joined data) when the last chunk completes it."""
    chunk = db.chunk
    if chunk is None and not more:
        return None
    if chunk is None:
        if not size or not size.isdigit():
            return m.INCOMPLETE  # 412: a chunked item must say its size
        db.chunk = [luid, command, mime, int(size), bytearray(data or b"")]
        return m.CHUNK_ACCEPTED
    if chunk[0] != luid:
        db.chunk = None
        return m.INCOMPLETE  # another item before the last one was complete
    chunk[4] += data or b""
    if len(chunk[4]) > chunk[3]:
        db.chunk = None
        return m.SIZE_MISMATCH
    if more:
        return m.CHUNK_ACCEPTED
    db.chunk = None
    if len(chunk[4]) != chunk[3]:
        return m.SIZE_MISMATCH
    return chunk[1], luid, chunk[2], bytes(chunk[4])
