"""``IAccountSettings`` over SQL: one row per account and key, removed with the account.

Writes share-lock the account row (as device state does), so a setting written while
another frontend removes the account waits for it and then finds no account, instead of
leaving an orphaned row.
"""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IAccountSettings
from smsync.store.common import normalize_account, setting_key_value
from smsync.store.sql.dialect import Dialect


@implementer(IAccountSettings)
class SQLAccountSettings:
    """The per-account settings of a SQL store, in ``dialect``."""

    def __init__(self, store, dialect: Dialect):
        self._db = store.db
        q = dialect.q
        self._sql_get = q(
            "SELECT s.value FROM account_settings s JOIN accounts a ON a.id = s.account_id"
            " WHERE a.name = ? AND s.key = ?")
        self._sql_account = q("SELECT id FROM accounts WHERE name = ?" + dialect.share_lock)
        self._sql_set = q(
            "INSERT INTO account_settings (account_id, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (account_id, key) DO UPDATE SET value = EXCLUDED.value")
        self._sql_delete = q("DELETE FROM account_settings WHERE account_id = ? AND key = ?")

    @deferred
    async def get(self, account, key):
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        if not isinstance(key, str):
            return None
        row = await self._db.read(
            lambda conn: conn.execute(self._sql_get, (account, key)).fetchone())
        return None if row is None else bytes(row[0])

    @deferred
    async def set(self, account, key, value):
        key, value = setting_key_value(key, value)
        try:
            account = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        await self._db.write(self._set, account, key, value)

    def _set(self, conn, ctx, account, key, value):
        row = conn.execute(self._sql_account, (account,)).fetchone()
        if row is None:
            raise NotFound(f"no account {account}")
        if value is None:
            conn.execute(self._sql_delete, (row[0], key))
        else:
            conn.execute(self._sql_set, (row[0], key, value))
