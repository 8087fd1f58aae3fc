"""The per-(device, source) sync state and its byte encoding for ``IDeviceRegistry``.

The state says what the device holds without listing versions of everything:

* ``base``: a revision of the source's change log such that every change at or below it
  has reached the device (or was made by it);
* ``known``: the server ids the device holds (needed to tell an add from a change and to
  report only deletions of things the device has);
* ``seen``: for items whose current version is *above* ``base`` but which the device
  already has -- delivered in an earlier window, or written by the device itself -- the
  revision it has;
* ``stale``: items the device holds in a version the server never had (a change of
  the device's that was refused), whatever their revision: they are sent again.

An item is pending for the device when it is unknown to it, stale, or its revision is
above ``base`` and differs from ``seen``.

It is stored as JSON: small, inspectable with ``smsync devices``, and any backend keeps
opaque bytes. The state is read and written on every round, so what it keeps for a retry
of the last round (``Retry``) is kept small: the cursor as it was before the round as a
difference from the cursor after it, and the last answer's changes without the items'
contents (the adapter reads them again on the rare replay). Version 1 kept both whole;
it is still read.
"""

from __future__ import annotations

import base64
import bisect
import json
import secrets
from datetime import datetime
from typing import Optional

import attrs

from smsync.model import Item, ItemInfo, MessageInfo
from smsync.sync.types import MAIL, ChangeResult, ServerChange, SyncResult

_VERSION = 2
#: The format before the retry's snapshot and answer were slimmed: still read.
_VERSION_1 = 1


class UIDRanges:
    """The set of UIDs a device holds, as sorted inclusive ranges, with server ids (UIDs
    as strings) going in and out. A phone holding a 100,000-message folder costs a
    handful of ranges, so loading and saving its state each round stays cheap."""

    __slots__ = ("_lo", "_hi")

    def __init__(self, ranges=()):
        self._lo: list[int] = []
        self._hi: list[int] = []
        for lo, hi in sorted((int(lo), int(hi)) for lo, hi in ranges):
            if lo > hi:
                raise ValueError("empty range")
            if self._hi and lo <= self._hi[-1] + 1:
                self._hi[-1] = max(self._hi[-1], hi)
            else:
                self._lo.append(lo)
                self._hi.append(hi)

    @staticmethod
    def _uid(server_id):
        if isinstance(server_id, str) and server_id.isascii() and server_id.isdigit():
            return int(server_id)
        return None

    def _find(self, uid: int) -> int:
        """Index of the range that would hold ``uid`` (the last starting at or below it)."""
        return bisect.bisect_right(self._lo, uid) - 1

    def __contains__(self, server_id) -> bool:
        uid = self._uid(server_id)
        if uid is None:
            return False
        i = self._find(uid)
        return i >= 0 and uid <= self._hi[i]

    def add(self, server_id) -> None:
        uid = int(server_id)
        i = self._find(uid)
        if i >= 0 and uid <= self._hi[i]:
            return
        joins_left = i >= 0 and self._hi[i] + 1 == uid
        joins_right = i + 1 < len(self._lo) and self._lo[i + 1] - 1 == uid
        if joins_left and joins_right:
            self._hi[i] = self._hi[i + 1]
            del self._lo[i + 1], self._hi[i + 1]
        elif joins_left:
            self._hi[i] = uid
        elif joins_right:
            self._lo[i + 1] = uid
        else:
            self._lo.insert(i + 1, uid)
            self._hi.insert(i + 1, uid)

    def discard(self, server_id) -> None:
        uid = self._uid(server_id)
        if uid is None:
            return
        i = self._find(uid)
        if i < 0 or uid > self._hi[i]:
            return
        lo, hi = self._lo[i], self._hi[i]
        if lo == hi:
            del self._lo[i], self._hi[i]
        elif uid == lo:
            self._lo[i] = uid + 1
        elif uid == hi:
            self._hi[i] = uid - 1
        else:
            self._hi[i] = uid - 1
            self._lo.insert(i + 1, uid + 1)
            self._hi.insert(i + 1, hi)

    def ranges(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in zip(self._lo, self._hi)]

    def __iter__(self):
        for lo, hi in zip(self._lo, self._hi):
            for uid in range(lo, hi + 1):
                yield str(uid)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in zip(self._lo, self._hi))

    def __eq__(self, other) -> bool:
        if isinstance(other, UIDRanges):
            return self._lo == other._lo and self._hi == other._hi
        if isinstance(other, (set, frozenset)):
            return len(self) == len(other) and all(sid in self for sid in other)
        return NotImplemented

    def copy(self) -> "UIDRanges":
        new = UIDRanges()
        new._lo, new._hi = list(self._lo), list(self._hi)
        return new

    def __repr__(self) -> str:
        return f"UIDRanges({self.ranges()!r})"


def state_key(kind: str, source_id: str) -> str:
    """The device-registry key under which a source's state is kept."""
    return f"sync:{kind}:{source_id}"


@attrs.define
class Cursor:
    """What the device holds: see the module docstring."""

    base: int = 0
    known: set = attrs.field(factory=set)
    seen: dict = attrs.field(factory=dict)
    stale: set = attrs.field(factory=set)
    #: Mail initial sync: the highest UID the by-UID walk has passed (None: no walk).
    scan: Optional[int] = None

    def has(self, server_id: str, revision: int) -> bool:
        """True if the device holds ``server_id`` at ``revision`` (its current version)."""
        if server_id not in self.known or server_id in self.stale:
            return False
        return revision <= self.base or self.seen.get(server_id) == revision

    def hold(self, server_id: str, revision: int) -> None:
        """Record that the device now holds ``server_id`` at ``revision``."""
        self.known.add(server_id)
        self.stale.discard(server_id)
        if revision > self.base:
            self.seen[server_id] = revision
        else:
            self.seen.pop(server_id, None)

    def drop(self, server_id: str) -> None:
        """Record that the device no longer holds ``server_id``."""
        self.known.discard(server_id)
        self.seen.pop(server_id, None)
        self.stale.discard(server_id)

    def spoil(self, server_id: str) -> None:
        """Record that the device's copy of ``server_id`` matches no server version."""
        if server_id in self.known:
            self.stale.add(server_id)

    def advance(self, base: int) -> None:
        """Move ``base`` forward, forgetting ``seen`` entries it now covers."""
        if base > self.base:
            self.base = base
            self.seen = {k: v for k, v in self.seen.items() if v > base}

    def copy(self) -> "Cursor":
        return Cursor(self.base, self.known.copy(), dict(self.seen), set(self.stale), self.scan)


@attrs.define
class Retry:
    """What is needed to answer the last request again: the key it presented, its
    fingerprint, the state before it ran, the adds it applied and its answer.

    Saved and loaded again, the answer's adds and changes name their items only
    (``ServerChange`` with neither ``message`` nor ``item``): the items are read again
    if the answer is ever replayed (``SyncAdapter``)."""

    presented: str
    fingerprint: str
    snapshot: Cursor
    adds: dict
    answer: SyncResult


@attrs.define
class SyncState:
    """One device's state for one source. ``epoch`` is random per start-over, so a key
    issued before a reset (or to a removed device) never matches a later state."""

    kind: str
    epoch: str
    counter: int
    uidvalidity: Optional[int]
    cursor: Cursor
    retry: Optional[Retry] = None

    @classmethod
    def fresh(cls, kind: str, uidvalidity: Optional[int]) -> "SyncState":
        cursor = Cursor(known=UIDRanges()) if kind == MAIL else Cursor()
        return cls(kind, secrets.token_hex(4), 0, uidvalidity, cursor)

    @property
    def key(self) -> str:
        """The sync key issued last (the one the device should present next)."""
        return f"{self.counter}-{self.epoch}"

    def to_bytes(self) -> bytes:
        doc = {
            "v": _VERSION,
            "kind": self.kind,
            "epoch": self.epoch,
            "counter": self.counter,
            "uidvalidity": self.uidvalidity,
            "cursor": _cursor_doc(self.cursor, self.kind),
            "retry": None,
        }
        if self.retry is not None:
            doc["retry"] = {
                "presented": self.retry.presented,
                "fingerprint": self.retry.fingerprint,
                "snapshot": _snapshot_doc(self.retry.snapshot, self.cursor, self.kind),
                "adds": self.retry.adds,
                "answer": _result_doc(self.retry.answer),
            }
        # Neither sorted keys nor indentation: this runs every round, on states naming
        # every item of a big calendar.
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Optional["SyncState"]:
        """Decode a saved state, of this version or version 1; None if it is not one
        this version can read (the device then has to start over, which is always
        safe)."""
        try:
            doc = json.loads(data)
            version = doc.get("v")
            if version not in (_VERSION, _VERSION_1):
                return None
            kind = doc["kind"]
            cursor = _cursor_from(doc["cursor"], kind)
            retry = None
            if doc["retry"] is not None:
                r = doc["retry"]
                if version == _VERSION_1:
                    snapshot = _cursor_from(r["snapshot"], kind)
                    answer = _result_from_v1(r["answer"])
                else:
                    snapshot = _snapshot_from(r["snapshot"], cursor, kind)
                    answer = _result_from(r["answer"])
                retry = Retry(
                    presented=str(r["presented"]),
                    fingerprint=str(r["fingerprint"]),
                    snapshot=snapshot,
                    adds=dict(r["adds"]),
                    answer=answer,
                )
            return cls(
                kind=kind,
                epoch=doc["epoch"],
                counter=int(doc["counter"]),
                uidvalidity=doc["uidvalidity"],
                cursor=cursor,
                retry=retry,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


# ---------------------------------------------------------------------------------------
# Encoding helpers


def uid_ranges(uids) -> list[list[int]]:
    """Compress integer UIDs into sorted inclusive ``[lo, hi]`` ranges: a device holding
    a 100,000-message folder usually costs a handful of ranges, not 100,000 numbers."""
    out: list[list[int]] = []
    for uid in sorted(uids):
        if out and out[-1][1] + 1 == uid:
            out[-1][1] = uid
        else:
            out.append([uid, uid])
    return out


def _cursor_doc(cursor: Cursor, kind: str) -> dict:
    if isinstance(cursor.known, UIDRanges):
        known = cursor.known.ranges()
    elif kind == MAIL:
        known = uid_ranges(int(sid) for sid in cursor.known)
    else:
        known = list(cursor.known)
    return {"base": cursor.base, "known": known, "seen": cursor.seen, "stale": list(cursor.stale),
            "scan": cursor.scan}


def _cursor_from(doc: dict, kind: str) -> Cursor:
    if kind == MAIL:
        known = UIDRanges(doc["known"])
    else:
        known = _names(doc["known"])
    return Cursor(int(doc["base"]), known, _seen_from(doc["seen"]), _names(doc["stale"]),
                  _scan_from(doc["scan"]))


def _names(values) -> set:
    # ``str`` on what is already a string (what we wrote) costs next to nothing.
    return set(map(str, values))


def _seen_from(doc: dict) -> dict:
    return {str(k): int(v) for k, v in doc.items()}


def _scan_from(value) -> Optional[int]:
    return None if value is None else int(value)


def _snapshot_doc(snapshot: Cursor, cursor: Cursor, kind: str) -> dict:
    """The cursor before the last round, as it differs from ``cursor``, the one after it:
    a round changes a window's worth of ``known``, so that costs a window's worth of
    names rather than all the device holds over again. A mail cursor's ``known`` is a few
    UID ranges and is kept whole."""
    doc = {"base": snapshot.base, "seen": snapshot.seen, "stale": list(snapshot.stale),
           "scan": snapshot.scan}
    if kind == MAIL:
        doc["known"] = _cursor_doc(snapshot, kind)["known"]
    else:
        doc["known_added"] = list(snapshot.known - cursor.known)
        doc["known_removed"] = list(cursor.known - snapshot.known)
    return doc


def _snapshot_from(doc: dict, cursor: Cursor, kind: str) -> Cursor:
    if kind == MAIL:
        known = UIDRanges(doc["known"])
    else:
        known = (cursor.known - _names(doc["known_removed"])) | _names(doc["known_added"])
    return Cursor(int(doc["base"]), known, _seen_from(doc["seen"]), _names(doc["stale"]),
                  _scan_from(doc["scan"]))


def _result_doc(result: SyncResult) -> dict:
    return {
        "sync_key": result.sync_key,
        "more": result.more_available,
        "results": [
            [r.status.value, r.client_id, r.server_id, r.copy_server_id] for r in result.results
        ],
        # What was sent, not the items: a replay reads them again (see ``Retry``).
        "changes": [[c.op, c.server_id] for c in result.changes],
    }


def _result_from(doc: dict) -> SyncResult:
    return SyncResult(
        sync_key=str(doc["sync_key"]),
        more_available=bool(doc["more"]),
        results=[ChangeResult(s, c, sid, copy) for s, c, sid, copy in doc["results"]],
        changes=[ServerChange(op, str(sid)) for op, sid in doc["changes"]],
    )


def _result_from_v1(doc: dict) -> SyncResult:
    """A version 1 answer: its changes carry the items whole."""
    return SyncResult(
        sync_key=doc["sync_key"],
        more_available=bool(doc["more"]),
        results=[ChangeResult(s, c, sid, copy) for s, c, sid, copy in doc["results"]],
        changes=[_change_from_v1(c) for c in doc["changes"]],
    )


def _change_from_v1(doc: dict) -> ServerChange:
    message = item = None
    if "message" in doc:
        m = doc["message"]
        message = MessageInfo(
            uid=m["uid"],
            flags=frozenset(m["flags"]),
            internal_date=datetime.fromisoformat(m["internal_date"]),
            saved_date=datetime.fromisoformat(m["saved_date"]),
            size=m["size"],
            modseq=m["modseq"],
        )
    if "item" in doc:
        i = doc["item"]
        info = ItemInfo(i["name"], i["uid"], i["etag"], i["revision"], i["size"], i["component"])
        item = Item(info, base64.b64decode(i["content"]))
    return ServerChange(doc["op"], doc["id"], message=message, item=item)


def bare(result: SyncResult) -> SyncResult:
    """``result`` as a saved ``Retry`` keeps it: its changes without the items."""
    return attrs.evolve(result, changes=[ServerChange(c.op, c.server_id) for c in result.changes])
