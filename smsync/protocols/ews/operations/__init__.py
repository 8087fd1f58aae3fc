"""Registry of EWS operation handlers, one per operation, in the shape of EAS's commands.

A handler is ``async def handler(ctx, request) -> element`` registered with
``@operation(NAME)``: ``ctx`` is the request's ``Context`` (account, version, store,
edge), ``request`` the operation's element (``<m:GetFolder>``); it returns the
operation's response element (``<m:GetFolderResponse>``), usually built with
``soap.response`` from one ResponseMessage per item asked for, so one bad id does not
fail the others (``each`` does that). ``SoapFault`` fails the request as a whole.
Each module of this package registers the operations of one area; importing the
package imports them all.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs


@attrs.frozen
class OperationSpec:
    name: str
    handler: Callable


_REGISTRY: dict[str, OperationSpec] = {}


def operation(name: str):
    """Register the decorated coroutine as the handler of ``name``."""

    def register(fn):
        _REGISTRY[name] = OperationSpec(name, fn)
        return fn

    return register


def lookup(name: str) -> Optional[OperationSpec]:
    return _REGISTRY.get(name)


def implemented() -> list[str]:
    """The operations served."""
    return sorted(_REGISTRY)


# Importing the modules registers their operations.
from smsync.protocols.ews.operations import (  # noqa: E402
    attachments,
    availability,
    changes,
    directory,
    finditem,
    folder_changes,
    folders,
    getitem,
    notifications,
    oof,
    rules,
    sending,
    server_info,
    syncing,
)

MODULES = (server_info, folders, folder_changes, finditem, getitem, changes, syncing,
           directory, attachments, notifications, sending, oof, rules, availability)
