"""``IDeviceRegistry`` as one JSON file per account (``ACCOUNT/devices.json``).

Sync state is opaque bytes, kept base64-encoded. Rewriting the whole file on every
change is slow for hundreds of devices and fine for the handful a person owns.
"""

from __future__ import annotations

import base64
import os

from zope.interface import implementer

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IDeviceRegistry
from smsync.model import ConflictPolicy, Device, DeviceLogEntry
from smsync.store.base import DeviceRegistryBase
from smsync.store.common import normalize_account

from .files import from_iso, read_json, to_iso, utcnow, write_json
from .worker import on_disk

LOG_LINES = 200


def _device(account: str, device_id: str, entry: dict) -> Device:
    return Device(
        account=account,
        device_id=device_id,
        name=entry["name"],
        protocol=entry["protocol"],
        user_agent=entry["user_agent"],
        first_seen=from_iso(entry["first_seen"]),
        last_sync=from_iso(entry["last_sync"]),
        conflict_policy=ConflictPolicy(entry["conflict_policy"]),
    )


@implementer(IDeviceRegistry)
class DeviceRegistry(DeviceRegistryBase):
    def __init__(self, disk, account_dir):
        self._disk = disk
        #: account name -> its directory, or None when there is no such account.
        self._account_dir = account_dir

    def _file(self, account: str) -> tuple[str, str]:
        try:
            account = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        directory = self._account_dir(account)
        if directory is None:
            raise NotFound(f"no account {account!r}")
        return account, os.path.join(directory, "devices.json")

    def _load(self, account: str) -> tuple[str, str, dict]:
        account, path = self._file(account)
        return account, path, read_json(path) or {}

    @staticmethod
    def _entry(devices: dict, device_id: str) -> dict:
        if device_id not in devices:
            raise NotFound(f"no device {device_id!r}")
        return devices[device_id]

    @on_disk
    def seen(self, account, device_id, protocol, user_agent=None, name=None, success=True):
        if not isinstance(device_id, str) or not device_id:
            raise InvalidData("a device id is a non-empty string")
        account, path, devices = self._load(account)
        now = to_iso(utcnow())
        entry = devices.setdefault(
            device_id,
            {
                "name": name or user_agent or device_id,
                "first_seen": now,
                "last_sync": None,
                "conflict_policy": ConflictPolicy.SERVER_WINS.value,
                "log": [],
                "state": {},
                "user_agent": None,
            },
        )
        entry["protocol"] = protocol
        if user_agent is not None:
            entry["user_agent"] = user_agent
        if success:
            entry["last_sync"] = now
        write_json(path, devices)
        return _device(account, device_id, entry)

    @on_disk
    def get(self, account, device_id):
        account, _, devices = self._load(account)
        return _device(account, device_id, self._entry(devices, device_id))

    @on_disk
    def list(self, account):
        try:
            account, _, devices = self._load(account)
        except NotFound:  # an account that is gone has no devices
            return []
        found = [_device(account, device_id, entry) for device_id, entry in devices.items()]
        # Most recently synced first; never-synced devices last, newest first among them.
        return sorted(
            found,
            key=lambda d: (d.last_sync is not None, d.last_sync or d.first_seen, d.first_seen),
            reverse=True,
        )

    def _update(self, account, device_id, change) -> None:
        account, path, devices = self._load(account)
        change(self._entry(devices, device_id))
        write_json(path, devices)

    @on_disk
    def rename(self, account, device_id, name):
        self._update(account, device_id, lambda entry: entry.update(name=name))

    @on_disk
    def set_conflict_policy(self, account, device_id, policy):
        try:
            policy = ConflictPolicy(policy).value
        except ValueError:
            raise InvalidData(f"unknown conflict policy {policy!r}") from None
        self._update(account, device_id, lambda entry: entry.update(conflict_policy=policy))

    @on_disk
    def remove(self, account, device_id):
        account, path, devices = self._load(account)
        self._entry(devices, device_id)
        del devices[device_id]
        write_json(path, devices)

    @on_disk
    def log(self, account, device_id, message):
        def append(entry):
            entry["log"] = (entry["log"] + [[to_iso(utcnow()), str(message)]])[-LOG_LINES:]

        self._update(account, device_id, append)

    @on_disk
    def get_log(self, account, device_id, limit=200):
        _, _, devices = self._load(account)
        lines = self._entry(devices, device_id)["log"]
        lines = lines[-limit:] if limit > 0 else []
        return [DeviceLogEntry(from_iso(time), message) for time, message in lines]

    @on_disk
    def load_state(self, account, device_id, key):
        try:
            _, _, devices = self._load(account)
        except NotFound:
            return None
        value = devices.get(device_id, {}).get("state", {}).get(key)
        return None if value is None else base64.b64decode(value)

    @on_disk
    def save_states(self, account, device_id, values):
        # One rewrite of the devices file: the keys are saved together or not at all.
        for key, value in values.items():
            if not isinstance(key, str) or not (value is None or isinstance(value, bytes)):
                raise InvalidData(f"device state is str -> bytes or None, not {key!r}")

        def save(entry):
            for key, value in values.items():
                if value is None:
                    entry["state"].pop(key, None)
                else:
                    entry["state"][key] = base64.b64encode(value).decode("ascii")

        self._update(account, device_id, save)
