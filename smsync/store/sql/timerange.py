"""The indexed time-range query over calendar instances (``spans``).

A span ``[s, e)`` overlaps the asked ``[S, E)`` when ``s < E`` and either ``e > S`` or the
instance starts inside the range (``s >= S``, which also covers zero-length instances
such as an event with only a DTSTART, per RFC 4791 9.9). Short spans (at most
``SHORT_SPAN`` long) are found by an index range on their start, ``[S - SHORT_SPAN, E)``;
long spans are few and scanned per collection. Items whose recurrence was expanded only
up to some instant before ``E`` are checked with the exact ``icalendar.overlaps``.

The backends name their span columns differently and fetch sets of ids each its own
way, so they hand ``matching_items`` their three queries (``SpanQueries``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Protocol

#: Window within which short spans are looked up by start: spans longer than this are "long".
SHORT_SPAN = 8 * 86400

#: Open ends of a range, as epoch seconds (well inside 64-bit integers).
OPEN_START = -(1 << 60)
OPEN_END = 1 << 60

ITEM_COLS = "name, uid, etag, revision, size, component"


def _epoch(value: datetime | None, default: int, rounding) -> int:
    if value is None:
        return default
    if value.tzinfo is None:
        # Floating times are taken in UTC, as the items' own floating times are.
        value = value.replace(tzinfo=timezone.utc)
    return max(OPEN_START, min(OPEN_END, rounding(value.timestamp())))


class SpanQueries(Protocol):
    def span_ids(self, conn, pk: int, s: int, e: int, lo: int) -> set:
        """Ids of items of ``pk`` with a span overlapping ``[s, e)``; short spans
        start at ``lo`` or later."""

    def open_ended(self, conn, pk: int, e: int, ids: set) -> list:
        """``(id, content)`` of items of ``pk`` expanded only up to before ``e``; those
        in ``ids`` may be left out."""

    def item_rows(self, conn, ids: set) -> list:
        """``ITEM_COLS`` rows of the items ``ids``, in any order."""


def matching_items(conn, queries: SpanQueries, pk: int, start, end, components=None) -> list:
    """Rows (name, uid, etag, revision, size, component) of collection ``pk`` with an
    instance overlapping ``[start, end)``, sorted by name. Blocking."""
    s = _epoch(start, OPEN_START, math.floor)
    e = _epoch(end, OPEN_END, math.ceil)
    ids = queries.span_ids(conn, pk, s, e, s - SHORT_SPAN)
    # Items expanded only up to before the range's end may have later instances.
    open_ended = queries.open_ended(conn, pk, e, ids)
    if open_ended:
        from smsync.formats.icalendar import overlaps

        for item_id, content in open_ended:
            if item_id not in ids and overlaps(content, start, end):
                ids.add(item_id)
    if not ids:
        return []
    rows = queries.item_rows(conn, ids)
    if components is not None:
        rows = [r for r in rows if r[5] in components]
    rows.sort(key=lambda r: r[0])
    return rows
