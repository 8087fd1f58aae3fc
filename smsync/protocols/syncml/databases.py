"""The databases a SyncML client names, and what the server keeps per device and database.

A client's Alert names a server database (``card``, ``./calendar``, ``scard?x=1``): each
name maps to one ``CollectionKind`` and the type its family sends by default -- Funambol's
(``card``, ``event``, ``task``, ``note`` and the SIF ``scard``, ``scal``, ``stask``,
``snote``) and SyncEvolution's (``addressbook``, ``calendar``, ``todo``, ``memo``). Every
name is served by the account's default collection of its kind.

Per device and collection the server keeps (in the device registry, so deleting the
device forgets it): the client's last anchor, the server's, the sync engine's key, and
the map between the client's ids (LUIDs) and the server's item names.
"""

from __future__ import annotations

import json
from typing import Optional

import attrs

from smsync.model import DEFAULT_COLLECTIONS, CollectionKind

CONTACTS, EVENTS, TASKS, NOTES = (CollectionKind.ADDRESSBOOK, CollectionKind.CALENDAR,
                                  CollectionKind.TASKS, CollectionKind.NOTES)


@attrs.frozen
class Database:
    """A server database name: its kind and the type its clients send unless told."""

    name: str
    kind: CollectionKind
    preferred: str


#: Every database name served, by name.
DATABASES = {d.name: d for d in (
    Database("card", CONTACTS, "text/x-vcard"),
    Database("event", EVENTS, "text/x-vcalendar"),
    Database("task", TASKS, "text/x-vcalendar"),
    Database("note", NOTES, "text/plain"),
    Database("scard", CONTACTS, "text/x-s4j-sifc"),
    Database("scal", EVENTS, "text/x-s4j-sife"),
    Database("stask", TASKS, "text/x-s4j-sift"),
    Database("snote", NOTES, "text/x-s4j-sifn"),
    Database("addressbook", CONTACTS, "text/vcard"),
    Database("calendar", EVENTS, "text/calendar"),
    Database("todo", TASKS, "text/calendar"),
    Database("memo", NOTES, "text/plain"),
    # Other spellings clients use.
    Database("contacts", CONTACTS, "text/vcard"),
    Database("tasks", TASKS, "text/calendar"),
    Database("notes", NOTES, "text/plain"),
)}


def database(locuri: Optional[str]) -> Optional[Database]:
    """The database a Target LocURI names (``./card``, ``/card``, ``card?opts``, an
    absolute URL ending in the name; case ignored), or None."""
    if not locuri:
        return None
    name = locuri.split("?", 1)[0].strip().rstrip("/")
    name = name.rsplit("/", 1)[-1].lower()
    return DATABASES.get(name)


async def default_collection(collections, kind: CollectionKind):
    """The ``CollectionInfo`` of the account's default collection of ``kind`` (the one
    made with the account, else the first by name), or None when it has none."""
    found = await collections.list_collections(kind)
    if not found:
        return None
    defaults = {name for name, (k, _) in DEFAULT_COLLECTIONS.items() if k == kind}
    return next((info for info in found if info.name in defaults), found[0])


def state_key(collection_id: str) -> str:
    """The device-registry key of a device's SyncML state for one collection."""
    return f"syncml:{collection_id}"


#: The device-registry key of what the device's DevInf said (it sends it once).
DEVINF_KEY = "syncml:devinf"
#: The device-registry key of its md5 secret and the nonce it is to use next.
AUTH_KEY = "syncml:auth"


@attrs.define
class DatabaseState:
    """What the server remembers of one device's sync of one collection.

    Attributes:
        anchor: the client's Next anchor of the last session that got this far (its
            Last must equal it next time, else the sync is slow).
        server_anchor: the server's Next anchor sent then.
        key: the sync engine's key for the collection (None: never synced).
        luids: client id (LUID) -> server item name.
    """

    anchor: Optional[str] = None
    server_anchor: Optional[str] = None
    key: Optional[str] = None
    luids: dict = attrs.field(factory=dict)
    _reverse: Optional[dict] = attrs.field(default=None, init=False, repr=False, eq=False)

    def guid(self, luid: Optional[str]) -> Optional[str]:
        return self.luids.get(luid) if luid is not None else None

    def luid(self, guid: str) -> Optional[str]:
        """The client id of server item ``guid`` (None: the client has not mapped it)."""
        reverse = self._reverse
        if reverse is None:
            reverse = self._reverse = {g: lid for lid, g in self.luids.items()}
        found = reverse.get(guid)
        return found if found is not None and self.luids.get(found) == guid else None

    def bind(self, luid: str, guid: str) -> None:
        old = self.luid(guid)
        if old is not None and old != luid:
            self.luids.pop(old, None)
        self.luids[luid] = guid
        if self._reverse is not None:
            self._reverse[guid] = luid

    def forget(self, luid: Optional[str]) -> None:
        if luid is not None and self.luids.pop(luid, None) is not None:
            self._reverse = None

    def to_bytes(self) -> bytes:
        return json.dumps({"v": 1, "anchor": self.anchor, "server_anchor": self.server_anchor,
                           "key": self.key, "luids": self.luids}).encode()

    @classmethod
    def from_bytes(cls, raw: Optional[bytes]) -> "DatabaseState":
        """The state saved as ``raw``; a fresh one for None or anything unreadable."""
        if not raw:
            return cls()
        try:
            doc = json.loads(raw)
            luids = {str(k): str(v) for k, v in dict(doc.get("luids") or {}).items()}
            return cls(doc.get("anchor"), doc.get("server_anchor"), doc.get("key"), luids)
        except (ValueError, TypeError, AttributeError):
            return cls()
