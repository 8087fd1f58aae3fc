"""Status (the client's answers to the server's commands) and Results (its answer to a
Get): nothing to answer; failures are noted in the device's log."""

from __future__ import annotations

from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.commands import command


@command("Status")
async def status(ctx, cmd):
    code = m.text(cmd, "Data") or ""
    what = m.text(cmd, "Cmd") or "?"
    if code.startswith(("4", "5")) and what != "SyncHdr":
        ref = m.text(cmd, "TargetRef") or m.text(cmd, "SourceRef") or ""
        ctx.note(f"client answered {what} {ref} with {code}")
