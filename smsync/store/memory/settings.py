"""``IAccountSettings`` in memory: each account's settings live with its ``AccountData``,
so removing the account removes them."""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.interfaces import IAccountSettings
from smsync.store.common import setting_key_value


@implementer(IAccountSettings)
class MemoryAccountSettings:
    """The per-account settings of a memory store."""

    def __init__(self, store):
        self._store = store

    @deferred
    async def get(self, account, key):
        try:
            data = self._store._account_data(account)
        except NotFound:
            return None
        return data.settings.get(key)

    @deferred
    async def set(self, account, key, value):
        key, value = setting_key_value(key, value)
        data = self._store._account_data(account)
        if value is None:
            data.settings.pop(key, None)
        else:
            data.settings[key] = value
