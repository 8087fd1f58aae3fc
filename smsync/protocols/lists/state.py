"""What the server keeps per Outlook (device) in the devices registry: the generation
its change tokens are issued under, and the item IDs of each list.

A list item's ID is an integer the server assigns (MS-OUTSPS 3.2.4.2.1), while the
store names items by file name: each list keeps, per device, the map row key -> ID, IDs
given in increasing order as rows are first seen. A stored item is one row (keyed by
its name) or, a recurring event, several: the series (its name) and a row per changed
or deleted occurrence (``sub_key``: the name and the occurrence's RecurrenceID). Deleting the device from the devices
list drops all of it: its next request gets a new generation, every token it holds
is then answered ``InvalidToken`` and it fetches the lists again, under new IDs.
"""

from __future__ import annotations

import json
import secrets
from typing import Optional

from smsync.errors import NotFound

GENERATION_KEY = "lists:generation"
_IDS_PREFIX = "lists:ids:"


def ids_key(collection_id: str) -> str:
    return _IDS_PREFIX + collection_id


def sub_key(name: str, recurrence_id: str) -> str:
    """The key of the row of one occurrence of series ``name`` (names hold no line
    breaks)."""
    return f"{name}\n{recurrence_id}"


def split_key(key: str) -> tuple[str, Optional[str]]:
    """``(item name, RecurrenceID or None)`` of a row key."""
    name, sep, rest = key.partition("\n")
    return name, (rest if sep else None)


class IdMap:
    """The IDs of one list's items for one device."""

    def __init__(self, ids: Optional[dict] = None, next_id: int = 1):
        self.ids: dict[str, int] = dict(ids or {})
        self.next_id = max(next_id, max(self.ids.values(), default=0) + 1)
        self._names: Optional[dict[int, str]] = None
        self.dirty = False

    def id_of(self, name: str, assign: bool = True) -> Optional[int]:
        """The ID of item ``name``, given now when it has none and ``assign``."""
        found = self.ids.get(name)
        if found is None and assign:
            found = self.next_id
            self.next_id += 1
            self.ids[name] = found
            if self._names is not None:
                self._names[found] = name
            self.dirty = True
        return found

    def name_of(self, item_id: int) -> Optional[str]:
        """The row key of ``item_id`` (None: no such ID)."""
        if self._names is None:
            self._names = {v: k for k, v in self.ids.items()}
        return self._names.get(item_id)

    def sub_keys(self, name: str) -> list[str]:
        """The keys of the occurrence rows of ``name`` known."""
        prefix = name + "\n"
        return [k for k in self.ids if k.startswith(prefix)]

    def forget(self, key: str) -> None:
        item_id = self.ids.pop(key, None)
        if item_id is not None:
            self.dirty = True
            if self._names is not None:
                self._names.pop(item_id, None)

    def encode(self) -> bytes:
        return json.dumps({"next": self.next_id, "ids": self.ids}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: Optional[bytes]) -> "IdMap":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            ids = {str(k): int(v) for k, v in data["ids"].items() if int(v) > 0}
            return cls(ids, int(data["next"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            # Unreadable: start over (the client's tokens fail with the generation).
            return cls()


class DeviceState:
    """One device's lists state in ``registry``, read when first needed and written by
    ``save``. ``record`` (a coroutine function) records the device again when the
    registry has forgotten it (deleted from the devices list mid-session)."""

    def __init__(self, registry, account: str, device_id: str, record):
        self.registry = registry
        self.account = account
        self.device_id = device_id
        self._record = record
        self._generation: Optional[str] = None
        self._maps: dict[str, IdMap] = {}

    async def generation(self) -> str:
        """The generation tokens are issued under, made on first use."""
        if self._generation is None:
            raw = await self.registry.load_state(self.account, self.device_id, GENERATION_KEY)
            text = raw.decode("ascii", "replace") if raw else ""
            if not (text and len(text) <= 32 and all(c in "0123456789abcdef" for c in text)):
                text = secrets.token_hex(8)
                await self._save({GENERATION_KEY: text.encode("ascii")})
            self._generation = text
        return self._generation

    async def ids(self, collection_id: str) -> IdMap:
        found = self._maps.get(collection_id)
        if found is None:
            raw = await self.registry.load_state(self.account, self.device_id, ids_key(collection_id))
            found = self._maps[collection_id] = IdMap.decode(raw)
        return found

    async def save(self) -> None:
        """Write the ID maps that changed."""
        changed = {ids_key(cid): m.encode() for cid, m in self._maps.items() if m.dirty}
        if changed:
            await self._save(changed)
            for m in self._maps.values():
                m.dirty = False

    async def _save(self, values: dict) -> None:
        try:
            await self.registry.save_states(self.account, self.device_id, values)
        except NotFound:
            await self._record()
            await self.registry.save_states(self.account, self.device_id, values)
