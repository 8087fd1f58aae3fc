"""``IFolderSharing`` and ``IAnnotations`` over SQL.

``folder_acl`` holds one row per folder and identifier (the owner's account id beside
it, so the owner's removal finds its rows); ``annotations`` one row per account, folder
id (``""`` for the account as a whole) and name. Both name folders by ``folders.fid``,
which is never reused. Folder deletion and account removal call ``forget_folder`` and
``forget_account`` inside their own transactions, so nothing outlives what it was on.

Writes share-lock the account row, as the settings do: a write racing the account's
removal (or, for access lists, a folder's deletion, which update-locks it) waits for it
and then finds nothing, instead of leaving an orphaned row.
"""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IAnnotations, IFolderSharing
from smsync.model import FolderGrant
from smsync.store.common import annotation_changes, normalize_account, sharing_entry
from smsync.store.sql.dialect import Dialect


def _account_or_none(account):
    try:
        return normalize_account(account)
    except InvalidData:
        return None


@implementer(IFolderSharing)
class SQLFolderSharing:
    """The folders' access control lists of a SQL store, in ``dialect``."""

    def __init__(self, store, dialect: Dialect):
        self._db = store.db
        q = dialect.q
        self._sql_get = q(
            "SELECT r.identifier, r.rights FROM folder_acl r"
            " JOIN folders f ON f.fid = r.folder_id JOIN accounts a ON a.id = f.account_id"
            " WHERE a.name = ? AND r.folder_id = ?")
        self._sql_account = q("SELECT id FROM accounts WHERE name = ?" + dialect.share_lock)
        self._sql_folder = q("SELECT 1 FROM folders WHERE account_id = ? AND fid = ?")
        self._sql_set = q(
            "INSERT INTO folder_acl (account_id, folder_id, identifier, rights) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (folder_id, identifier) DO UPDATE SET rights = EXCLUDED.rights")
        self._sql_delete = q("DELETE FROM folder_acl WHERE folder_id = ? AND identifier = ?")
        self._sql_granted = q(
            "SELECT a.name, r.folder_id, r.rights FROM folder_acl r"
            " JOIN folders f ON f.fid = r.folder_id JOIN accounts a ON a.id = f.account_id"
            " WHERE r.identifier = ?")

    @deferred
    async def get(self, owner, folder_id):
        owner = _account_or_none(owner)
        if owner is None or not isinstance(folder_id, str):
            return {}
        rows = await self._db.read(
            lambda conn: conn.execute(self._sql_get, (owner, folder_id)).fetchall())
        return {identifier: rights for identifier, rights in rows}

    @deferred
    async def set(self, owner, folder_id, identifier, rights):
        identifier, rights = sharing_entry(identifier, rights)
        name = _account_or_none(owner)
        if name is None:
            raise NotFound(f"no account {owner!r}")
        if not isinstance(folder_id, str):
            raise NotFound(f"no folder with id {folder_id!r}")
        await self._db.write(self._set, name, folder_id, identifier, rights)

    def _set(self, conn, ctx, owner, folder_id, identifier, rights):
        row = conn.execute(self._sql_account, (owner,)).fetchone()
        if row is None:
            raise NotFound(f"no account {owner}")
        if conn.execute(self._sql_folder, (row[0], folder_id)).fetchone() is None:
            raise NotFound(f"{owner} has no folder with id {folder_id!r}")
        if rights is None:
            conn.execute(self._sql_delete, (folder_id, identifier))
        else:
            conn.execute(self._sql_set, (row[0], folder_id, identifier, rights))

    @deferred
    async def granted(self, identifier):
        if not isinstance(identifier, str):
            return []
        rows = await self._db.read(
            lambda conn: conn.execute(self._sql_granted, (identifier,)).fetchall())
        # Sorted in Python: code-point order whatever the database's collation.
        return [FolderGrant(owner, folder_id, identifier, rights)
                for owner, folder_id, rights in sorted(rows)]


@implementer(IAnnotations)
class SQLAnnotations:
    """The annotations of a SQL store, in ``dialect``."""

    def __init__(self, store, dialect: Dialect):
        self._db = store.db
        q = dialect.q
        self._sql_get = q(
            "SELECT n.name, n.value FROM annotations n JOIN accounts a ON a.id = n.account_id"
            " WHERE a.name = ? AND n.folder_id = ?")
        self._sql_account = q("SELECT id FROM accounts WHERE name = ?" + dialect.share_lock)
        self._sql_set = q(
            "INSERT INTO annotations (account_id, folder_id, name, value) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (account_id, folder_id, name) DO UPDATE SET value = EXCLUDED.value")
        self._sql_delete = q(
            "DELETE FROM annotations WHERE account_id = ? AND folder_id = ? AND name = ?")

    @deferred
    async def get(self, account, folder_id):
        account = _account_or_none(account)
        if account is None or not isinstance(folder_id, str):
            return {}
        rows = await self._db.read(
            lambda conn: conn.execute(self._sql_get, (account, folder_id)).fetchall())
        return {name: bytes(value) for name, value in rows}

    @deferred
    async def set(self, account, folder_id, changes):
        changes = annotation_changes(folder_id, changes)
        name = _account_or_none(account)
        if name is None:
            raise NotFound(f"no account {account!r}")
        await self._db.write(self._set, name, folder_id, changes)

    def _set(self, conn, ctx, account, folder_id, changes):
        row = conn.execute(self._sql_account, (account,)).fetchone()
        if row is None:
            raise NotFound(f"no account {account}")
        for name, value in changes.items():
            if value is None:
                conn.execute(self._sql_delete, (row[0], folder_id, name))
            else:
                conn.execute(self._sql_set, (row[0], folder_id, name, value))


def forget_folder(conn, dialect: Dialect, folder_pk: int) -> None:
    """Before the folder row ``folder_pk`` is deleted: drop its access control list and
    every account's annotations on it. Blocking, inside the deleting transaction."""
    q = dialect.q
    for table in ("folder_acl", "annotations"):
        conn.execute(q(f"DELETE FROM {table} WHERE folder_id IN"
                       " (SELECT fid FROM folders WHERE id = ?)"), (folder_pk,))


def forget_account(conn, dialect: Dialect, account_pk: int, account: str) -> None:
    """Before the account row ``account_pk`` (named ``account``) and its folders are
    deleted: drop the access lists of its folders, every entry naming it, its own
    annotations and everyone's annotations on its folders. Blocking."""
    q = dialect.q
    conn.execute(q("DELETE FROM annotations WHERE folder_id IN"
                   " (SELECT fid FROM folders WHERE account_id = ?)"), (account_pk,))
    conn.execute(q("DELETE FROM annotations WHERE account_id = ?"), (account_pk,))
    conn.execute(q("DELETE FROM folder_acl WHERE account_id = ? OR identifier = ? OR identifier = ?"),
                 (account_pk, account, "-" + account))
