"""The grammar of the IMAP METADATA commands (RFC 5464 5): GETMETADATA and SETMETADATA.
Pure functions of a ``Reader``, registered in ``parser``.

RFC 5464's ABNF puts GETMETADATA's options before the mailbox while its examples put
them after it (``GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment)``), and its 4.4.1
example lists several entries without parentheses; clients send every form, so each is
taken.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.protocols.imap.reader import Reader

_OPTIONS = frozenset({"MAXSIZE", "DEPTH"})
_DEPTHS = frozenset({"0", "1", "INFINITY"})


@attrs.frozen
class GetMetadata:
    mailbox: bytes
    entries: tuple[bytes, ...]
    #: MAXSIZE (4.2.1): larger values are left out; None: no limit.
    maxsize: Optional[int] = None
    #: DEPTH (4.2.2): "0", "1" or "INFINITY".
    depth: str = "0"


@attrs.frozen
class SetMetadata:
    mailbox: bytes
    #: (entry, value) pairs; a None value removes the entry.
    values: tuple[tuple[bytes, Optional[bytes]], ...]


def _starts_options(r: Reader) -> bool:
    """Whether the ``(`` at the cursor opens GETMETADATA options, not entries."""
    if r.peek() != 0x28:
        return False
    save = r.pos
    r.pos += 1
    try:
        return r.peek_word() in _OPTIONS
    finally:
        r.pos = save


def _options(r: Reader, into: dict) -> None:
    r.char(b"(")
    first = True
    while not r.maybe_char(b")"):
        if not first:
            r.sp()
        first = False
        name = r.word()
        if name not in _OPTIONS:
            r.fail(f"unknown GETMETADATA option {name}")
        if name in into:
            r.fail(f"{name} given twice")
        r.sp()
        if name == "MAXSIZE":
            into[name] = r.number()
        else:
            depth = r.astring().decode("ascii", "replace").upper()
            if depth not in _DEPTHS:
                r.fail("DEPTH is 0, 1 or infinity")
            into[name] = depth


def getmetadata(r: Reader, uid: bool) -> GetMetadata:
    """``getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries``."""
    options: dict = {}
    r.sp()
    if _starts_options(r):
        _options(r, options)
        r.sp()
    mailbox = r.astring()
    r.sp()
    if not options and _starts_options(r):
        _options(r, options)
        r.sp()
    entries = []
    if r.maybe_char(b"("):
        while not r.maybe_char(b")"):
            if entries:
                r.sp()
            entries.append(r.astring())
        if not entries:
            r.fail("GETMETADATA needs an entry")
    else:
        entries.append(r.astring())
        while r.maybe_sp():
            entries.append(r.astring())
    return GetMetadata(mailbox, tuple(entries), options.get("MAXSIZE"), options.get("DEPTH", "0"))


def setmetadata(r: Reader, uid: bool) -> SetMetadata:
    """``setmetadata = "SETMETADATA" SP mailbox SP entry-values``, each value an
    nstring or a literal8."""
    r.sp()
    mailbox = r.astring()
    r.sp()
    r.char(b"(")
    values = []
    while not r.maybe_char(b")"):
        if values:
            r.sp()
        entry = r.astring()
        r.sp()
        if r.peek() == 0x7E:
            value = r.literal(allow_binary=True)[0]
        else:
            value = r.nstring()
        values.append((entry, value))
    if not values:
        r.fail("SETMETADATA needs an entry and a value")
    return SetMetadata(mailbox, tuple(values))


COMMANDS = {
    "GETMETADATA": getmetadata,
    "SETMETADATA": setmetadata,
}
