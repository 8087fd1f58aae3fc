"""``ICollectionStore`` and ``ICollection`` over PostgreSQL: the shared SQL collections in
PostgreSQL's dialect, with array parameters where they save statements.
"""

from __future__ import annotations

from smsync.store.postgresql.schema import SHORT_SPAN
from smsync.store.postgresql.timerange import matching_items
from smsync.store.sql.collections import (
    ITEM_COLS,
    SQLCollection,
    SQLCollectionStore,
)
from smsync.store.sql.dialect import POSTGRESQL


class PGCollection(SQLCollection):
    dialect = POSTGRESQL
    counts_items = True

    def _insert_spans(self, conn, item_id, spans):
        # One statement however many instances.
        conn.execute(
            "INSERT INTO spans (collection_id, is_long, s_start, s_end, item_id)"
            " SELECT %s, (e - s) > %s, s, e, %s FROM unnest(%s::bigint[], %s::bigint[]) AS t(s, e)",
            (self._pk, SHORT_SPAN, item_id, [s for s, _ in spans], [e for _, e in spans]),
        )

    def _matching_items(self, conn, start, end, components):
        return matching_items(conn, self._pk, start, end, components)

    def _named_items(self, conn, names):
        return conn.execute(
            f"SELECT {ITEM_COLS}, content FROM items WHERE collection_id = %s AND name = ANY(%s)",
            (self._pk, names),
        ).fetchall()


class PGCollectionStore(SQLCollectionStore):
    dialect = POSTGRESQL
    collection_class = PGCollection
