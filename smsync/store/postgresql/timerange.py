"""The time-range query over PostgreSQL's ``spans``: its three queries for the shared
``smsync.store.sql.timerange.matching_items``."""

from __future__ import annotations

from smsync.store.sql import timerange
from smsync.store.sql.timerange import ITEM_COLS


class _Queries:
    @staticmethod
    def span_ids(conn, pk, s, e, lo):
        # Short and long spans in one round trip.
        return {
            r[0]
            for r in conn.execute(
                "SELECT item_id FROM spans WHERE collection_id = %(pk)s AND NOT is_long"
                " AND s_start >= %(lo)s AND s_start < %(e)s AND (s_end > %(s)s OR s_start >= %(s)s)"
                " UNION"
                " SELECT item_id FROM spans WHERE collection_id = %(pk)s AND is_long"
                " AND s_start < %(e)s AND (s_end > %(s)s OR s_start >= %(s)s)",
                {"pk": pk, "lo": lo, "e": e, "s": s},
            )
        }

    @staticmethod
    def open_ended(conn, pk, e, ids):
        return conn.execute(
            "SELECT id, content FROM items WHERE collection_id = %s"
            " AND expanded_until IS NOT NULL AND expanded_until < %s AND NOT (id = ANY(%s))",
            (pk, e, list(ids)),
        ).fetchall()

    @staticmethod
    def item_rows(conn, ids):
        return conn.execute(
            f"SELECT {ITEM_COLS} FROM items WHERE id = ANY(%s)", (list(ids),)
        ).fetchall()


def matching_items(conn, pk: int, start, end, components=None) -> list:
    """See ``smsync.store.sql.timerange.matching_items``. Blocking."""
    return timerange.matching_items(conn, _Queries, pk, start, end, components)
