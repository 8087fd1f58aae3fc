"""Alert: the client asks for a sync of one database (200-210), or for the next message
of the server's package (222).

A sync alert names the server database (Item Target) and the client's (Item Source) with
the client's anchors. Incremental syncs (200, 202, 204) need the client's Last anchor to
be the Next the server kept from the last session; otherwise -- or when the server has no
state for the device -- the answer is 508 (refresh required) and the sync is slow. The
Status echoes the client's Next anchor; the server's own Alert says the sync it runs
with its anchors.
"""

from __future__ import annotations

import time

from smsync.protocols.syncml import devinf as devinfo
from smsync.protocols.syncml import engine
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.commands import command
from smsync.protocols.syncml.databases import database, default_collection
from smsync.protocols.syncml.session import DbSync

_counter = [0]


def _server_anchor() -> str:
    _counter[0] = (_counter[0] + 1) % 1000
    return f"{int(time.time())}{_counter[0]:03d}"


@command("Alert")
async def alert(ctx, cmd):
    code = m.int_or(m.text(cmd, "Data"), 0)
    if code == m.NEXT_MESSAGE:
        ctx.status(cmd, m.OK)
        return
    if code in m.SERVER_ALERTED:
        code = m.SERVER_ALERTED[code]
    if code not in m.SYNC_ALERTS:
        ctx.status(cmd, m.NOT_SUPPORTED)
        return
    for item in m.children(cmd, "Item"):
        await _one(ctx, cmd, code, item)


async def _one(ctx, cmd, code: int, item) -> None:
    b = ctx.b
    session = ctx.session
    target = m.text(item, "Target", "LocURI")
    client_uri = m.text(item, "Source", "LocURI") or ""
    last, nxt = m.anchor(item)
    echo = [b.el("Item", b.el("Data", b.meta_value("Anchor", None, b.meta_value("Next", nxt))))] if nxt else []
    db_def = database(target)
    if db_def is None:
        ctx.note(f"alert {code} for unknown database {target!r}")
        ctx.status(cmd, m.NOT_FOUND, target=target, source=client_uri)
        return
    fmt = devinfo.send_type(db_def, client_uri, session.client_info)
    if fmt is None:
        ctx.note(f"alert {code} for {target}: no format for {db_def.kind.value} yet")
        ctx.status(cmd, m.NOT_SUPPORTED, target=target, source=client_uri)
        return
    collections = await ctx.store.collections(ctx.account)
    info = await default_collection(collections, db_def.kind)
    if info is None:
        ctx.status(cmd, m.NOT_FOUND, target=target, source=client_uri)
        return
    state = await engine.load_state(ctx.store, ctx.account, ctx.device_id, info.id)
    reply = m.OK
    mode = code
    if code in (m.TWO_WAY, m.ONE_WAY_FROM_CLIENT, m.ONE_WAY_FROM_SERVER):
        if state.key is None or state.anchor is None or last != state.anchor:
            reply = m.REFRESH_REQUIRED
            mode = m.SLOW
    device = await ctx.store.devices.get(ctx.account, ctx.device_id)
    name = target.split("?", 1)[0]
    db = DbSync(name=name, client_uri=client_uri, database=db_def, collection_id=info.id,
                mode=mode, state=state, client_next=nxt, server_next=_server_anchor(),
                send_type=fmt.mime, policy=device.conflict_policy)
    max_obj = m.metinf_text(item, "MaxObjSize")
    if max_obj and max_obj.isdigit():
        session.max_obj_size = int(max_obj)
    session.dbs[name] = db
    await engine.begin(ctx, db)
    ctx.status(cmd, reply, target=target, source=client_uri, items=echo)
    session.queue(b.el("Alert", b.leaf("Data", mode), b.el(
        "Item", b.loc("Target", client_uri), b.loc("Source", name),
        b.meta(b.meta_value("Anchor", None, *[e for e in (
            b.meta_value("Last", state.server_anchor) if state.server_anchor else None,
            b.meta_value("Next", db.server_next)) if e is not None])))))
    ctx.note(f"{name}: client asked {m.ALERT_NAMES.get(code, code)}, "
             f"server runs {m.ALERT_NAMES.get(mode, mode)}" + (" (anchors differ)" if reply == m.REFRESH_REQUIRED else ""))

