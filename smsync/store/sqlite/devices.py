"""``IDeviceRegistry`` over SQLite: the shared SQL registry in SQLite's dialect."""

from __future__ import annotations

from smsync.store.sql.devices import LOG_LINES, SQLDeviceRegistry, default_name
from smsync.store.sql.dialect import SQLITE

__all__ = ["LOG_LINES", "SQLiteDeviceRegistry", "default_name"]


class SQLiteDeviceRegistry(SQLDeviceRegistry):
    dialect = SQLITE
