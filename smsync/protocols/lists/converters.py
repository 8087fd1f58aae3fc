"""Which converter turns a list's stored items into rows and back: the fields module of
its type (``fields_events``, ``fields_contacts``, ``fields_tasks``, pure functions
``to_row(content, info) -> dict`` and ``from_row(fields, existing) -> bytes`` and the
``FIELDS`` GetList publishes)."""

from __future__ import annotations

import importlib
from typing import Callable

import attrs


@attrs.frozen
class Converter:
    fields: tuple
    to_row: Callable
    from_row: Callable


_CACHE: dict = {}


def converter(key: str) -> Converter:
    """The converter of list type ``key`` (``events``, ``contacts``, ``tasks``)."""
    found = _CACHE.get(key)
    if found is not None:
        return found
    name = f"smsync.protocols.lists.fields_{key}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        from smsync.protocols.lists.fields_stub import FIELDS, STUBS

        stub = STUBS[key]
        found = Converter(FIELDS, stub.to_row, stub.from_row)
    else:
        found = Converter(tuple(getattr(module, "FIELDS", ())), module.to_row, module.from_row)
    _CACHE[key] = found
    return found
