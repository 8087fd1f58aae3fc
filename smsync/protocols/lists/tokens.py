"""Change tokens and paging positions: opaque strings Outlook hands back, as pure
functions.

A change token names the list (its GUID), the position in the collection's change log
(its revision) up to which the client has everything, and the generation of the
device's state it was issued under; a checksum over all three makes a token that was
cut, edited or made up recognisable. ``read_token`` tells a token that is not ours
(``None``) from one of ours; whether it is still good (same generation, a revision the
collection has) the caller decides.

A paging position (``ListItemCollectionPositionNext``) is ``Paged=TRUE&p_ID=N`` as
SharePoint writes it, plus the revision the first page was read at (``rev``), so that
the change token after the last page still covers every page.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Optional

import attrs

#: Version of the token format (the first field).
_FORMAT = "1"
_TOKEN = re.compile(r"^1;([0-9a-f]{32});(\d{1,18});([0-9a-f]{1,32});([0-9a-f]{16})$")


@attrs.frozen
class Token:
    """A change token's content."""

    list_id: uuid.UUID
    revision: int
    generation: str


def _check(body: str) -> str:
    return hashlib.blake2b(body.encode("ascii"), digest_size=8, person=b"smsync-lists").hexdigest()


def make_token(list_id: uuid.UUID, revision: int, generation: str) -> str:
    """The change token of ``list_id`` at ``revision`` under ``generation``."""
    body = f"{_FORMAT};{list_id.hex};{int(revision)};{generation}"
    return f"{body};{_check(body)}"


def read_token(text: Optional[str]) -> Optional[Token]:
    """The content of a token ``make_token`` wrote; None for anything else."""
    match = _TOKEN.match((text or "").strip())
    if match is None:
        return None
    list_hex, revision, generation, check = match.groups()
    body = f"{_FORMAT};{list_hex};{revision};{generation}"
    if _check(body) != check:
        return None
    return Token(uuid.UUID(list_hex), int(revision), generation)


@attrs.frozen
class Position:
    """Where the next page starts: after item ``after`` (an ID), the enumeration having
    begun at ``revision``."""

    after: int
    revision: int


_POSITION = re.compile(r"^Paged=TRUE&p_ID=(\d{1,10})(?:&rev=(\d{1,18}))?$")


def make_position(after: int, revision: int) -> str:
    return f"Paged=TRUE&p_ID={int(after)}&rev={int(revision)}"


def read_position(text: Optional[str]) -> Optional[Position]:
    """The position a ``ListItemCollectionPositionNext`` names; None for none or one
    that is not a position (the first page is served)."""
    match = _POSITION.match((text or "").strip())
    if match is None:
        return None
    after, revision = match.groups()
    return Position(int(after), int(revision) if revision is not None else -1)
