"""Which converter turns a list's stored items into rows and back: the fields module of
its type (``fields_events``, ``fields_contacts``, ``fields_tasks``: pure functions
``to_rows(content, info) -> list[dict]`` -- or ``to_row``, one row --, ``from_row(fields,
existing[, info]) -> bytes``, and the ``FIELDS`` GetList publishes).

``info`` is a ``RowInfo``: the item's name, UID, revision and the list item ID of its
(first) row, which a recurring event's occurrence rows name as MasterSeriesItemID."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable, Optional

import attrs


@attrs.frozen
class RowInfo:
    name: str
    uid: str
    revision: int
    item_id: Optional[int]


@attrs.frozen
class Converter:
    fields: tuple
    _to_rows: Callable
    _from_row: Callable
    _takes_info: bool

    def to_rows(self, content: bytes, info: RowInfo) -> list:
        return self._to_rows(content, info)

    def from_row(self, fields: dict, existing: Optional[bytes], info: Optional[RowInfo] = None) -> bytes:
        if self._takes_info:
            return self._from_row(fields, existing, info)
        return self._from_row(fields, existing)


def _make(fields, module) -> Converter:
    to_rows = getattr(module, "to_rows", None)
    if to_rows is None:
        one = module.to_row

        def to_rows(content, info):
            return [one(content, info)]

    try:
        takes_info = len(inspect.signature(module.from_row).parameters) >= 3
    except (TypeError, ValueError):
        takes_info = False
    return Converter(tuple(fields), to_rows, module.from_row, takes_info)


_CACHE: dict = {}


def converter(key: str) -> Converter:
    """The converter of list type ``key`` (``events``, ``contacts``, ``tasks``)."""
    found = _CACHE.get(key)
    if found is None:
        module = importlib.import_module(f"smsync.protocols.lists.fields_{key}")
        found = _CACHE[key] = _make(getattr(module, "FIELDS", ()), module)
    return found
