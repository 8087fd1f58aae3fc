"""``IMailStore`` over PostgreSQL: one account's folder hierarchy.

Hierarchy changes lock the account's row first, so two frontends creating, renaming or
deleting folders of one account at once are serialised (and see each other's result)
rather than racing.
"""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IMailStore
from smsync.model import MAILBOX_SEPARATOR, ChangeKind, MailboxEntry, Role
from smsync.store.common import new_id, normalize_mailbox_name, parent_names
from smsync.store.postgresql.mailbox import PGMailbox, release_bodies

_UIDVALIDITY_MAX = (1 << 32) - 1


def next_uidvalidity(conn) -> int:
    """A UIDVALIDITY never handed out before in this store: the current time in seconds,
    or one more than the last one when several folders are made in the same second (or
    the clock went back). Store-wide (one row, locked until commit), so a re-created
    folder never gets an old value, whichever process creates it."""
    (value,) = conn.execute(
        "UPDATE meta SET value = GREATEST(value + 1, extract(epoch FROM clock_timestamp())::bigint)"
        " WHERE key = 'uidvalidity' RETURNING value"
    ).fetchone()
    if value > _UIDVALIDITY_MAX:  # pragma: no cover - year 2106
        raise Conflict("UIDVALIDITY space exhausted")
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
        "INSERT INTO folders (fid, account_id, name, role, uidvalidity) VALUES (%s, %s, %s, %s, %s)",
        (fid, account_id, name, role.value if role else None, next_uidvalidity(conn)),
    )
    return fid


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


def lock_account(conn, account_id: int, account: str) -> None:
    """Take the account's row lock (serialising hierarchy changes); NotFound if gone."""
    if conn.execute(
        "SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account_id,)
    ).fetchone() is None:
        raise NotFound(f"account {account} no longer exists")


def _role_holder(conn, account_id, role):
    row = conn.execute(
        "SELECT name FROM folders WHERE account_id = %s AND role = %s", (account_id, role.value)
    ).fetchone()
    return row[0] if row else None


def _lookup_name(name: str) -> str:
    """Normalise a folder name being looked up: a name that cannot exist is NotFound."""
    try:
        return normalize_mailbox_name(name)
    except InvalidData:
        raise NotFound(f"no folder {name!r}") from None


def _exists(conn, account_id, name) -> bool:
    return conn.execute(
        "SELECT 1 FROM folders WHERE account_id = %s AND name = %s", (account_id, name)
    ).fetchone() is not None


@implementer(IMailStore)
class PGMailStore:
    """One account's folders; ``account_id`` is the account's row id."""

    def __init__(self, store, account: str, account_id: int):
        self._store = store
        self._db = store.db
        self._aid = account_id
        self.account = account

    def _check_account(self, conn):
        if conn.execute("SELECT 1 FROM accounts WHERE id = %s", (self._aid,)).fetchone() is None:
            raise NotFound(f"account {self.account} no longer exists")

    @deferred
    async def list_mailboxes(self):
        return await self._db.read(self._list)

    def _list(self, conn):
        self._check_account(conn)
        rows = conn.execute(
            "SELECT fid, name, role, subscribed FROM folders WHERE account_id = %s",
            (self._aid,),
        ).fetchall()
        # Sorted in Python: code-point order whatever the database's collation.
        rows.sort(key=lambda r: r[1])
        return [MailboxEntry(fid, name, Role(role) if role else None, sub) for fid, name, role, sub in rows]

    async def _find(self, column, value, what):
        row = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT id, fid FROM folders WHERE account_id = %s AND {column} = %s",
                (self._aid, value),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no folder {what}")
        return PGMailbox(self._store, self.account, *row)

    @deferred
    async def mailbox(self, name):
        name = _lookup_name(name)
        return await self._find("name", name, repr(name))

    @deferred
    async def mailbox_by_id(self, folder_id):
        return await self._find("fid", str(folder_id), f"with id {folder_id!r}")

    @deferred
    async def mailbox_by_role(self, role):
        role = as_role(role)
        return await self._find("role", role.value, f"with role {role.value}")

    @deferred
    async def create_mailbox(self, name, role=None):
        name = normalize_mailbox_name(name)
        role = as_role(role)
        return await self._db.write(self._create, name, role)

    def _create(self, conn, ctx, name, role):
        lock_account(conn, self._aid, self.account)
        if _exists(conn, self._aid, name):
            raise AlreadyExists(f"folder {name!r} exists")
        if role is not None:
            holder = _role_holder(conn, self._aid, role)
            if holder is not None:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        for parent in parent_names(name):
            if not _exists(conn, self._aid, parent):
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
        lock_account(conn, self._aid, self.account)
        if old == "INBOX":
            raise Conflict("INBOX cannot be renamed")
        if not _exists(conn, self._aid, old):
            raise NotFound(f"no folder {old!r}")
        if new == old:
            raise AlreadyExists(f"folder {new!r} exists")
        prefix = old + MAILBOX_SEPARATOR
        if new.startswith(prefix):
            raise Conflict(f"cannot rename {old!r} into its own child {new!r}")
        moving = conn.execute(
            "SELECT id, name FROM folders WHERE account_id = %s AND"
            " (name = %s OR left(name, %s) = %s) FOR UPDATE",
            (self._aid, old, len(prefix), prefix),
        ).fetchall()
        renamed = [(pk, new + name[len(old):]) for pk, name in moving]
        for _, target in renamed:
            if _exists(conn, self._aid, target):
                raise AlreadyExists(f"folder {target!r} exists")
        # Two passes through unique temporary names so that no intermediate state collides.
        conn.execute(
            "UPDATE folders SET name = %s || id::text WHERE id = ANY(%s)",
            ("\x01", [pk for pk, _ in renamed]),
        )
        conn.execute(
            "UPDATE folders f SET name = r.name FROM unnest(%s::bigint[], %s::text[]) AS r(id, name)"
            " WHERE f.id = r.id",
            ([pk for pk, _ in renamed], [target for _, target in renamed]),
        )
        for parent in parent_names(new):
            if not _exists(conn, self._aid, parent):
                create_folder(conn, self._aid, parent)
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_mailbox(self, name):
        name = _lookup_name(name)
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        lock_account(conn, self._aid, self.account)
        if name == "INBOX":
            raise Conflict("INBOX cannot be deleted")
        row = conn.execute(
            "SELECT id FROM folders WHERE account_id = %s AND name = %s", (self._aid, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no folder {name!r}")
        delete_folder_rows(conn, row[0])
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
        lock_account(conn, self._aid, self.account)
        if not _exists(conn, self._aid, name):
            raise NotFound(f"no folder {name!r}")
        if role is not None:
            holder = _role_holder(conn, self._aid, role)
            if holder is not None and holder != name:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        self._update(conn, ctx, name, "role", role.value if role else None)

    def _update(self, conn, ctx, name, column, value):
        lock_account(conn, self._aid, self.account)
        cur = conn.execute(
            f"UPDATE folders SET {column} = %s WHERE account_id = %s AND name = %s",
            (value, self._aid, name),
        )
        if cur.rowcount == 0:
            raise NotFound(f"no folder {name!r}")
        ctx.event(self.account, ChangeKind.HIERARCHY)
