"""``IMailStore`` over PostgreSQL: the shared SQL mail store in PostgreSQL's dialect."""

from __future__ import annotations

from smsync.errors import Conflict
from smsync.store.postgresql.mailbox import PGMailbox, release_bodies
from smsync.store.sql.dialect import POSTGRESQL
from smsync.store.sql.mail import UIDVALIDITY_MAX, SQLMailStore, as_role, insert_folder

__all__ = ["PGMailStore", "as_role", "create_folder", "delete_folder_rows", "next_uidvalidity"]


def next_uidvalidity(conn) -> int:
    """A UIDVALIDITY never handed out before in this store: the current time in seconds,
    or one more than the last one when several folders are made in the same second (or
    the clock went back). Store-wide (one row, locked until commit), so a re-created
    folder never gets an old value, whichever process creates it."""
    (value,) = conn.execute(
        "UPDATE meta SET value = GREATEST(value + 1, extract(epoch FROM clock_timestamp())::bigint)"
        " WHERE key = 'uidvalidity' RETURNING value"
    ).fetchone()
    if value > UIDVALIDITY_MAX:  # pragma: no cover - year 2106
        raise Conflict("UIDVALIDITY space exhausted")
    return value


def create_folder(conn, account_id: int, name: str, role=None) -> str:
    """Insert folder ``name`` (already normalised, parents existing or not needed)."""
    return insert_folder(conn, POSTGRESQL, next_uidvalidity(conn), account_id, name, role)


def delete_folder_rows(conn, pk: int) -> None:
    """Delete folder ``pk`` with its messages and tombstones; free unreferenced bodies."""
    conn.execute("SELECT 1 FROM folders WHERE id = %s FOR UPDATE", (pk,))
    body_ids = [
        r[0]
        for r in conn.execute("DELETE FROM messages WHERE folder_id = %s RETURNING body_id", (pk,))
    ]
    release_bodies(conn, body_ids)
    conn.execute("DELETE FROM expunged WHERE folder_id = %s", (pk,))
    conn.execute("DELETE FROM folders WHERE id = %s", (pk,))


class PGMailStore(SQLMailStore):
    dialect = POSTGRESQL
    mailbox_class = PGMailbox

    def _create_folder(self, conn, name, role=None):
        return create_folder(conn, self._aid, name, role)

    def _move_rows(self, conn, renamed):
        # Two passes through unique temporary names so that no intermediate state collides;
        # each pass one statement, however many folders move.
        conn.execute(
            "UPDATE folders SET name = %s || id::text WHERE id = ANY(%s)",
            ("\x01", [pk for pk, _ in renamed]),
        )
        conn.execute(
            "UPDATE folders f SET name = r.name FROM unnest(%s::bigint[], %s::text[]) AS r(id, name)"
            " WHERE f.id = r.id",
            ([pk for pk, _ in renamed], [target for _, target in renamed]),
        )

    def _delete_folder_rows(self, conn, ctx, pk):
        delete_folder_rows(conn, pk)
