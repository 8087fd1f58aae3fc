"""``IDeviceRegistry`` over SQL: the Synchronized Devices list, logs and sync state.

Times are kept as integer microseconds since the epoch so a ``Device`` read back compares
equal to the one ``seen`` returned.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IDeviceListing, IDeviceRegistry
from smsync.model import ConflictPolicy, Device, DeviceLogEntry
from smsync.store.common import (
    decode_cursor,
    device_listing_args,
    encode_cursor,
    normalize_account,
)
from smsync.store.sql.accounts import lookup_account as _lookup
from smsync.store.sql.dialect import Dialect

#: Log lines kept per device.
LOG_LINES = 200

_COLS = "device_id, name, protocol, user_agent, first_seen, last_sync, conflict_policy"


def _now_us() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1_000_000)


def _time(us: Optional[int]) -> Optional[datetime]:
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(
        microsecond=us % 1_000_000
    )


def default_name(device_id: str, protocol: str, user_agent: Optional[str]) -> str:
    """A display name for a device first seen without one."""
    if user_agent:
        # "Apple-iPhone13C2/2003.100" -> "Apple-iPhone13C2": the model without the build.
        return user_agent.split("/", 1)[0].strip() or user_agent
    return f"{protocol} device {device_id}"


def _state_value(key, value):
    if not isinstance(key, str) or not key:
        raise InvalidData("a state key is a non-empty string")
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidData(f"device state {key!r} must be bytes or None")


@implementer(IDeviceRegistry, IDeviceListing)
class SQLDeviceRegistry:
    """The registry, for a backend that sets ``dialect``."""

    dialect: Dialect

    def __init__(self, store):
        self._db = store.db
        q = self.dialect.q
        d = self.dialect
        dev = "account_id = ? AND device_id = ?"
        # Built once: the statements are the same for every call.
        self._sql_account = q("SELECT id FROM accounts WHERE name = ?")
        # Writers share-lock the account row: an account being removed by another frontend
        # is waited for, and then not found, instead of getting orphaned device rows.
        self._sql_account_locked = q("SELECT id FROM accounts WHERE name = ?" + d.share_lock)
        self._sql_fetch = q(f"SELECT {_COLS} FROM devices WHERE {dev}")
        # One statement, so a device first seen by two frontends at once is made once.
        self._sql_seen = q(
            "INSERT INTO devices (account_id, device_id, name, protocol, user_agent,"
            " first_seen, last_sync, sync_order, conflict_policy)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, {d.next_sync_order}, ?)"
            " ON CONFLICT (account_id, device_id) DO UPDATE SET protocol = EXCLUDED.protocol,"
            " user_agent = COALESCE(EXCLUDED.user_agent, devices.user_agent),"
            " last_sync = CASE WHEN ? THEN EXCLUDED.last_sync ELSE devices.last_sync END,"
            " sync_order = CASE WHEN ? THEN EXCLUDED.sync_order ELSE devices.sync_order END"
        )
        # Synced devices by last sync (ties by sync order), then never-synced ones.
        self._sql_list = q(
            f"SELECT {_COLS} FROM devices WHERE account_id = ?"
            " ORDER BY last_sync IS NULL, last_sync DESC, sync_order DESC, first_seen DESC"
        )
        self._sql_set = {
            column: q(f"UPDATE devices SET {column} = ? WHERE {dev}")
            for column in ("name", "conflict_policy")
        }
        self._sql_remove = [
            q(f"DELETE FROM {table} WHERE {dev}")
            for table in ("devices", "device_log", "device_state")
        ]
        self._sql_log = q(
            "INSERT INTO device_log (account_id, device_id, time, message) VALUES (?, ?, ?, ?)"
        )
        self._sql_log_trim = q(
            f"DELETE FROM device_log WHERE {dev} AND id <="
            f" (SELECT id FROM device_log WHERE {dev}"
            "  ORDER BY id DESC LIMIT 1 OFFSET ?)"
        )
        self._sql_get_log = q(
            f"SELECT time, message FROM device_log WHERE {dev} ORDER BY id DESC LIMIT ?"
        )
        self._sql_state = q(f"SELECT value FROM device_state WHERE {dev} AND key = ?")
        # Devices across accounts, the stalest first: a walk of the devices_stale index
        # on exactly this expression, from the cursor on.
        stale = "COALESCE(d.last_sync, -1)"
        self._sql_across = {
            by_protocol: q(
                f"SELECT {stale}, d.account_id, a.name, "
                + ", ".join("d." + c.strip() for c in _COLS.split(","))
                + f" FROM devices d JOIN accounts a ON a.id = d.account_id WHERE {stale} < ?"
                # The first bound alone lets every database start the index walk there.
                f" AND {stale} >= ? AND ({stale}, d.account_id, d.device_id) > (?, ?, ?)"
                + (" AND d.protocol = ?" if by_protocol else "")
                + f" ORDER BY {stale}, d.account_id, d.device_id LIMIT ?")
            for by_protocol in (False, True)
        }
        self._sql_count = q("SELECT COUNT(*) FROM devices")
        self._sql_state_delete = q(f"DELETE FROM device_state WHERE {dev} AND key = ?")
        self._sql_state_save = q(
            "INSERT INTO device_state (account_id, device_id, key, value)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (account_id, device_id, key)"
            " DO UPDATE SET value = EXCLUDED.value"
        )

    def _account_id(self, conn, account: str, missing_ok=False, lock=False):
        sql = self._sql_account_locked if lock else self._sql_account
        row = conn.execute(sql, (account,)).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise NotFound(f"no account {account}")
        return row[0]

    def _device(self, account, row) -> Device:
        device_id, name, protocol, user_agent, first_seen, last_sync, policy = row
        return Device(
            account, device_id, name, protocol, user_agent, _time(first_seen), _time(last_sync),
            ConflictPolicy(policy),
        )

    def _fetch(self, conn, aid, account, device_id) -> Device:
        row = conn.execute(self._sql_fetch, (aid, device_id)).fetchone()
        if row is None:
            raise NotFound(f"no device {device_id!r}")
        return self._device(account, row)

    @deferred
    async def seen(self, account, device_id, protocol, user_agent=None, name=None, success=True):
        account = _lookup(account)
        if not isinstance(device_id, str) or not device_id:
            raise InvalidData("a device id is a non-empty string")
        return await self._db.write(
            self._seen, account, device_id, str(protocol), user_agent, name, bool(success)
        )

    def _seen(self, conn, ctx, account, device_id, protocol, user_agent, name, success):
        aid = self._account_id(conn, account, lock=True)
        now = _now_us()
        conn.execute(
            self._sql_seen,
            (
                aid, device_id, name or default_name(device_id, protocol, user_agent),
                protocol, user_agent, now, now if success else None,
                ConflictPolicy.SERVER_WINS.value, success, success,
            ),
        )
        return self._fetch(conn, aid, account, device_id)

    @deferred
    async def get(self, account, device_id):
        account = _lookup(account)
        return await self._db.read(
            lambda conn: self._fetch(conn, self._account_id(conn, account), account, device_id)
        )

    @deferred
    async def list(self, account):
        try:
            account = normalize_account(account)
        except InvalidData:
            return []
        return await self._db.read(self._list, account)

    def _list(self, conn, account):
        aid = self._account_id(conn, account, missing_ok=True)
        rows = conn.execute(self._sql_list, (aid,)).fetchall()
        return [self._device(account, r) for r in rows]

    @deferred
    async def rename(self, account, device_id, name):
        account = _lookup(account)
        if not isinstance(name, str) or not name.strip():
            raise InvalidData("a device name is a non-empty string")
        return await self._db.write(self._set, account, device_id, "name", name)

    @deferred
    async def set_conflict_policy(self, account, device_id, policy):
        account = _lookup(account)
        try:
            policy = ConflictPolicy(policy)
        except ValueError:
            raise InvalidData(f"unknown conflict policy {policy!r}") from None
        return await self._db.write(self._set, account, device_id, "conflict_policy", policy.value)

    def _set(self, conn, ctx, account, device_id, column, value):
        aid = self._account_id(conn, account, lock=True)
        cur = conn.execute(self._sql_set[column], (value, aid, device_id))
        if cur.rowcount == 0:
            raise NotFound(f"no device {device_id!r}")

    @deferred
    async def remove(self, account, device_id):
        account = _lookup(account)
        return await self._db.write(self._remove, account, device_id)

    def _remove(self, conn, ctx, account, device_id):
        aid = self._account_id(conn, account, lock=True)
        devices, *dependants = self._sql_remove
        if conn.execute(devices, (aid, device_id)).rowcount == 0:
            raise NotFound(f"no device {device_id!r}")
        for sql in dependants:
            conn.execute(sql, (aid, device_id))

    @deferred
    async def log(self, account, device_id, message):
        account = _lookup(account)
        return await self._db.write(self._log, account, device_id, str(message))

    def _log(self, conn, ctx, account, device_id, message):
        aid = self._account_id(conn, account, lock=True)
        self._fetch(conn, aid, account, device_id)
        conn.execute(self._sql_log, (aid, device_id, _now_us(), message))
        conn.execute(self._sql_log_trim, (aid, device_id, aid, device_id, LOG_LINES))

    @deferred
    async def get_log(self, account, device_id, limit=LOG_LINES):
        account = _lookup(account)
        return await self._db.read(self._get_log, account, device_id, int(limit))

    def _get_log(self, conn, account, device_id, limit):
        aid = self._account_id(conn, account)
        self._fetch(conn, aid, account, device_id)
        if limit <= 0:
            return []
        rows = conn.execute(self._sql_get_log, (aid, device_id, limit)).fetchall()
        return [DeviceLogEntry(_time(t), m) for t, m in reversed(rows)]

    @deferred
    async def load_state(self, account, device_id, key):
        try:
            account = normalize_account(account)
        except InvalidData:
            return None
        return await self._db.read(self._load_state, account, device_id, key)

    def _load_state(self, conn, account, device_id, key):
        aid = self._account_id(conn, account, missing_ok=True)
        if aid is None:
            return None
        row = conn.execute(self._sql_state, (aid, device_id, key)).fetchone()
        return row[0] if row else None

    @deferred
    async def save_state(self, account, device_id, key, value):
        account = _lookup(account)
        values = {key: _state_value(key, value)}
        return await self._db.write(self._save, account, device_id, values)

    @deferred
    async def save_states(self, account, device_id, values):
        account = _lookup(account)
        checked = {k: _state_value(k, v) for k, v in dict(values).items()}
        return await self._db.write(self._save, account, device_id, checked)

    def _save(self, conn, ctx, account, device_id, values):
        aid = self._account_id(conn, account, lock=True)
        self._fetch(conn, aid, account, device_id)
        for key, value in values.items():
            if value is None:
                conn.execute(self._sql_state_delete, (aid, device_id, key))
            else:
                conn.execute(self._sql_state_save, (aid, device_id, key, value))

    @deferred
    async def across(self, protocol=None, synced_before=None, after=None, limit=100):
        protocol, below, limit = device_listing_args(protocol, synced_before, limit)
        # The cursor: the last entry's (sort time, account row id, device id).
        start = decode_cursor(after, int, int, str) if after is not None else (-2, 0, "")
        args = (below, start[0], *start) + ((protocol,) if protocol else ()) + (limit + 1,)
        sql = self._sql_across[protocol is not None]
        rows = await self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        devices = [self._device(row[2], row[3:]) for row in rows[:limit]]
        more = len(rows) > limit
        return devices, encode_cursor(*rows[limit - 1][:2], rows[limit - 1][3]) if more else None

    @deferred
    async def count(self):
        return await self._db.read(lambda conn: conn.execute(self._sql_count).fetchone()[0])
