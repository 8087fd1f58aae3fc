"""The Synchronized Devices list as users and administrators manage it (the web
interface and ``smsync devices`` alike): each device with what can be done to it,
renamed, deleted (its sync state goes: its next sync starts over), wiped.

Rename is offered only where the protocol names a client by a stable id of its own
(EAS's DeviceId, SyncML's LocURI): CalDAV, CardDAV, EWS, IMAP and POP3 clients are named
by what they send (user agent, ID, address), which two programs can share or one can
change, so their entries are shown read-only -- they can still be deleted.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.edge.devices import WipeRequest, request_wipe, wipe_request
from smsync.errors import InvalidData, NotFound
from smsync.model import Device

#: What each protocol's devices are called on the page.
TYPES = {"eas": "Exchange ActiveSync", "ews": "Exchange Web Services", "syncml": "SyncML",
         "caldav": "CalDAV", "carddav": "CardDAV", "dav": "CalDAV/CardDAV", "imap": "IMAP",
         "pop3": "POP3", "lists": "Add to Outlook"}
#: Protocols whose clients have a stable id of their own: their entries can be renamed.
RENAMABLE = frozenset({"eas", "syncml", "lists"})
#: Protocols whose devices can be wiped remotely.
WIPEABLE = frozenset({"eas"})
MAX_NAME = 100


@attrs.frozen
class DeviceView:
    """A device as the list shows it."""

    device: Device
    wipe: Optional[WipeRequest] = None

    @property
    def type(self) -> str:
        return TYPES.get(self.device.protocol, self.device.protocol)

    @property
    def renamable(self) -> bool:
        return self.device.protocol in RENAMABLE

    @property
    def wipeable(self) -> bool:
        return self.device.protocol in WIPEABLE

    def as_json(self) -> dict:
        d = self.device
        return {
            "id": d.device_id, "name": d.name, "protocol": d.protocol, "type": self.type,
            "user_agent": d.user_agent, "first_seen": _iso(d.first_seen),
            "last_sync": _iso(d.last_sync), "renamable": self.renamable, "wipeable": self.wipeable,
            "wipe": None if self.wipe is None else {
                "account_only": self.wipe.account_only, "requested": self.wipe.requested,
                "acknowledged": self.wipe.acknowledged, "status": self.wipe.status},
        }


def _iso(value) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _newest_first(view: DeviceView):
    d = view.device
    return (d.last_sync or d.first_seen).timestamp()


async def devices_of(store, account: str) -> list[DeviceView]:
    """Every device of ``account``, the most recently synced first."""
    views = []
    for device in await store.devices.list(account):
        wipe = await wipe_request(store.devices, account, device.device_id) \
            if device.protocol in WIPEABLE else None
        views.append(DeviceView(device, wipe))
    views.sort(key=_newest_first, reverse=True)
    return views


async def device_of(store, account: str, device_id: str) -> DeviceView:
    """One device of ``account``; ``NotFound`` if it has none of that id."""
    device = await store.devices.get(account, device_id)
    wipe = await wipe_request(store.devices, account, device_id) if device.protocol in WIPEABLE else None
    return DeviceView(device, wipe)


def check_name(name: str) -> str:
    """A device name as given, trimmed; ``InvalidData`` for an empty, too long or
    control-character one."""
    name = (name or "").strip()
    if not name:
        raise InvalidData("the name is empty")
    if len(name) > MAX_NAME:
        raise InvalidData(f"the name is longer than {MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidData("the name holds control characters")
    return name


async def rename(store, account: str, device_id: str, name: str) -> DeviceView:
    """Give a device a display name. ``NotFound``; ``InvalidData`` for a bad name or a
    protocol whose entries cannot be renamed."""
    view = await device_of(store, account, device_id)
    if not view.renamable:
        raise InvalidData(f"{view.type} clients are named by what they send; their entries cannot be renamed")
    await store.devices.rename(account, device_id, check_name(name))
    return await device_of(store, account, device_id)


async def delete(store, account: str, device_id: str) -> None:
    """Forget a device and its sync state (its next sync starts over). ``NotFound``."""
    await store.devices.get(account, device_id)
    await store.devices.remove(account, device_id)


async def wipe(store, account: str, device_id: str, account_only: bool = False) -> WipeRequest:
    """Ask a device to wipe itself (or only this account's data) when it next connects.
    ``NotFound``; ``InvalidData`` for a device of a protocol that cannot be wiped."""
    view = await device_of(store, account, device_id)
    if not view.wipeable:
        raise InvalidData(f"{view.type} devices cannot be wiped remotely")
    return await request_wipe(store.devices, account, device_id, account_only)


async def log_of(store, account: str, device_id: str, limit: int = 200) -> list:
    """A device's log, oldest first. ``NotFound``."""
    await store.devices.get(account, device_id)
    return await store.devices.get_log(account, device_id, limit)


def not_found_message(account: str, device_id: str) -> str:
    return f"{account} has no device {device_id!r}"


__all__ = ["DeviceView", "devices_of", "device_of", "rename", "delete", "wipe", "log_of", "check_name",
           "NotFound"]
