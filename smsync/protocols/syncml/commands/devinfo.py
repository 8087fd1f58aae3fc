"""Put and Get of device information, and Results: the client sends its DevInf (Put) and
asks for the server's (Get ``./devinf11`` or ``./devinf12``), answered with Results."""

from __future__ import annotations

from smsync.edge.devices import Client
from smsync.formats.wbxml import Element
from smsync.protocols.syncml import codec
from smsync.protocols.syncml import devinf as devinfo
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.codepages import DEVINF_NS
from smsync.protocols.syncml.commands import command
from smsync.protocols.syncml.databases import DEVINF_KEY


def _devinf_of(item) -> Element | None:
    data = m.child(item, "Data")
    if data is None:
        return None
    return next((c for c in data.children if c.namespace == DEVINF_NS and c.tag == "DevInf"), None)


def devinfo_of(cmd) -> Element | None:
    """The DevInf a Put or Results carries, or None."""
    for item in m.children(cmd, "Item"):
        found = _devinf_of(item)
        if found is not None:
            return found
    return None


async def _take(ctx, cmd) -> bool:
    for item in m.children(cmd, "Item"):
        found = _devinf_of(item)
        if found is not None:
            info = devinfo.parse_client_devinf(found)
            ctx.session.client_info = info
            await ctx.store.devices.save_state(ctx.account, ctx.device_id, DEVINF_KEY, info.to_bytes())
            session = ctx.session
            # The devices list shows its maker and model from now on.
            await ctx.edge.devices.record(ctx.account, "syncml", Client.syncml(
                session.device_uri, info.agent(), session.host))
            return True
    return False


@command("Put")
async def put(ctx, cmd):
    ctx.status(cmd, m.OK if await _take(ctx, cmd) else m.NOT_SUPPORTED,
               source=m.text(cmd, "Item", "Source", "LocURI"))


@command("Results")
async def results(ctx, cmd):
    await _take(ctx, cmd)
    ctx.status(cmd, m.OK)


@command("Get")
async def get(ctx, cmd):
    b = ctx.b
    target = m.text(cmd, "Item", "Target", "LocURI") or ""
    if target.lower().lstrip("./") not in ("devinf11", "devinf12", "devinf10"):
        ctx.status(cmd, m.NOT_FOUND, target=target)
        return
    ctx.status(cmd, m.OK, target=target)
    session = ctx.session
    doc = devinfo.server_devinf(session.version, session.server_uri)
    ctx.session.queue(b.el(
        "Results", b.leaf("MsgRef", ctx.msg_id), b.leaf("CmdRef", m.text(cmd, "CmdID") or "0"),
        b.meta(b.meta_value("Type", codec.devinf_type(session.encoding))),
        b.el("Item", b.loc("Source", target), Element(session.version.namespace, "Data", (doc,)))))
