"""``IAccountStore`` over PostgreSQL."""

from __future__ import annotations

import json

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
from smsync.store.common import new_id, normalize_account
from smsync.store.postgresql.collections import delete_collection_rows
from smsync.store.postgresql.mail import create_folder, delete_folder_rows


def account_id(conn, account: str):
    """The row id of ``account`` (already normalised), or None."""
    row = conn.execute("SELECT id FROM accounts WHERE name = %s", (account,)).fetchone()
    return row[0] if row else None


@implementer(IAccountStore)
class PGAccountStore:
    def __init__(self, store):
        self._store = store
        self._db = store.db

    @deferred
    async def add(self, account, password_hash):
        account = normalize_account(account)
        return await self._db.write(self._add, account, password_hash)

    def _add(self, conn, ctx, account, password_hash):
        # ON CONFLICT: an account another frontend is creating right now is waited for
        # and then reported as taken, instead of failing the whole batch.
        row = conn.execute(
            "INSERT INTO accounts (name, password_hash) VALUES (%s, %s)"
            " ON CONFLICT (name) DO NOTHING RETURNING id",
            (account, password_hash),
        ).fetchone()
        if row is None:
            raise AlreadyExists(f"account {account} exists")
        aid = row[0]
        for name, role in DEFAULT_MAILBOXES.items():
            create_folder(conn, aid, name, role)
        conn.execute(
            "INSERT INTO collections (cid, account_id, name, kind, components, properties)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
            " %s::text[])",
            (
                [new_id() for _ in DEFAULT_COLLECTIONS],
                [aid] * len(DEFAULT_COLLECTIONS),
                list(DEFAULT_COLLECTIONS),
                [kind.value for kind, _ in DEFAULT_COLLECTIONS.values()],
                [" ".join(sorted(DEFAULT_COMPONENTS[kind])) for kind, _ in DEFAULT_COLLECTIONS.values()],
                [json.dumps({PROP_DISPLAYNAME: display}) for _, display in DEFAULT_COLLECTIONS.values()],
            ),
        )
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def set_password_hash(self, account, password_hash):
        account = _lookup(account)
        return await self._db.write(self._set_hash, account, password_hash)

    def _set_hash(self, conn, ctx, account, password_hash):
        cur = conn.execute(
            "UPDATE accounts SET password_hash = %s WHERE name = %s", (password_hash, account)
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
                "SELECT password_hash FROM accounts WHERE name = %s", (account,)
            ).fetchone()
        )
        return row[0] if row else None

    @deferred
    async def remove(self, account):
        account = _lookup(account)
        return await self._db.write(self._remove, account)

    def _remove(self, conn, ctx, account):
        row = conn.execute(
            "SELECT id FROM accounts WHERE name = %s FOR UPDATE", (account,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no account {account}")
        aid = row[0]
        for (pk,) in conn.execute(
            "SELECT id FROM folders WHERE account_id = %s ORDER BY id FOR UPDATE", (aid,)
        ).fetchall():
            delete_folder_rows(conn, pk)
        for (pk,) in conn.execute(
            "SELECT id FROM collections WHERE account_id = %s ORDER BY id FOR UPDATE", (aid,)
        ).fetchall():
            delete_collection_rows(conn, pk)
        for table in ("devices", "device_log", "device_state"):
            conn.execute(f"DELETE FROM {table} WHERE account_id = %s", (aid,))
        conn.execute("DELETE FROM accounts WHERE id = %s", (aid,))
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def list(self):
        return await self._db.read(
            lambda conn: [
                r[0] for r in conn.execute('SELECT name FROM accounts ORDER BY name COLLATE "C"')
            ]
        )


def _lookup(account: str) -> str:
    """Normalise an account being looked up: a malformed name is simply not there."""
    try:
        return normalize_account(account)
    except InvalidData:
        raise NotFound(f"no account {account!r}") from None
