"""Map: the client's ids (LUIDs) for the items the server added to it."""

from __future__ import annotations

from smsync.protocols.syncml import engine
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.commands import command


@command("Map")
async def map_items(ctx, cmd):
    target = m.text(cmd, "Target", "LocURI") or ""
    source = m.text(cmd, "Source", "LocURI")
    db = ctx.session.dbs.get(target.split("?", 1)[0])
    if db is None:
        ctx.status(cmd, m.NOT_FOUND, target=target, source=source)
        return
    for item in m.children(cmd, "MapItem"):
        guid = m.text(item, "Target", "LocURI")
        luid = m.text(item, "Source", "LocURI")
        if guid and luid:
            db.state.bind(luid, guid)
    await engine.save_state(ctx, db)
    ctx.status(cmd, m.OK, target=target, source=source)
