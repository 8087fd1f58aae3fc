"""``IDeviceRegistry`` of the memory store: the Synchronized Devices list.

Devices live in their account's ``AccountData``, so removing an account drops its
devices and their sync state with it.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

import attrs
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IDeviceListing, IDeviceRegistry
from smsync.model import ConflictPolicy, Device, DeviceLogEntry
from smsync.store.common import decode_cursor, device_listing_args, device_sort_time, encode_cursor

if TYPE_CHECKING:
    from smsync.store.memory.backend import MemoryStore

#: Log lines kept per device (the newest).
LOG_LINES = 200


class DeviceState:
    """A device entry, its log and its opaque per-protocol sync state."""

    __slots__ = ("device", "sync_order", "log", "state")

    def __init__(self, device: Device, sync_order: int):
        self.device = device
        # Tie-breaker for "most recently synced first" when two syncs share a timestamp.
        self.sync_order = sync_order
        self.log: deque[DeviceLogEntry] = deque(maxlen=LOG_LINES)
        self.state: dict[str, bytes] = {}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _bytes_or_none(key, value) -> Optional[bytes]:
    if not isinstance(key, str) or not key:
        raise InvalidData(f"a device state key is a non-empty string, not {key!r}")
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidData(f"device state {key!r} must be bytes or None")


def _default_name(device_id: str, protocol: str, user_agent: Optional[str]) -> str:
    if user_agent:
        # "Apple-iPhone13C2/2003.100" -> "Apple-iPhone13C2": the model, without the build.
        return user_agent.split("/", 1)[0].strip() or user_agent
    return f"{protocol} device {device_id}"


@implementer(IDeviceRegistry, IDeviceListing)
class MemoryDeviceRegistry:
    """Devices per account, kept in the account's state."""

    def __init__(self, store: "MemoryStore"):
        self._store = store
        self._order = itertools.count(1)

    def _devices(self, account: str) -> dict[str, DeviceState]:
        return self._store._account_data(account).devices

    def _devices_or_none(self, account: str) -> dict[str, DeviceState]:
        """The account's devices; none at all for an unknown account (reads answer
        "nothing" rather than fail, as for a device never seen)."""
        try:
            return self._devices(account)
        except NotFound:
            return {}

    def _entry(self, account: str, device_id: str) -> DeviceState:
        entry = self._devices(account).get(device_id)
        if entry is None:
            raise NotFound(f"no device {device_id!r}")
        return entry

    def _update(self, entry: DeviceState, **changes) -> Device:
        entry.device = attrs.evolve(entry.device, **changes)
        return entry.device

    @deferred
    async def seen(
        self,
        account: str,
        device_id: str,
        protocol: str,
        user_agent: Optional[str] = None,
        name: Optional[str] = None,
        success: bool = True,
    ) -> Device:
        devices = self._devices(account)
        if not isinstance(device_id, str) or not device_id:
            raise InvalidData("a device id is a non-empty string")
        now = _now()
        entry = devices.get(device_id)
        if entry is None:
            device = Device(
                account=self._store._account_data(account).name,
                device_id=device_id,
                name=name or _default_name(device_id, protocol, user_agent),
                protocol=protocol,
                user_agent=user_agent,
                first_seen=now,
                last_sync=now if success else None,
            )
            entry = devices[device_id] = DeviceState(device, next(self._order))
            return device
        changes = {"protocol": protocol}
        if user_agent is not None:
            changes["user_agent"] = user_agent
        if success:
            changes["last_sync"] = now
            entry.sync_order = next(self._order)
        return self._update(entry, **changes)

    @deferred
    async def get(self, account: str, device_id: str) -> Device:
        return self._entry(account, device_id).device

    @deferred
    async def list(self, account: str) -> list[Device]:
        entries = self._devices_or_none(account).values()
        synced = sorted(
            (e for e in entries if e.device.last_sync is not None),
            key=lambda e: (e.device.last_sync, e.sync_order),
            reverse=True,
        )
        never = sorted(
            (e for e in entries if e.device.last_sync is None),
            key=lambda e: (e.device.first_seen, e.sync_order),
            reverse=True,
        )
        return [e.device for e in synced + never]

    @deferred
    async def rename(self, account: str, device_id: str, name: str) -> None:
        entry = self._entry(account, device_id)
        if not isinstance(name, str) or not name.strip():
            raise InvalidData("a device name is a non-empty string")
        self._update(entry, name=name)

    @deferred
    async def set_conflict_policy(self, account: str, device_id: str, policy) -> None:
        entry = self._entry(account, device_id)
        try:
            policy = ConflictPolicy(policy)
        except ValueError:
            raise InvalidData(f"unknown conflict policy {policy!r}") from None
        self._update(entry, conflict_policy=policy)

    @deferred
    async def remove(self, account: str, device_id: str) -> None:
        devices = self._devices(account)
        if device_id not in devices:
            raise NotFound(f"no device {device_id!r}")
        del devices[device_id]

    @deferred
    async def log(self, account: str, device_id: str, message: str) -> None:
        self._entry(account, device_id).log.append(DeviceLogEntry(time=_now(), message=str(message)))

    @deferred
    async def get_log(self, account: str, device_id: str, limit: int = 200) -> list[DeviceLogEntry]:
        lines = self._entry(account, device_id).log
        if limit <= 0:
            return []
        return list(lines)[-limit:]

    @deferred
    async def load_state(self, account: str, device_id: str, key: str) -> Optional[bytes]:
        entry = self._devices_or_none(account).get(device_id)
        return None if entry is None else entry.state.get(key)

    @deferred
    async def save_state(self, account: str, device_id: str, key: str, value) -> None:
        self._save(account, device_id, {key: value})

    @deferred
    async def save_states(self, account: str, device_id: str, values: dict) -> None:
        self._save(account, device_id, values)

    def _save(self, account: str, device_id: str, values: dict) -> None:
        entry = self._entry(account, device_id)
        # Validate everything before changing anything: the save is all or nothing.
        checked = {key: _bytes_or_none(key, value) for key, value in dict(values).items()}
        for key, value in checked.items():
            if value is None:
                entry.state.pop(key, None)
            else:
                entry.state[key] = value

    @deferred
    async def across(self, protocol=None, synced_before=None, after=None, limit=100):
        protocol, below, limit = device_listing_args(protocol, synced_before, limit)
        start = decode_cursor(after, int, str, str) if after is not None else None
        keyed = []
        for name, data in self._store._live_accounts().items():
            for entry in data.devices.values():
                d = entry.device
                key = (device_sort_time(d.last_sync), name, d.device_id)
                if key[0] < below and (protocol is None or d.protocol == protocol) \
                        and (start is None or key > start):
                    keyed.append((key, d))
        keyed.sort(key=lambda pair: pair[0])
        page = keyed[:limit]
        more = len(keyed) > limit
        return [d for _, d in page], encode_cursor(*page[-1][0]) if more else None

    @deferred
    async def count(self) -> int:
        return sum(len(data.devices) for data in self._store._live_accounts().values())
