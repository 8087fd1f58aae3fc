"""EWS watermarks and stored subscriptions: pure functions over bytes and text.

A watermark is a *position* from which a subscription's events can be read again from
the store, so any process can take up a subscription where a client left it: per
watched folder its change-log position -- a mail folder's MODSEQ and UIDNEXT (a UID
at or past UIDNEXT is Created), a collection's revision -- keyed by 4 bytes of a hash
of the folder's id. Beside it: 4 bytes of the subscription id's hash (GetEvents refuses
another subscription's watermark), the *epoch* (which in-memory copy of the
subscription gave it out: that copy answers from its queue, any other reads from the
positions) and the event's number in that epoch. The whole is checksummed with the
account, so a damaged or made-up one, or another account's, is refused.

A subscription's definition and state are kept in the account's settings
(``IAccountSettings``) under ``ews:sub:<id>``, with an index ``ews:subs`` of the
account's subscriptions and when each lapses, so the number is bounded and lapsed ones
are removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Optional

import attrs

VERSION = 2
#: An epoch no live subscription has (watermarks made outside one).
NO_EPOCH = b"\0\0\0\0"

RECORD_PREFIX = "ews:sub:"
INDEX_KEY = "ews:subs"


def _digest(data: bytes, person: bytes, size: int = 4) -> bytes:
    return hashlib.blake2b(data, digest_size=size, person=person).digest()


def tag(subscription_id: str) -> bytes:
    """4 bytes naming the subscription in its watermarks."""
    return _digest(subscription_id.encode(), b"smsync-ews-sub")


def folder_key(source: str) -> bytes:
    """4 bytes naming a folder (its store id) in a watermark."""
    return _digest(source.encode(), b"smsync-ews-fold")


def _check(account: str, payload: bytes) -> bytes:
    return _digest(account.lower().encode() + b"\0" + payload, b"smsync-ews-wm2")


def _varint(n: int, out: bytearray) -> None:
    if n < 0:
        raise ValueError("negative")
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _read_varint(raw: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if at >= len(raw) or shift > 63:
            raise ValueError("truncated")
        byte = raw[at]
        at += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, at


@attrs.frozen
class Mark:
    """A decoded watermark: ``positions`` maps ``folder_key`` -> ``(mark, uidnext)``
    (``uidnext`` 0 for a collection)."""

    tag: bytes
    epoch: bytes
    seq: int
    positions: dict

    def position_of(self, source: str) -> Optional[tuple]:
        return self.positions.get(folder_key(source))


def encode(account: str, sub_tag: bytes, epoch: bytes, seq: int, positions) -> str:
    """The watermark text; ``positions`` maps a folder's store id to ``(mark, uidnext)``."""
    out = bytearray([VERSION]) + sub_tag + epoch
    _varint(seq, out)
    items = sorted(positions.items())
    _varint(len(items), out)
    for source, (mark, uidnext) in items:
        out += folder_key(source)
        _varint(mark, out)
        _varint(uidnext, out)
    out += _check(account, bytes(out))
    return base64.b64encode(bytes(out)).decode("ascii")


def _raw(text: Optional[str]) -> bytes:
    try:
        raw = base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) < 15 or raw[0] != VERSION:
        raise ValueError("not a watermark")
    return raw


def decode(account: str, text: Optional[str]) -> Mark:
    """The ``Mark`` of watermark ``text`` of ``account``; ``ValueError`` for anything
    else (damaged, made up, another account's)."""
    raw = _raw(text)
    payload, check = raw[:-4], raw[-4:]
    if _check(account, payload) != check:
        raise ValueError("bad checksum")
    sub_tag, epoch = payload[1:5], payload[5:9]
    seq, at = _read_varint(payload, 9)
    count, at = _read_varint(payload, at)
    positions = {}
    for _ in range(count):
        key = payload[at:at + 4]
        if len(key) != 4:
            raise ValueError("truncated")
        mark, at = _read_varint(payload, at + 4)
        uidnext, at = _read_varint(payload, at)
        positions[key] = (mark, uidnext)
    if at != len(payload):
        raise ValueError("trailing bytes")
    return Mark(sub_tag, epoch, seq, positions)


def looks_like(text: Optional[str]) -> bool:
    """Whether ``text`` has the shape of a watermark this server writes."""
    try:
        _raw(text)
    except ValueError:
        return False
    return True


# -- stored subscriptions ----------------------------------------------------------------


@attrs.define
class Record:
    """A subscription as kept in the account's settings: ``kind``, ``mask``, the
    watched folders' store ids (None: all), Timeout or StatusFrequency ``minutes``,
    the push ``url``, when it was ``created`` and when it lapses (``expires``), the
    last watermark acknowledged or streamed (``watermark``) and the hub that used it
    last (``holder``)."""

    kind: str
    mask: int
    folders: Optional[list]
    minutes: int
    created: float
    expires: float
    watermark: Optional[str] = None
    holder: str = ""
    url: Optional[str] = None

    def dump(self) -> bytes:
        return json.dumps({"k": self.kind, "m": self.mask, "f": self.folders, "t": self.minutes,
                           "c": round(self.created, 3), "e": round(self.expires, 3),
                           "w": self.watermark, "h": self.holder, "u": self.url},
                          separators=(",", ":")).encode()

    @classmethod
    def load(cls, data: Optional[bytes]) -> Optional["Record"]:
        """The record in ``data``; None for nothing or anything unreadable."""
        if not data:
            return None
        try:
            d = json.loads(data)
            return cls(str(d["k"]), int(d["m"]), None if d["f"] is None else [str(f) for f in d["f"]],
                       int(d["t"]), float(d["c"]), float(d["e"]), d.get("w"), str(d.get("h") or ""),
                       d.get("u"))
        except (ValueError, KeyError, TypeError):
            return None


def load_index(data: Optional[bytes]) -> dict:
    """The index: subscription id -> when it lapses (as last written)."""
    if not data:
        return {}
    try:
        return {str(k): float(v) for k, v in json.loads(data).items()}
    except (ValueError, AttributeError, TypeError):
        return {}


def dump_index(index: dict) -> bytes:
    return json.dumps({k: round(v, 1) for k, v in index.items()}, separators=(",", ":")).encode()
