"""``IAccountStore`` over SQLite."""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, InvalidData, NotFound
from smsync.interfaces import IAccountStore
from smsync.model import (
    DEFAULT_COLLECTIONS,
    DEFAULT_COMPONENTS,
    DEFAULT_MAILBOXES,
    PROP_DISPLAYNAME,
    ChangeKind,
)
from smsync.store.common import normalize_account
from smsync.store.sqlite.collections import create_collection_row, delete_collection_rows
from smsync.store.sqlite.mail import create_folder, delete_folder_rows


def account_id(conn, account: str):
    """The row id of ``account`` (already normalised), or None."""
    row = conn.execute("SELECT id FROM accounts WHERE name = ?", (account,)).fetchone()
    return row[0] if row else None


@implementer(IAccountStore)
class SQLiteAccountStore:
    def __init__(self, store):
        self._store = store
        self._db = store.db

    @deferred
    async def add(self, account, password_hash):
        account = normalize_account(account)
        return await self._db.write(self._add, account, password_hash)

    def _add(self, conn, ctx, account, password_hash):
        if account_id(conn, account) is not None:
            raise AlreadyExists(f"account {account} exists")
        aid = conn.execute(
            "INSERT INTO accounts (name, password_hash) VALUES (?, ?)", (account, password_hash)
        ).lastrowid
        for name, role in DEFAULT_MAILBOXES.items():
            create_folder(conn, aid, name, role)
        for name, (kind, display) in DEFAULT_COLLECTIONS.items():
            create_collection_row(
                conn, aid, name, kind, DEFAULT_COMPONENTS[kind], {PROP_DISPLAYNAME: display}
            )
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def set_password_hash(self, account, password_hash):
        account = _lookup(account)
        return await self._db.write(self._set_hash, account, password_hash)

    def _set_hash(self, conn, ctx, account, password_hash):
        cur = conn.execute(
            "UPDATE accounts SET password_hash = ? WHERE name = ?", (password_hash, account)
        )
        if cur.rowcount == 0:
            raise NotFound(f"no account {account}")

    @deferred
    async def password_hash(self, account):
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT password_hash FROM accounts WHERE name = ?", (account,)
            ).fetchone()
        )
        return row[0] if row else None

    @deferred
    async def remove(self, account):
        account = _lookup(account)
        return await self._db.write(self._remove, account)

    def _remove(self, conn, ctx, account):
        aid = account_id(conn, account)
        if aid is None:
            raise NotFound(f"no account {account}")
        bodies = self._store.bodies
        for (pk,) in conn.execute("SELECT id FROM folders WHERE account_id = ?", (aid,)).fetchall():
            delete_folder_rows(conn, ctx, bodies, pk)
        for (pk,) in conn.execute(
            "SELECT id FROM collections WHERE account_id = ?", (aid,)
        ).fetchall():
            delete_collection_rows(conn, pk)
        for table in ("devices", "device_log", "device_state"):
            conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (aid,))
        conn.execute("DELETE FROM accounts WHERE id = ?", (aid,))
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def list(self):
        return await self._db.read(
            lambda conn: [r[0] for r in conn.execute("SELECT name FROM accounts ORDER BY name")]
        )


def _lookup(account: str) -> str:
    """Normalise an account being looked up: a malformed name is simply not there."""
    try:
        return normalize_account(account)
    except InvalidData:
        raise NotFound(f"no account {account!r}") from None
