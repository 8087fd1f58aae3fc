"""``IMailStore`` over SQLite: one account's folder hierarchy."""

from __future__ import annotations

import time

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IMailStore
from smsync.model import MAILBOX_SEPARATOR, ChangeKind, MailboxEntry, Role
from smsync.store.common import new_id, normalize_mailbox_name, parent_names
from smsync.store.sqlite.mailbox import SQLiteMailbox, free_bodies

_UIDVALIDITY_MAX = (1 << 32) - 1


def next_uidvalidity(conn) -> int:
    """A UIDVALIDITY never handed out before in this store: the current time in seconds,
    or one more than the last one when several folders are made in the same second (or
    the clock went back). Store-wide, so a re-created folder never gets an old value."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    last = row[0] if row else 0
    value = max(int(time.time()), last + 1)
    if value > _UIDVALIDITY_MAX:  # pragma: no cover - year 2106
        raise Conflict("UIDVALIDITY space exhausted")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?)", (value,))
    return value


def as_role(role):
    if role is None:
        return None
    try:
        return Role(role)
    except ValueError:
        raise InvalidData(f"unknown folder role {role!r}") from None


def create_folder(conn, account_id: int, name: str, role=None) -> str:
    """Insert folder ``name`` (already normalised, parents existing or not needed)."""
    fid = new_id()
    conn.execute(
        "INSERT INTO folders (fid, account_id, name, role, uidvalidity) VALUES (?, ?, ?, ?, ?)",
        (fid, account_id, name, role.value if role else None, next_uidvalidity(conn)),
    )
    return fid


def _role_holder(conn, account_id, role):
    row = conn.execute(
        "SELECT name FROM folders WHERE account_id = ? AND role = ?", (account_id, role.value)
    ).fetchone()
    return row[0] if row else None


def _lookup_name(name: str) -> str:
    """Normalise a folder name being looked up: a name that cannot exist is NotFound."""
    try:
        return normalize_mailbox_name(name)
    except InvalidData:
        raise NotFound(f"no folder {name!r}") from None


@implementer(IMailStore)
class SQLiteMailStore:
    """One account's folders; ``account_id`` is the account's row id."""

    def __init__(self, store, account: str, account_id: int):
        self._store = store
        self._db = store.db
        self._aid = account_id
        self.account = account

    def _check_account(self, conn):
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (self._aid,)).fetchone() is None:
            raise NotFound(f"account {self.account} no longer exists")

    def _handle(self, row):
        if row is None:
            return None
        pk, fid = row
        return SQLiteMailbox(self._store, self.account, pk, fid)

    @deferred
    async def list_mailboxes(self):
        return await self._db.read(self._list)

    def _list(self, conn):
        self._check_account(conn)
        return [
            MailboxEntry(fid, name, Role(role) if role else None, bool(sub))
            for fid, name, role, sub in conn.execute(
                "SELECT fid, name, role, subscribed FROM folders WHERE account_id = ?"
                " ORDER BY name",
                (self._aid,),
            )
        ]

    async def _find(self, sql, arg, what):
        row = await self._db.read(
            lambda conn: conn.execute(sql, (self._aid, arg)).fetchone()
        )
        if row is None:
            raise NotFound(f"no folder {what}")
        return self._handle(row)

    @deferred
    async def mailbox(self, name):
        name = _lookup_name(name)
        return await self._find(
            "SELECT id, fid FROM folders WHERE account_id = ? AND name = ?", name, repr(name)
        )

    @deferred
    async def mailbox_by_id(self, folder_id):
        return await self._find(
            "SELECT id, fid FROM folders WHERE account_id = ? AND fid = ?",
            str(folder_id),
            f"with id {folder_id!r}",
        )

    @deferred
    async def mailbox_by_role(self, role):
        role = as_role(role)
        return await self._find(
            "SELECT id, fid FROM folders WHERE account_id = ? AND role = ?",
            role.value,
            f"with role {role.value}",
        )

    @deferred
    async def create_mailbox(self, name, role=None):
        name = normalize_mailbox_name(name)
        role = as_role(role)
        return await self._db.write(self._create, name, role)

    def _create(self, conn, ctx, name, role):
        self._check_account(conn)
        if conn.execute(
            "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (self._aid, name)
        ).fetchone():
            raise AlreadyExists(f"folder {name!r} exists")
        if role is not None:
            holder = _role_holder(conn, self._aid, role)
            if holder is not None:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        for parent in parent_names(name):
            if not conn.execute(
                "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (self._aid, parent)
            ).fetchone():
                create_folder(conn, self._aid, parent)
        fid = create_folder(conn, self._aid, name, role)
        ctx.event(self.account, ChangeKind.HIERARCHY)
        return MailboxEntry(fid, name, role, True)

    @deferred
    async def rename_mailbox(self, old, new):
        old = _lookup_name(old)
        new = normalize_mailbox_name(new)
        return await self._db.write(self._rename, old, new)

    def _rename(self, conn, ctx, old, new):
        self._check_account(conn)
        if old == "INBOX":
            raise Conflict("INBOX cannot be renamed")
        row = conn.execute(
            "SELECT id FROM folders WHERE account_id = ? AND name = ?", (self._aid, old)
        ).fetchone()
        if row is None:
            raise NotFound(f"no folder {old!r}")
        if new == old:
            raise AlreadyExists(f"folder {new!r} exists")
        prefix = old + MAILBOX_SEPARATOR
        if new.startswith(prefix):
            raise Conflict(f"cannot rename {old!r} into its own child {new!r}")
        moving = conn.execute(
            "SELECT id, name FROM folders WHERE account_id = ? AND"
            " (name = ? OR substr(name, 1, ?) = ?)",
            (self._aid, old, len(prefix), prefix),
        ).fetchall()
        renamed = [(pk, new + name[len(old):]) for pk, name in moving]
        for _, target in renamed:
            if conn.execute(
                "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (self._aid, target)
            ).fetchone():
                raise AlreadyExists(f"folder {target!r} exists")
        # Two passes through unique temporary names so that no intermediate state collides.
        for pk, _ in renamed:
            conn.execute("UPDATE folders SET name = ? WHERE id = ?", (f"\x00{pk}", pk))
        for pk, target in renamed:
            conn.execute("UPDATE folders SET name = ? WHERE id = ?", (target, pk))
        for parent in parent_names(new):
            if not conn.execute(
                "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (self._aid, parent)
            ).fetchone():
                create_folder(conn, self._aid, parent)
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_mailbox(self, name):
        name = _lookup_name(name)
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        self._check_account(conn)
        if name == "INBOX":
            raise Conflict("INBOX cannot be deleted")
        row = conn.execute(
            "SELECT id FROM folders WHERE account_id = ? AND name = ?", (self._aid, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no folder {name!r}")
        delete_folder_rows(conn, ctx, self._store.bodies, row[0])
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def subscribe(self, name, subscribed=True):
        name = _lookup_name(name)
        return await self._db.write(self._update, name, "subscribed", bool(subscribed))

    @deferred
    async def set_role(self, name, role):
        name = _lookup_name(name)
        role = as_role(role)
        return await self._db.write(self._set_role, name, role)

    def _set_role(self, conn, ctx, name, role):
        self._check_account(conn)
        if not conn.execute(
            "SELECT 1 FROM folders WHERE account_id = ? AND name = ?", (self._aid, name)
        ).fetchone():
            raise NotFound(f"no folder {name!r}")
        if role is not None:
            holder = _role_holder(conn, self._aid, role)
            if holder is not None and holder != name:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        self._update(conn, ctx, name, "role", role.value if role else None)

    def _update(self, conn, ctx, name, column, value):
        self._check_account(conn)
        cur = conn.execute(
            f"UPDATE folders SET {column} = ? WHERE account_id = ? AND name = ?",
            (value, self._aid, name),
        )
        if cur.rowcount == 0:
            raise NotFound(f"no folder {name!r}")
        ctx.event(self.account, ChangeKind.HIERARCHY)


def delete_folder_rows(conn, ctx, bodies, pk: int) -> None:
    """Delete folder ``pk`` with its messages and tombstones; free unreferenced bodies."""
    conn.execute("DELETE FROM messages WHERE folder_id = ?", (pk,))
    conn.execute("DELETE FROM expunged WHERE folder_id = ?", (pk,))
    conn.execute("DELETE FROM folders WHERE id = ?", (pk,))
    free_bodies(conn, ctx, bodies)
