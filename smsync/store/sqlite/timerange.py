"""The time-range query over SQLite's ``spans``: its three queries for the shared
``smsync.store.sql.timerange.matching_items``."""

from __future__ import annotations

from smsync.store.sql import timerange
from smsync.store.sql.timerange import ITEM_COLS

#: Ids per ``IN (...)``: well under SQLite's limit on bound parameters.
_CHUNK = 500


class _Queries:
    @staticmethod
    def span_ids(conn, pk, s, e, lo):
        ids = {
            r[0]
            for r in conn.execute(
                "SELECT item_id FROM spans WHERE collection_id = ? AND long = 0"
                " AND start >= ? AND start < ? AND (end > ? OR start >= ?)",
                (pk, lo, e, s, s),
            )
        }
        ids.update(
            r[0]
            for r in conn.execute(
                "SELECT item_id FROM spans WHERE collection_id = ? AND long = 1"
                " AND start < ? AND (end > ? OR start >= ?)",
                (pk, e, s, s),
            )
        )
        return ids

    @staticmethod
    def open_ended(conn, pk, e, ids):
        return conn.execute(
            "SELECT id, content FROM items WHERE collection_id = ?"
            " AND expanded_until IS NOT NULL AND expanded_until < ?",
            (pk, e),
        ).fetchall()

    @staticmethod
    def item_rows(conn, ids):
        rows = []
        id_list = list(ids)
        for i in range(0, len(id_list), _CHUNK):
            chunk = id_list[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows.extend(
                conn.execute(f"SELECT {ITEM_COLS} FROM items WHERE id IN ({marks})", chunk).fetchall()
            )
        return rows


def matching_items(conn, pk: int, start, end, components=None) -> list:
    """See ``smsync.store.sql.timerange.matching_items``. Blocking."""
    return timerange.matching_items(conn, _Queries, pk, start, end, components)
