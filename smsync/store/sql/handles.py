"""What the SQL stores' handles have in common: where they find the database, and how
they look up and lock the rows they stand for.

A handle takes the opened store object and keeps ``store.db``. On it the handles use
only ``read`` and ``write`` (every handle), ``submit``, ``iopool`` and ``reactor``
(``put`` of a collection, and the PostgreSQL ``append``), ``pipeline`` (the SQLite
``append``) and ``submit_grouped`` (the PostgreSQL ``append``); the SQLite collection
also keys its listing cache by the db object (weakly). A stand-in db with those can
carry a handle.
"""

from __future__ import annotations

from smsync.errors import NotFound
from smsync.store.sql.dialect import Dialect


class AccountPart:
    """Base of a handle on one account's folders or collections; ``account_id`` is the
    account's row id. A subclass sets ``dialect``."""

    dialect: Dialect

    def __init__(self, store, account: str, account_id: int):
        self._store = store
        self._db = store.db
        self._aid = account_id
        self.account = account

    def _q(self, sql: str) -> str:
        return self.dialect.q(sql)

    def _check_account(self, conn, lock=False):
        # Writers take the account's row lock: it serialises hierarchy changes.
        sql = "SELECT 1 FROM accounts WHERE id = ?" + (self.dialect.update_lock if lock else "")
        if conn.execute(self._q(sql), (self._aid,)).fetchone() is None:
            raise NotFound(f"account {self.account} no longer exists")

    async def _find(self, sql: str, value, missing: str, handle_class: type):
        """A ``handle_class`` on the row (row id, public id) that ``sql`` (given the
        account's row id and ``value``) finds; ``NotFound(missing)`` if none."""
        row = await self._db.read(
            lambda conn: conn.execute(self._q(sql), (self._aid, value)).fetchone()
        )
        if row is None:
            raise NotFound(missing)
        return handle_class(self._store, self.account, *row)


class RowHandle:
    """Base of a handle on one folder or collection: its row id ``pk`` and public id."""

    dialect: Dialect

    def __init__(self, store, account: str, pk: int, public_id: str):
        self._store = store
        self._db = store.db
        self._pk = pk
        self.id = public_id
        self.account = account

    def __repr__(self):
        return f"<{type(self).__name__} {self.account} {self.id}>"

    def _q(self, sql: str) -> str:
        return self.dialect.q(sql)
