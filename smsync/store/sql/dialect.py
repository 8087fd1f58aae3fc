"""The few things the SQL the two backends run differs in.

Shared SQL is written with ``?`` placeholders and passed through ``Dialect.q``, which
gives it back in the backend's own placeholder style. Shared SQL must not contain a
literal ``%`` (psycopg would read it as a placeholder) nor a ``?`` that is not one.
"""

from __future__ import annotations

import functools

import attrs


@functools.lru_cache(maxsize=None)
def _format_style(sql: str) -> str:
    if "%" in sql:
        raise ValueError(f"shared SQL may not contain '%': {sql!r}")
    return sql.replace("?", "%s")


def _qmark_style(sql: str) -> str:
    return sql


@attrs.frozen
class Dialect:
    """What one database needs said differently.

    Attributes:
        name: the backend's name, for messages.
        q: turns shared ``?``-style SQL into this database's placeholder style.
        share_lock: appended to a ``SELECT`` whose rows must not be removed by another
            process before commit ("" where one writer at a time already ensures it).
        update_lock: likewise, for rows this transaction is about to change or delete.
        update_lock_of: ``update_lock`` for a join, locking only the rows of the table
            whose alias is put in for ``{}``.
        unseen: the condition on ``messages`` of an unseen message, as the database's
            partial indexes spell it.
        binary_order: appended to ``ORDER BY`` a text column to order by code point
            whatever the database's collation.
        next_sync_order: an SQL expression giving the next device sync order.
    """

    name: str
    q: object
    share_lock: str
    update_lock: str
    update_lock_of: str
    unseen: str
    binary_order: str
    next_sync_order: str


#: SQLite: one writer at a time (the store's writer thread), so no row locks; BINARY
#: collation already orders UTF-8 text by code point.
SQLITE = Dialect(
    name="sqlite",
    q=_qmark_style,
    share_lock="",
    update_lock="",
    update_lock_of="",
    unseen="seen = 0",
    binary_order="",
    next_sync_order="(SELECT COALESCE(MAX(sync_order), 0) + 1 FROM devices)",
)

#: PostgreSQL: several frontends write at once, so rows are locked explicitly.
POSTGRESQL = Dialect(
    name="postgresql",
    q=_format_style,
    share_lock=" FOR SHARE",
    update_lock=" FOR UPDATE",
    update_lock_of=" FOR UPDATE OF {}",
    unseen="NOT seen",
    binary_order=' COLLATE "C"',
    next_sync_order="nextval('device_sync_order')",
)
