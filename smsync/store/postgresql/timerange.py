"""The indexed time-range query over calendar instances (``spans``).

A span ``[s, e)`` overlaps the asked ``[S, E)`` when ``s < E`` and either ``e > S`` or the
instance starts inside the range (``s >= S``, which also covers zero-length instances
such as an event with only a DTSTART, per RFC 4791 9.9). Short spans (at most
``SHORT_SPAN`` long) are found by an index range on their start, ``[S - SHORT_SPAN, E)``;
long spans are few and scanned per collection. Items whose recurrence was expanded only
up to some instant before ``E`` are checked with the exact ``icalendar.overlaps``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from smsync.store.postgresql.schema import SHORT_SPAN

#: Open ends of a range, as epoch seconds (well inside 64-bit integers).
OPEN_START = -(1 << 60)
OPEN_END = 1 << 60

_ITEM_COLS = "name, uid, etag, revision, size, component"


def _epoch(value: datetime | None, default: int, rounding) -> int:
    if value is None:
        return default
    if value.tzinfo is None:
        # Floating times are taken in UTC, as the items' own floating times are.
        value = value.replace(tzinfo=timezone.utc)
    return max(OPEN_START, min(OPEN_END, rounding(value.timestamp())))


def matching_items(conn, pk: int, start, end, components=None) -> list:
    """Rows (name, uid, etag, revision, size, component) of collection ``pk`` with an
    instance overlapping ``[start, end)``, sorted by name. Blocking."""
    s = _epoch(start, OPEN_START, math.floor)
    e = _epoch(end, OPEN_END, math.ceil)
    ids = {
        r[0]
        for r in conn.execute(
            "SELECT item_id FROM spans WHERE collection_id = %(pk)s AND NOT is_long"
            " AND s_start >= %(lo)s AND s_start < %(e)s AND (s_end > %(s)s OR s_start >= %(s)s)"
            " UNION"
            " SELECT item_id FROM spans WHERE collection_id = %(pk)s AND is_long"
            " AND s_start < %(e)s AND (s_end > %(s)s OR s_start >= %(s)s)",
            {"pk": pk, "lo": s - SHORT_SPAN, "e": e, "s": s},
        )
    }
    # Items expanded only up to before the range's end may have later instances.
    open_ended = conn.execute(
        "SELECT id, content FROM items WHERE collection_id = %s"
        " AND expanded_until IS NOT NULL AND expanded_until < %s AND NOT (id = ANY(%s))",
        (pk, e, list(ids)),
    ).fetchall()
    if open_ended:
        from smsync.formats.icalendar import overlaps

        for item_id, content in open_ended:
            if overlaps(content, start, end):
                ids.add(item_id)
    if not ids:
        return []
    rows = conn.execute(
        f"SELECT {_ITEM_COLS} FROM items WHERE id = ANY(%s)", (list(ids),)
    ).fetchall()
    if components is not None:
        rows = [r for r in rows if r[5] in components]
    rows.sort(key=lambda r: r[0])
    return rows
