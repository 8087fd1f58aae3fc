"""Registry of SyncML command handlers, one per command, in the shape of IMAP's and EAS's.

A handler is ``async def handler(ctx, command) -> None`` registered with
``@command(NAME)``: ``ctx`` is the message's ``context.Context``, ``command`` the
command's element; it answers with ``ctx.status(...)`` (every command the client sent
gets one unless it said NoResp) and queues what the server sends (``ctx.session.queue``).
Commands without a handler are answered 406 (optional feature not supported) by the
server. Each module of this package registers the commands of one area; importing the
package imports them all.
"""

from __future__ import annotations

from typing import Callable, Optional

_REGISTRY: dict[str, Callable] = {}


def command(name: str):
    """Register the decorated coroutine as the handler of ``name``."""

    def register(fn):
        _REGISTRY[name] = fn
        return fn

    return register


def lookup(name: str) -> Optional[Callable]:
    return _REGISTRY.get(name)


def implemented() -> list[str]:
    return sorted(_REGISTRY)


from smsync.protocols.syncml.commands import alert, devinfo, mapping, status, sync  # noqa: E402,F401
