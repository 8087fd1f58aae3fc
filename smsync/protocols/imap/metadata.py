"""IMAP METADATA (RFC 5464) entries: which names are valid, which stored entries a
GETMETADATA asks for, and the limits SETMETADATA keeps. Pure functions; the commands
are in ``commands/metadata.py``, the entries in the store's ``IAnnotations``.

Where entries live: a folder's ``/shared`` entries are its owner's (every account that
may use the folder sees the same ones), its ``/private`` entries each account's own,
also on a folder someone shares with it; the ``/private`` and ``/shared`` server entries
(mailbox ``""``) are the account's own.
"""

from __future__ import annotations

from typing import Iterable, Optional

from smsync.interfaces import MAX_ANNOTATION_NAME

#: The largest value SETMETADATA takes (RFC 5464 4.1: at least 1024), in octets; larger
#: ones are refused with ``[METADATA MAXSIZE n]``.
MAX_VALUE = 16 * 1024
#: The most entries an account keeps on one folder, or on the server (4.1: at least
#: 10); a SETMETADATA adding more is refused with ``[METADATA TOOMANY]``.
MAX_ENTRIES = 100
#: Server entries clients may read but not set (6.2.2: "/shared/admin ... is always
#: read-only").
READ_ONLY = frozenset({"/shared/admin"})
PRIVATE = "/private"
SHARED = "/shared"


class BadEntry(ValueError):
    """An entry name RFC 5464 3.2 forbids: "Invalid entry names result in a BAD
    response in any IMAP command in which they are used"."""


def entry_name(raw: bytes, to_set: bool = False) -> str:
    """The entry ``raw`` names, lower-cased ("Entry names are case-insensitive").

    Raises:
        BadEntry: not ``/`` separated components, two ``/`` in a row or one at the end,
            ``*``, ``%``, a non-ASCII or control character, a first component other
            than ``private`` or ``shared``; for SETMETADATA (``to_set``) also fewer
            than two components, or fewer than four under ``vendor`` (3.2).
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BadEntry("entry names are ASCII") from None
    if any(ord(ch) < 0x20 or ch in "*%" for ch in text):
        raise BadEntry(f"{text!r} is not an entry name")
    if not text.startswith("/") or "//" in text or (text.endswith("/") and len(text) > 1):
        raise BadEntry(f"{text!r} is not an entry name")
    if len(text) > MAX_ANNOTATION_NAME:
        raise BadEntry("entry name too long")
    text = text.lower()
    parts = text.split("/")[1:]
    if parts[0] not in ("private", "shared"):
        raise BadEntry("entry names begin with /private or /shared")
    if to_set and (len(parts) < 2 or (parts[1] == "vendor" and len(parts) < 4)):
        raise BadEntry(f"{text!r} cannot hold a value")
    return text


def is_private(entry: str) -> bool:
    return entry == PRIVATE or entry.startswith(PRIVATE + "/")


def wanted(stored: dict[str, bytes], asked: Iterable[str], depth: str) -> list[tuple[str, Optional[bytes]]]:
    """The entries a GETMETADATA of ``asked`` names at ``depth`` ("0", "1",
    "INFINITY"), in the order asked, each once: each asked entry (None as its value
    when it has none, at depth 0) and below it, those ``depth`` reaches (4.2.2)."""
    out: list[tuple[str, Optional[bytes]]] = []
    seen: set[str] = set()
    for name in asked:
        if name not in seen and (name in stored or depth == "0"):
            seen.add(name)
            out.append((name, stored.get(name)))
        if depth == "0":
            continue
        prefix = name.rstrip("/") + "/"
        levels = prefix.count("/")
        for entry in sorted(stored):
            if entry in seen or not entry.startswith(prefix):
                continue
            if depth == "1" and entry.count("/") != levels:
                continue
            seen.add(entry)
            out.append((entry, stored[entry]))
    return out


def within(entries: list[tuple[str, Optional[bytes]]], maxsize: Optional[int]):
    """``(entries no larger than maxsize, the size of the largest left out or None)``
    (4.2.1: "Only entry values that are less than or equal in octet size to the
    specified MAXSIZE limit are returned")."""
    if maxsize is None:
        return entries, None
    kept, longest = [], None
    for name, value in entries:
        if value is not None and len(value) > maxsize:
            longest = max(longest or 0, len(value))
        else:
            kept.append((name, value))
    return kept, longest


def too_many(stored: dict[str, bytes], changes: dict[str, Optional[bytes]]) -> bool:
    """Whether ``changes`` would add entries past ``MAX_ENTRIES``."""
    after = set(stored)
    for name, value in changes.items():
        if value is None:
            after.discard(name)
        else:
            after.add(name)
    return len(after) > MAX_ENTRIES and bool(after - set(stored))
