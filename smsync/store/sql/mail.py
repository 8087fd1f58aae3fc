"""``IMailStore`` over SQL: one account's folder hierarchy.

Hierarchy changes lock the account's row first (where the dialect has row locks), so two
frontends creating, renaming or deleting folders of one account at once are serialised
(and see each other's result) rather than racing.
"""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IMailStore
from smsync.model import MAILBOX_SEPARATOR, ChangeKind, MailboxEntry, Role
from smsync.store.common import as_role, new_id, normalize_mailbox_name, parent_names
from smsync.store.sql.dialect import Dialect
from smsync.store.sql.handles import AccountPart
from smsync.store.sql.sharing import forget_folder

UIDVALIDITY_MAX = (1 << 32) - 1


def insert_folder(conn, dialect: Dialect, uidvalidity: int, account_id: int, name: str, role=None) -> str:
    """Insert folder ``name`` (already normalised, parents existing or not needed)."""
    fid = new_id()
    conn.execute(
        dialect.q(
            "INSERT INTO folders (fid, account_id, name, role, uidvalidity) VALUES (?, ?, ?, ?, ?)"
        ),
        (fid, account_id, name, role.value if role else None, uidvalidity),
    )
    return fid


def _lookup_name(name: str) -> str:
    """Normalise a folder name being looked up: a name that cannot exist is NotFound."""
    try:
        return normalize_mailbox_name(name)
    except InvalidData:
        raise NotFound(f"no folder {name!r}") from None


@implementer(IMailStore)
class SQLMailStore(AccountPart):
    """One account's folders; ``account_id`` is the account's row id.

    A backend sets ``dialect`` and ``mailbox_class`` and fills in the hooks below, which
    touch what its schema keeps differently."""

    dialect: Dialect
    mailbox_class: type

    # Hooks.

    def _create_folder(self, conn, name: str, role=None) -> str:
        """Insert folder ``name`` of this account; its folder id."""
        raise NotImplementedError

    def _move_rows(self, conn, renamed: list) -> None:
        """Give each folder row ``pk`` of ``renamed`` (``(pk, new name)``) its new name."""
        raise NotImplementedError

    def _delete_folder_rows(self, conn, ctx, pk: int) -> None:
        raise NotImplementedError

    def _exists(self, conn, name) -> bool:
        return conn.execute(
            self._q("SELECT 1 FROM folders WHERE account_id = ? AND name = ?"), (self._aid, name)
        ).fetchone() is not None

    def _role_holder(self, conn, role):
        row = conn.execute(
            self._q("SELECT name FROM folders WHERE account_id = ? AND role = ?"),
            (self._aid, role.value),
        ).fetchone()
        return row[0] if row else None

    @deferred
    async def list_mailboxes(self):
        return await self._db.read(self._list)

    def _list(self, conn):
        self._check_account(conn)
        rows = conn.execute(
            self._q("SELECT fid, name, role, subscribed FROM folders WHERE account_id = ?"),
            (self._aid,),
        ).fetchall()
        # Sorted in Python: code-point order whatever the database's collation.
        rows.sort(key=lambda r: r[1])
        return [
            MailboxEntry(fid, name, Role(role) if role else None, bool(sub))
            for fid, name, role, sub in rows
        ]

    async def _find(self, column, value, what):
        return await super()._find(
            f"SELECT id, fid FROM folders WHERE account_id = ? AND {column} = ?",
            value, f"no folder {what}", self.mailbox_class,
        )

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
        self._check_account(conn, lock=True)
        if self._exists(conn, name):
            raise AlreadyExists(f"folder {name!r} exists")
        if role is not None:
            holder = self._role_holder(conn, role)
            if holder is not None:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        for parent in parent_names(name):
            if not self._exists(conn, parent):
                self._create_folder(conn, parent)
        fid = self._create_folder(conn, name, role)
        ctx.event(self.account, ChangeKind.HIERARCHY)
        return MailboxEntry(fid, name, role, True)

    @deferred
    async def rename_mailbox(self, old, new):
        old = _lookup_name(old)
        new = normalize_mailbox_name(new)
        return await self._db.write(self._rename, old, new)

    def _rename(self, conn, ctx, old, new):
        self._check_account(conn, lock=True)
        if old == "INBOX":
            raise Conflict("INBOX cannot be renamed")
        if not self._exists(conn, old):
            raise NotFound(f"no folder {old!r}")
        if new == old:
            raise AlreadyExists(f"folder {new!r} exists")
        prefix = old + MAILBOX_SEPARATOR
        if new.startswith(prefix):
            raise Conflict(f"cannot rename {old!r} into its own child {new!r}")
        moving = conn.execute(
            self._q(
                "SELECT id, name FROM folders WHERE account_id = ? AND"
                " (name = ? OR substr(name, 1, ?) = ?)" + self.dialect.update_lock
            ),
            (self._aid, old, len(prefix), prefix),
        ).fetchall()
        renamed = [(pk, new + name[len(old):]) for pk, name in moving]
        for _, target in renamed:
            if self._exists(conn, target):
                raise AlreadyExists(f"folder {target!r} exists")
        self._move_rows(conn, renamed)
        for parent in parent_names(new):
            if not self._exists(conn, parent):
                self._create_folder(conn, parent)
        ctx.event(self.account, ChangeKind.HIERARCHY)

    @deferred
    async def delete_mailbox(self, name):
        name = _lookup_name(name)
        return await self._db.write(self._delete, name)

    def _delete(self, conn, ctx, name):
        self._check_account(conn, lock=True)
        if name == "INBOX":
            raise Conflict("INBOX cannot be deleted")
        row = conn.execute(
            self._q("SELECT id FROM folders WHERE account_id = ? AND name = ?"), (self._aid, name)
        ).fetchone()
        if row is None:
            raise NotFound(f"no folder {name!r}")
        forget_folder(conn, self.dialect, row[0])
        self._delete_folder_rows(conn, ctx, row[0])
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
        self._check_account(conn, lock=True)
        if not self._exists(conn, name):
            raise NotFound(f"no folder {name!r}")
        if role is not None:
            holder = self._role_holder(conn, role)
            if holder is not None and holder != name:
                raise Conflict(f"folder {holder!r} already has role {role.value}")
        self._update(conn, ctx, name, "role", role.value if role else None)

    def _update(self, conn, ctx, name, column, value):
        self._check_account(conn, lock=True)
        cur = conn.execute(
            self._q(f"UPDATE folders SET {column} = ? WHERE account_id = ? AND name = ?"),
            (value, self._aid, name),
        )
        if cur.rowcount == 0:
            raise NotFound(f"no folder {name!r}")
        ctx.event(self.account, ChangeKind.HIERARCHY)
