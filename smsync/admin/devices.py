"""The Synchronized Devices list as users and administrators manage it (the web
interface and ``smsync devices`` alike): each device with what can be done to it,
renamed, deleted (its sync state goes: its next sync starts over), wiped.

Rename is offered only where the protocol names a client by a stable id of its own
(EAS's DeviceId, SyncML's LocURI): CalDAV, CardDAV, EWS, IMAP and POP3 clients are named
by what they send (user agent, ID, address), which two programs can share or one can
change, so their entries are shown read-only -- they can still be deleted.
"""

from __future__ import annotations

import json
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
#: What a client of each protocol syncs, where the protocol alone says it (an IMAP
#: client syncs mail); EAS, EWS and SyncML devices choose, and their state says what.
SYNCS = {"imap": ("Mail",), "pop3": ("Mail",), "caldav": ("Calendars",), "carddav": ("Contacts",),
         "dav": ("Calendars", "Contacts")}


@attrs.frozen
class DeviceView:
    """A device as the list shows it."""

    device: Device
    wipe: Optional[WipeRequest] = None
    #: What it syncs ("Mail", "Calendars: Work"...), as far as known; empty: not known.
    syncs: tuple = ()
    #: What the device says of itself beyond its user agent, as (label, value) pairs
    #: (an EAS device's model, OS...; read on its own page only).
    details: tuple = ()

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
            "syncs": list(self.syncs), "details": dict(self.details),
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
    """Every device of ``account``, the most recently synced first. What each syncs is
    only what its protocol says (``SYNCS``): reading every device's state would cost
    the list a store round trip per device; ``device_of`` reads it."""
    views = []
    for device in await store.devices.list(account):
        wipe = await wipe_request(store.devices, account, device.device_id) \
            if device.protocol in WIPEABLE else None
        views.append(DeviceView(device, wipe, SYNCS.get(device.protocol, ())))
    views.sort(key=_newest_first, reverse=True)
    return views


async def device_of(store, account: str, device_id: str) -> DeviceView:
    """One device of ``account``, with what it syncs read from its state; ``NotFound``
    if the account has no device of that id (another account's device is not found
    either: ids are looked up in ``account`` only)."""
    view = await _plain_view(store, account, device_id)
    return attrs.evolve(view, syncs=await syncs_of(store, view.device),
                        details=await details_of(store, view.device))


async def _plain_view(store, account: str, device_id: str) -> DeviceView:
    """The device without reading what it syncs (for the checks before a change)."""
    device = await store.devices.get(account, device_id)
    wipe = await wipe_request(store.devices, account, device_id) if device.protocol in WIPEABLE else None
    return DeviceView(device, wipe, SYNCS.get(device.protocol, ()))


# -- what a device says of itself -----------------------------------------------------

#: The fields of an EAS device's DeviceInformation shown, with their labels.
_EAS_DETAILS = (("Model", "Model"), ("FriendlyName", "Friendly name"), ("OS", "Operating system"),
                ("OSLanguage", "Language"), ("MobileOperator", "Mobile operator"))


async def details_of(store, device: Device) -> tuple:
    """What ``device`` said of itself beyond its user agent, as (label, value) pairs: an
    EAS device's DeviceInformation (Settings or Provision), a SyncML device's DevInf
    maker and model. Empty when it said nothing."""
    if device.protocol == "eas":
        # The EAS endpoint's key (smsync.protocols.eas.commands.settings), imported
        # rather than copied; only here, so the list never loads EAS's commands.
        from smsync.protocols.eas.commands.settings import DEVICE_INFO_KEY

        info = await _json_state(store, device, DEVICE_INFO_KEY)
        if not isinstance(info, dict):
            return ()
        return tuple((label, str(info[key])) for key, label in _EAS_DETAILS if info.get(key))
    if device.protocol == "syncml":
        from smsync.protocols.syncml.databases import DEVINF_KEY

        info = await _json_state(store, device, DEVINF_KEY)
        if not isinstance(info, dict):
            return ()
        return tuple((label, str(info[key])) for key, label in (
            ("manufacturer", "Maker"), ("model", "Model"), ("software", "Software")) if info.get(key))
    return ()


# -- what a device syncs -----------------------------------------------------------------

#: EAS folder types (MS-ASCMD 2.2.3.186.3) by what they hold.
_EAS_TYPES = {1: "Mail", 2: "Mail", 3: "Mail", 4: "Mail", 5: "Mail", 6: "Mail", 12: "Mail",
              7: "Tasks", 15: "Tasks", 8: "Calendars", 13: "Calendars", 9: "Contacts", 14: "Contacts",
              10: "Notes", 17: "Notes", 11: "Journal", 16: "Journal"}
#: SyncML content types (what a device's DevInf says it takes) by what they hold.
_SYNCML_TYPES = {"text/x-vcard": "Contacts", "text/vcard": "Contacts", "text/x-s4j-sifc": "Contacts",
                 "text/x-vcalendar": "Calendars", "text/calendar": "Calendars",
                 "text/x-s4j-sife": "Calendars", "text/x-s4j-sift": "Tasks",
                 "text/plain": "Notes", "text/x-s4j-sifn": "Notes"}
_ORDER = ("Mail", "Calendars", "Contacts", "Tasks", "Notes", "Journal")


async def _json_state(store, device: Device, key: str):
    raw = await store.devices.load_state(device.account, device.device_id, key)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _summary(found: dict) -> tuple:
    """``{"Mail": ["Inbox", "Sent"], ...}`` as ``("Mail: Inbox, Sent", ...)`` in a fixed
    order (a kind without names: just the kind)."""
    lines = []
    for kind in sorted(found, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER)):
        names = found[kind]
        lines.append(f"{kind}: {', '.join(names)}" if names else kind)
    return tuple(lines)


async def syncs_of(store, device: Device) -> tuple:
    """What ``device`` syncs, read from the state its protocol keeps (EAS: the folders
    of its last Sync; SyncML: the content types its DevInf takes), else what its
    protocol alone says (``SYNCS``); empty when nothing says. Unreadable state is not
    an error: the device page is still shown."""
    # The state keys are the protocols' own (smsync.protocols.eas.state,
    # smsync.protocols.syncml.databases): imported here, not copied, so they cannot drift.
    if device.protocol == "eas":
        from smsync.protocols.eas.state import HIERARCHY_KEY, SYNC_KEY

        synced = await _json_state(store, device, SYNC_KEY)
        hierarchy = await _json_state(store, device, HIERARCHY_KEY)
        folders = hierarchy.get("folders") if isinstance(hierarchy, dict) else None
        collections = synced.get("collections") if isinstance(synced, dict) else None
        if not isinstance(collections, dict) or not isinstance(folders, dict):
            return ()
        found: dict = {}
        for cid in collections:
            entry = folders.get(cid)
            if isinstance(entry, list) and len(entry) == 3:
                found.setdefault(_EAS_TYPES.get(entry[2], "Other"), []).append(str(entry[1]))
        return _summary(found)
    if device.protocol == "syncml":
        from smsync.protocols.syncml.databases import DEVINF_KEY

        info = await _json_state(store, device, DEVINF_KEY)
        receives = info.get("receives") if isinstance(info, dict) else None
        if not isinstance(receives, dict):
            return ()
        found = {}
        for types in receives.values():
            kind = _SYNCML_TYPES.get(types[0] if isinstance(types, list) and types else None)
            if kind:
                found.setdefault(kind, [])
        return _summary(found)
    return SYNCS.get(device.protocol, ())


def check_name(name: str) -> str:
    """A device name as given, trimmed; ``InvalidData`` for an empty, too long or
    control-character one."""
    name = (name or "").strip()
    if not name:
        raise InvalidData("the name is empty")
    if len(name) > MAX_NAME:
        raise InvalidData(f"the name is longer than {MAX_NAME} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise InvalidData("the name holds control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidData("the name is not valid Unicode text") from None  # a lone surrogate
    return name


async def rename(store, account: str, device_id: str, name: str) -> DeviceView:
    """Give a device a display name. ``NotFound``; ``InvalidData`` for a bad name or a
    protocol whose entries cannot be renamed."""
    view = await _plain_view(store, account, device_id)
    if not view.renamable:
        raise InvalidData(f"{view.type} clients are named by what they send; their entries cannot be renamed")
    await store.devices.rename(account, device_id, check_name(name))
    return await device_of(store, account, device_id)


def delete_means(view: DeviceView) -> str:
    """What deleting ``view``'s device does, said before it is done (the web page's
    confirmation, the CLI's help)."""
    d = view.device
    # IMAP, POP3 and DAV clients keep their place by what the folders and collections
    # themselves say (UIDs, sync tokens), not by state kept for the device.
    stateless = "the next time it connects it is listed again as a new entry"
    again = {"imap": stateless, "pop3": stateless, "caldav": stateless, "carddav": stateless,
             "dav": stateless}.get(d.protocol, "its next sync starts over, as a new device's first sync: it fetches "
                               "everything again, and changes it made since its last sync may be "
                               "sent again or lost")
    wipe = " A remote wipe not yet done is cancelled." if view.wipe is not None and not view.wipe.acknowledged else ""
    return (f"Deleting {d.name} removes it from this list and drops the sync state the server keeps "
            f"for it ({view.type}): {again}. Nothing is deleted from the account's mail, calendars or "
            f"contacts.{wipe}")


async def delete(store, account: str, device_id: str) -> None:
    """Forget a device and its sync state (its next sync starts over). ``NotFound``."""
    await store.devices.get(account, device_id)
    await store.devices.remove(account, device_id)


async def wipe(store, account: str, device_id: str, account_only: bool = False) -> WipeRequest:
    """Ask a device to wipe itself (or only this account's data) when it next connects.
    ``NotFound``; ``InvalidData`` for a device of a protocol that cannot be wiped."""
    view = await _plain_view(store, account, device_id)
    if not view.wipeable:
        raise InvalidData(f"{view.type} devices cannot be wiped remotely")
    return await request_wipe(store.devices, account, device_id, account_only)


async def log_of(store, account: str, device_id: str, limit: int = 200) -> list:
    """A device's log, oldest first. ``NotFound``."""
    await store.devices.get(account, device_id)
    return await store.devices.get_log(account, device_id, limit)


def not_found_message(account: str, device_id: str) -> str:
    return f"{account} has no device {device_id!r}"


__all__ = ["DeviceView", "devices_of", "device_of", "syncs_of", "details_of", "rename", "delete", "delete_means", "wipe",
           "log_of", "check_name", "NotFound"]
