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

import hashlib
import json
import secrets
import zlib
from collections import OrderedDict
from operator import itemgetter
from typing import Optional

from smsync.errors import NotFound

GENERATION_KEY = "lists:generation"
_IDS_PREFIX = "lists:ids:"
#: The first bytes of an ID map in the compact form (``IdMap.encode``).
_FORMAT = b"L2\0"


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
        # Series name -> its occurrence rows' keys, made on first need: a change
        # sync asks it for each changed item, and a scan of every key each time
        # would cost the whole map per item.
        self._subs: Optional[dict[str, list[str]]] = None
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
            if self._subs is not None and "\n" in name:
                self._subs.setdefault(name.partition("\n")[0], []).append(name)
            self.dirty = True
        return found

    def name_of(self, item_id: int) -> Optional[str]:
        """The row key of ``item_id`` (None: no such ID)."""
        if self._names is None:
            self._names = {v: k for k, v in self.ids.items()}
        return self._names.get(item_id)

    def sub_keys(self, name: str) -> list[str]:
        """The keys of the occurrence rows of ``name`` known."""
        if self._subs is None:
            subs: dict[str, list[str]] = {}
            for key in self.ids:
                if "\n" in key:
                    subs.setdefault(key.partition("\n")[0], []).append(key)
            self._subs = subs
        return list(self._subs.get(name, ()))

    def forget(self, key: str) -> None:
        item_id = self.ids.pop(key, None)
        if item_id is not None:
            self.dirty = True
            if self._names is not None:
                self._names.pop(item_id, None)
            if self._subs is not None and "\n" in key:
                keys = self._subs.get(key.partition("\n")[0])
                if keys is not None and key in keys:
                    keys.remove(key)

    def copy(self) -> "IdMap":
        """A map of its own with the same IDs (not dirty)."""
        other = IdMap.__new__(IdMap)
        other.ids = dict(self.ids)
        other.next_id = self.next_id
        other._names = None
        other._subs = None
        other.dirty = False
        return other

    def encode(self) -> bytes:
        """The map as stored: ``_FORMAT``, then zlib of the next ID and each key with
        the gap from the ID before (1, as IDs are given, is left empty), in ID order --
        a fifth of JSON's size, and read without a JSON parse."""
        items = self.ids.items()
        values = list(self.ids.values())
        # IDs are given in increasing order and read back in ID order: the map is
        # nearly always in order already.
        if any(a > b for a, b in zip(values, values[1:])):
            items = sorted(items, key=itemgetter(1))
        lines = [str(self.next_id)]
        last = 0
        for key, item_id in items:
            gap = item_id - last
            lines.append(key if gap == 1 and "\t" not in key else f"{gap}\t{key}")
            last = item_id
        text = "\0".join(lines)
        if text.count("\0") != len(lines) - 1:
            # A key holding the separator: the first form, JSON.
            return json.dumps({"next": self.next_id, "ids": self.ids}, separators=(",", ":")).encode()
        return _FORMAT + zlib.compress(text.encode("utf-8"), 1)

    @classmethod
    def decode(cls, raw: Optional[bytes]) -> "IdMap":
        if not raw:
            return cls()
        try:
            if raw.startswith(_FORMAT):
                return cls._decode_compact(raw[len(_FORMAT):])
            # The first form (JSON), as written before the compact one.
            data = json.loads(raw)
            ids = {str(k): int(v) for k, v in data["ids"].items() if int(v) > 0}
            return cls(ids, int(data["next"]))
        except (ValueError, TypeError, KeyError, AttributeError, zlib.error):
            # Unreadable: start over (the client's tokens fail with the generation).
            return cls()

    @classmethod
    def _decode_compact(cls, body: bytes) -> "IdMap":
        parts = zlib.decompress(body).decode("utf-8").split("\0")
        ids = {}
        last = 0
        for part in parts[1:]:
            if "\t" in part:
                # A key holding a tab is always written after its gap: the first tab
                # ends the gap.
                gap, _, part = part.partition("\t")
                step = int(gap)
                if step <= 0:
                    raise ValueError("IDs go up")
                last += step
            else:
                last += 1
            ids[part] = last
        return cls(ids, int(parts[0]))


class _Decoded:
    """ID maps as last read or written, by a digest of their stored bytes: a device's
    next request finds its map here instead of decoding it again. Content-addressed,
    so never stale: a map changed elsewhere (another process, the device deleted)
    has other bytes. Bounded by the IDs held (``limit``), least recently used first
    out."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._maps: OrderedDict[bytes, IdMap] = OrderedDict()

    @staticmethod
    def digest(raw: bytes) -> bytes:
        return hashlib.blake2b(raw, digest_size=16).digest()

    def get(self, digest: bytes) -> Optional[IdMap]:
        found = self._maps.get(digest)
        if found is None:
            return None
        self._maps.move_to_end(digest)
        return found.copy()

    def put(self, digest: bytes, idmap: IdMap) -> None:
        size = len(idmap.ids)
        if size > self.limit or digest in self._maps:
            return
        self._maps[digest] = idmap.copy()
        self.held += size
        while self.held > self.limit:
            _, dropped = self._maps.popitem(last=False)
            self.held -= len(dropped.ids)


#: About 120 bytes an ID: some 25 MB at most.
DECODED = _Decoded(200_000)


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
            digest = DECODED.digest(raw) if raw else None
            found = DECODED.get(digest) if digest else None
            if found is None:
                found = IdMap.decode(raw)
                if digest:
                    DECODED.put(digest, found)
            self._maps[collection_id] = found
        return found

    async def save(self) -> None:
        """Write the ID maps that changed (none: nothing is written)."""
        dirty = [m for m in self._maps.values() if m.dirty]
        if not dirty:
            return
        changed = {}
        for cid, m in self._maps.items():
            if m.dirty:
                raw = changed[ids_key(cid)] = m.encode()
                DECODED.put(DECODED.digest(raw), m)
        await self._save(changed)
        for m in dirty:
            m.dirty = False

    async def _save(self, values: dict) -> None:
        try:
            await self.registry.save_states(self.account, self.device_id, values)
        except NotFound:
            await self._record()
            await self.registry.save_states(self.account, self.device_id, values)
