"""Conversions between database rows and smsync's value types that both SQL stores use.

Flags are stored as one space-separated text, an internal date's UTC offset as seconds.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Iterable

import attrs

from smsync.model import MessageInfo

_flag_sets: dict[str, frozenset] = {}
_zones: dict[int, timezone] = {}


def flags_of(text: str) -> frozenset:
    """The flag set stored as ``text`` (space-separated); shared objects for common sets."""
    flags = _flag_sets.get(text)
    if flags is None:
        flags = frozenset(text.split())
        if len(_flag_sets) < 4096:
            _flag_sets[text] = flags
    return flags


def flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(flags))


def zone(offset: int) -> timezone:
    tz = _zones.get(offset)
    if tz is None:
        tz = _zones[offset] = timezone.utc if offset == 0 else timezone(timedelta(seconds=offset))
    return tz


# MessageInfo is a frozen slotted attrs class without validators or converters; its
# generated __init__ costs more than the rest of building one, which matters when a
# 100,000-message folder is listed. Filling the slots directly gives an equal object:
# ``new_message_info()`` then each of ``MESSAGE_INFO_SLOTS`` (setters, in field order).
new_message_info = object.__new__
MESSAGE_INFO_SLOTS = tuple(MessageInfo.__dict__[f.name].__set__ for f in attrs.fields(MessageInfo))
assert [f.name for f in attrs.fields(MessageInfo)] == [
    "uid", "flags", "internal_date", "saved_date", "size", "modseq"
]
