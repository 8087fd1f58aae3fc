"""Reading a Maildir (a directory with cur/, new/ and tmp/) for import."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import attrs

_INFO_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
               "D": "\\Draft"}
_LEADING_NUMBER = re.compile(r"^(\d+)")


@attrs.frozen
class MaildirEntry:
    path: Path
    flags: frozenset[str]
    internal_date: datetime


def is_maildir(path) -> bool:
    path = Path(path)
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def flags_from_name(name: str) -> frozenset[str]:
    """IMAP flags of a Maildir file name's info part (``...:2,FRS``; ``!`` as the
    separator too, as some systems that cannot have ``:`` in names write)."""
    for sep in (":2,", "!2,"):
        if sep in name:
            info = name.rsplit(sep, 1)[1]
            return frozenset(_INFO_FLAGS[c] for c in info if c in _INFO_FLAGS)
    return frozenset()


def _order(entry_name: str):
    # Delivery names start with the delivery time in seconds: that is the mail's order.
    match = _LEADING_NUMBER.match(entry_name)
    return (int(match.group(1)) if match else 0, entry_name)


def list_maildir(path) -> list[MaildirEntry]:
    """The messages in ``path``'s new/ and cur/ (tmp/ holds deliveries in progress), in
    delivery order, with flags from their names and their file time as internal date."""
    path = Path(path)
    entries = []
    for sub in ("new", "cur"):
        for name in os.listdir(path / sub):
            if name.startswith("."):
                continue
            full = path / sub / name
            try:
                stat = full.stat()
            except FileNotFoundError:
                continue
            if not os.path.isfile(full):
                continue
            entries.append(MaildirEntry(
                path=full,
                flags=flags_from_name(name) if sub == "cur" else frozenset(),
                internal_date=datetime.fromtimestamp(stat.st_mtime, timezone.utc)))
    entries.sort(key=lambda e: _order(e.path.name))
    return entries
