"""Registry of the Lists web service's operations, one handler per operation.

A handler is ``async def handler(ctx, request) -> element`` registered with
``@operation(NAME)``: ``ctx`` is the request's ``Context`` (account, device state, store),
``request`` the parsed ``soap.Request``; it returns the operation's response element
(``<GetListResponse>``). ``ListsFault`` fails the request as a whole with the service's
own fault. Each module of this package registers the operations of one area; importing
the package imports them all.
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
from smsync.protocols.lists.operations import attachments, changes, items, legacy, lists, updates  # noqa: E402,E501

MODULES = (lists, items, changes, legacy, updates, attachments)
