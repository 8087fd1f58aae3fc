"""``IMailStore`` over SQLite: the shared SQL mail store in SQLite's dialect."""

from __future__ import annotations

import time

from smsync.errors import Conflict
from smsync.store.sql.dialect import SQLITE
from smsync.store.sql.mail import UIDVALIDITY_MAX, SQLMailStore, as_role, insert_folder
from smsync.store.sqlite.mailbox import SQLiteMailbox, free_bodies

__all__ = ["SQLiteMailStore", "as_role", "create_folder", "delete_folder_rows", "next_uidvalidity"]


def next_uidvalidity(conn) -> int:
    """A UIDVALIDITY never handed out before in this store: the current time in seconds,
    or one more than the last one when several folders are made in the same second (or
    the clock went back). Store-wide, so a re-created folder never gets an old value."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    last = row[0] if row else 0
    value = max(int(time.time()), last + 1)
    if value > UIDVALIDITY_MAX:  # pragma: no cover - year 2106
        raise Conflict("UIDVALIDITY space exhausted")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?)", (value,))
    return value


def create_folder(conn, account_id: int, name: str, role=None) -> str:
    """Insert folder ``name`` (already normalised, parents existing or not needed)."""
    return insert_folder(conn, SQLITE, next_uidvalidity(conn), account_id, name, role)


def delete_folder_rows(conn, ctx, bodies, pk: int) -> None:
    """Delete folder ``pk`` with its messages and tombstones; free unreferenced bodies."""
    conn.execute("DELETE FROM messages WHERE folder_id = ?", (pk,))
    conn.execute("DELETE FROM expunged WHERE folder_id = ?", (pk,))
    conn.execute("DELETE FROM folders WHERE id = ?", (pk,))
    free_bodies(conn, ctx, bodies)


class SQLiteMailStore(SQLMailStore):
    dialect = SQLITE
    mailbox_class = SQLiteMailbox

    def _create_folder(self, conn, name, role=None):
        return create_folder(conn, self._aid, name, role)

    def _move_rows(self, conn, renamed):
        # Two passes through unique temporary names so that no intermediate state collides.
        for pk, _ in renamed:
            conn.execute("UPDATE folders SET name = ? WHERE id = ?", (f"\x00{pk}", pk))
        for pk, target in renamed:
            conn.execute("UPDATE folders SET name = ? WHERE id = ?", (target, pk))

    def _delete_folder_rows(self, conn, ctx, pk):
        delete_folder_rows(conn, ctx, self._store.bodies, pk)
