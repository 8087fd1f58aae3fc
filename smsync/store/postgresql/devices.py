"""``IDeviceRegistry`` over PostgreSQL: the shared SQL registry in PostgreSQL's dialect."""

from __future__ import annotations

from smsync.store.sql.devices import LOG_LINES, SQLDeviceRegistry, default_name
from smsync.store.sql.dialect import POSTGRESQL

__all__ = ["LOG_LINES", "PGDeviceRegistry", "default_name"]


class PGDeviceRegistry(SQLDeviceRegistry):
    dialect = POSTGRESQL
