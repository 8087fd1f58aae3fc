"""The list converter of each collection kind: ``converter(kind)`` is one of
``fields_events``, ``fields_contacts``, ``fields_tasks`` -- each with ``FIELDS``,
``KIND``, ``SERVER_TEMPLATE``, ``to_row``, ``to_rows`` and ``from_row``."""

from __future__ import annotations

from types import ModuleType

from smsync.errors import NotFound
from smsync.model import CollectionKind

from . import fields_contacts, fields_events, fields_tasks

CONVERTERS: dict[CollectionKind, ModuleType] = {
    module.KIND: module for module in (fields_events, fields_contacts, fields_tasks)}


def converter(kind: CollectionKind) -> ModuleType:
    """The converter for collections of ``kind``; ``NotFound`` for a kind no list
    type shows (notes, scheduling mailboxes)."""
    try:
        return CONVERTERS[CollectionKind(kind)]
    except (KeyError, ValueError):
        raise NotFound(f"no list type for {kind!r} collections") from None
