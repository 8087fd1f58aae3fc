"""Registry of EAS command handlers, one per command, in the shape of IMAP's.

A handler is ``async def handler(ctx, body) -> Element | None`` registered with
``@command(NAME)``: ``ctx`` is the request's ``Context`` (account, device, version,
store, edge), ``body`` the decoded WBXML request (None for an empty body); it returns
the WBXML response (None: an empty 200; a ``smsync.edge.web.Response`` for an answer
that is not WBXML). ``CommandError`` answers with an HTTP status.
Each module of this package registers the commands of one area; importing the package
imports them all.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs


class CommandError(Exception):
    """The request is wrong at the HTTP level: answered with ``status`` and logged."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@attrs.frozen
class CommandSpec:
    name: str
    handler: Callable
    #: Whether the device must hold the current policy key (every command but
    #: Provision, MS-ASPROV 3.2.5.1).
    needs_policy: bool = True
    #: The namespace of the command's response, where a Status 142 goes.
    namespace: str = ""


_REGISTRY: dict[str, CommandSpec] = {}


def command(name: str, namespace: str, needs_policy: bool = True):
    """Register the decorated coroutine as the handler of ``name``."""

    def register(fn):
        _REGISTRY[name] = CommandSpec(name, fn, needs_policy, namespace)
        return fn

    return register


def lookup(name: str) -> Optional[CommandSpec]:
    return _REGISTRY.get(name)


def implemented() -> list[str]:
    """The commands served, for OPTIONS' MS-ASProtocolCommands."""
    return sorted(_REGISTRY)


from smsync.protocols.eas.commands import folders, ping, provision, sync  # noqa: E402,F401  (registration)
from smsync.protocols.eas.commands import estimate  # noqa: E402,F401
from smsync.protocols.eas.commands import items  # noqa: E402,F401
from smsync.protocols.eas.commands import compose  # noqa: E402,F401
from smsync.protocols.eas.commands import moves  # noqa: E402,F401
from smsync.protocols.eas.commands import search  # noqa: E402,F401
from smsync.protocols.eas.commands import recipients  # noqa: E402,F401
from smsync.protocols.eas.commands import settings  # noqa: E402,F401
from smsync.protocols.eas.commands import meeting  # noqa: E402,F401
