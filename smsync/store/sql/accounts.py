"""``IAccountStore`` over SQL: accounts with their default folders and collections."""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import AlreadyExists, InvalidData, NotFound
from smsync.interfaces import IAccountListing, IAccountStore, IAccountUsage
from smsync.model import DEFAULT_MAILBOXES, ChangeKind
from smsync.store.common import account_page_args, normalize_account
from smsync.store.sql.collections import delete_collection_rows
from smsync.store.sql.dialect import Dialect
from smsync.store.sql.sharing import forget_account


@implementer(IAccountStore, IAccountListing, IAccountUsage)
class SQLAccountStore:
    """The account store, for a backend that sets ``dialect`` and fills in the hooks
    that touch its own folder and collection rows."""

    dialect: Dialect

    def __init__(self, store):
        self._store = store
        self._db = store.db
        q = self.dialect.q
        d = self.dialect
        self._sql_id = q("SELECT id FROM accounts WHERE name = ?")
        # ON CONFLICT: an account another frontend is creating right now is waited for
        # and then reported as taken, instead of failing the whole batch.
        self._sql_add = q(
            "INSERT INTO accounts (name, password_hash) VALUES (?, ?)"
            " ON CONFLICT (name) DO NOTHING RETURNING id"
        )
        self._sql_set_hash = q("UPDATE accounts SET password_hash = ? WHERE name = ?")
        self._sql_hash = q("SELECT password_hash FROM accounts WHERE name = ?")
        self._sql_lock = q("SELECT id FROM accounts WHERE name = ?" + d.update_lock)
        # Rows are locked in id order, so two processes removing overlapping rows take
        # their locks in one order and cannot deadlock.
        self._sql_folders = q(
            "SELECT id FROM folders WHERE account_id = ? ORDER BY id" + d.update_lock
        )
        self._sql_collections = q(
            "SELECT id FROM collections WHERE account_id = ? ORDER BY id" + d.update_lock
        )
        self._sql_remove = [
            q(f"DELETE FROM {table} WHERE account_id = ?")
            for table in ("devices", "device_log", "device_state", "account_settings",
                          "dav_nodes")
        ] + [q("DELETE FROM accounts WHERE id = ?")]
        self._sql_list = q("SELECT name FROM accounts ORDER BY name" + d.binary_order)
        # Pages walk the index on the name (in code point order: PostgreSQL's
        # accounts_name_c): a prefix is a range of it; a substring is matched while
        # walking it, stopping at the page's last row.
        name = "name" + d.binary_order
        # One bound of each side, so the database walks exactly the range: the start is
        # the cursor or the prefix, whichever is further.
        self._sql_page = {
            kind: q(f"SELECT name FROM accounts WHERE {where} ORDER BY {name} LIMIT ?")
            for kind, where in (("contains", f"{name} > ? AND name LIKE ? ESCAPE '!'"),
                                ("after", f"{name} > ? AND {name} < ?"),
                                ("from", f"{name} >= ? AND {name} < ?"))
        }
        self._sql_count = q("SELECT COUNT(*) FROM accounts")
        # Folders keep their size total: an account's usage reads its few folder rows.
        self._sql_usage = q("SELECT a.id, (SELECT COALESCE(SUM(n_size), 0) FROM folders f"
                            " WHERE f.account_id = a.id) FROM accounts a WHERE a.name = ?")

    # Hooks: the backend's own folder and collection rows.

    def _create_folder(self, conn, aid: int, name: str, role) -> None:
        raise NotImplementedError

    def _create_default_collections(self, conn, aid: int) -> None:
        raise NotImplementedError

    def _delete_folder(self, conn, ctx, pk: int) -> None:
        raise NotImplementedError

    def _delete_collection(self, conn, pk: int) -> None:
        delete_collection_rows(conn, self.dialect, pk)

    def account_id(self, conn, account: str):
        """The row id of ``account`` (already normalised), or None. Blocking."""
        row = conn.execute(self._sql_id, (account,)).fetchone()
        return row[0] if row else None

    @deferred
    async def add(self, account, password_hash):
        account = normalize_account(account)
        return await self._db.write(self._add, account, password_hash)

    def _add(self, conn, ctx, account, password_hash):
        row = conn.execute(self._sql_add, (account, password_hash)).fetchone()
        if row is None:
            raise AlreadyExists(f"account {account} exists")
        aid = row[0]
        for name, role in DEFAULT_MAILBOXES.items():
            self._create_folder(conn, aid, name, role)
        self._create_default_collections(conn, aid)
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def set_password_hash(self, account, password_hash):
        account = lookup_account(account)
        return await self._db.write(self._set_hash, account, password_hash)

    def _set_hash(self, conn, ctx, account, password_hash):
        cur = conn.execute(self._sql_set_hash, (password_hash, account))
        if cur.rowcount == 0:
            raise NotFound(f"no account {account}")

    @deferred
    async def password_hash(self, account):
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        row = await self._db.read(lambda conn: conn.execute(self._sql_hash, (account,)).fetchone())
        return row[0] if row else None

    @deferred
    async def remove(self, account):
        account = lookup_account(account)
        return await self._db.write(self._remove, account)

    def _remove(self, conn, ctx, account):
        row = conn.execute(self._sql_lock, (account,)).fetchone()
        if row is None:
            raise NotFound(f"no account {account}")
        aid = row[0]
        forget_account(conn, self.dialect, aid, account)
        for (pk,) in conn.execute(self._sql_folders, (aid,)).fetchall():
            self._delete_folder(conn, ctx, pk)
        for (pk,) in conn.execute(self._sql_collections, (aid,)).fetchall():
            self._delete_collection(conn, pk)
        for sql in self._sql_remove:
            conn.execute(sql, (aid,))
        ctx.event(account, ChangeKind.HIERARCHY)

    @deferred
    async def list(self):
        return await self._db.read(lambda conn: [r[0] for r in conn.execute(self._sql_list)])

    @deferred
    async def page(self, search=None, after=None, limit=100, prefix=False):
        search, after, limit = account_page_args(search, after, limit)
        if search and not prefix:
            pattern = "%" + search.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
            sql, args = self._sql_page["contains"], (after or "", pattern, limit)
        else:
            # Every name starting with the prefix ("" for all) sorts below it followed
            # by the highest code point.
            upper = search + "\U0010ffff"
            if after is not None and after >= search:
                sql, args = self._sql_page["after"], (after, upper, limit)
            else:
                sql, args = self._sql_page["from"], (search, upper, limit)
        return await self._db.read(lambda conn: [r[0] for r in conn.execute(sql, args)])

    @deferred
    async def count(self):
        return await self._db.read(lambda conn: conn.execute(self._sql_count).fetchone()[0])

    @deferred
    async def usage(self, account):
        account = lookup_account(account)
        row = await self._db.read(lambda conn: conn.execute(self._sql_usage, (account,)).fetchone())
        if row is None:
            raise NotFound(f"no account {account}")
        return int(row[1])


def lookup_account(account: str) -> str:
    """Normalise an account being looked up: a malformed name is simply not there."""
    try:
        return normalize_account(account)
    except InvalidData:
        raise NotFound(f"no account {account!r}") from None
