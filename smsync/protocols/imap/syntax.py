"""Value types of parsed IMAP commands (attrs, frozen): what ``parser.parse_command`` returns."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import attrs

from smsync.protocols.imap.searchkeys import SearchKey


@attrs.frozen
class LiteralMarker:
    """A literal announced at the end of a line: ``{n}``, ``{n+}`` or ``~{n}``."""

    size: int
    nonsync: bool
    binary: bool


@attrs.frozen
class SeqSet:
    """A sequence set as ranges; ``None`` stands for ``*``. ``saved`` is SEARCHRES ``$``."""

    ranges: tuple[tuple[Optional[int], Optional[int]], ...] = ()
    saved: bool = False

    def resolve(self, highest: int) -> list[tuple[int, int]]:
        """The ranges with ``*`` replaced by ``highest``, each as (lo, hi) with lo <= hi."""
        out = []
        for lo, hi in self.ranges:
            lo = highest if lo is None else lo
            hi = highest if hi is None else hi
            out.append((min(lo, hi), max(lo, hi)))
        return out

    def contains(self, n: int, highest: int) -> bool:
        return any(lo <= n <= hi for lo, hi in self.resolve(highest))


@attrs.frozen
class Section:
    """A body section: ``part`` numbers then an optional text specifier (HEADER,
    HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME) with its field names."""

    part: tuple[int, ...] = ()
    text: Optional[str] = None
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        """The section as it is echoed in a FETCH response (inside the brackets)."""
        bits = [".".join(str(p) for p in self.part)] if self.part else []
        if self.text:
            bits.append(self.text)
        s = ".".join(bits)
        if self.fields:
            s += " (" + " ".join(self.fields) + ")"
        return s


@attrs.frozen
class FetchAtt:
    """One FETCH data item. ``name`` is upper case (``BODY.PEEK``, ``BINARY.SIZE``...);
    ``section`` is set for the bracketed forms; ``partial`` is (offset, length)."""

    name: str
    section: Optional[Section] = None
    partial: Optional[tuple[int, int]] = None


@attrs.frozen
class QResyncParams:
    uidvalidity: int
    modseq: int
    known_uids: Optional[SeqSet] = None
    seq_match: Optional[tuple[SeqSet, SeqSet]] = None


@attrs.frozen
class CatPart:
    """One part of an RFC 4469 CATENATE: ``kind`` "TEXT" with the literal's bytes, or
    "URL" with the IMAP URL as the client wrote it."""

    kind: str
    value: bytes


@attrs.frozen
class AppendMessage:
    """One message of an APPEND (or REPLACE): its bytes, or with CATENATE the ``parts``
    it is made of (``data`` then empty)."""

    data: bytes
    flags: tuple[str, ...] = ()
    date: Optional[datetime] = None
    binary: bool = False
    parts: Optional[tuple[CatPart, ...]] = None


@attrs.frozen
class Command:
    """A parsed command: ``name`` upper case, ``uid`` for the UID forms, ``args`` one of
    the argument classes below (or None)."""

    tag: str
    name: str
    args: object = None
    uid: bool = False


@attrs.frozen
class Login:
    user: bytes
    password: bytes


@attrs.frozen
class Authenticate:
    mechanism: str
    initial: Optional[bytes] = None


@attrs.frozen
class Enable:
    capabilities: tuple[str, ...]


@attrs.frozen
class Id:
    params: Optional[tuple[tuple[str, Optional[str]], ...]]


@attrs.frozen
class Compress:
    mechanism: str


@attrs.frozen
class Select:
    mailbox: bytes
    condstore: bool = False
    qresync: Optional[QResyncParams] = None


@attrs.frozen
class Create:
    mailbox: bytes
    special_use: tuple[str, ...] = ()


@attrs.frozen
class MailboxArg:
    mailbox: bytes


@attrs.frozen
class Rename:
    old: bytes
    new: bytes


@attrs.frozen
class ListCmd:
    reference: bytes
    patterns: tuple[bytes, ...]
    select_opts: tuple[str, ...] = ()
    return_opts: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()
    extended: bool = False


@attrs.frozen
class Status:
    mailbox: bytes
    items: tuple[str, ...]


@attrs.frozen
class Append:
    mailbox: bytes
    messages: tuple[AppendMessage, ...]


@attrs.frozen
class Replace:
    """REPLACE and UID REPLACE (RFC 8508): the message ``number`` (a sequence number, or a
    UID for UID REPLACE; None for ``*``) replaced by ``message`` appended to ``mailbox``."""

    number: Optional[int]
    mailbox: bytes
    message: AppendMessage


@attrs.frozen
class Fetch:
    seqset: SeqSet
    atts: tuple[FetchAtt, ...]
    changedsince: Optional[int] = None
    vanished: bool = False


@attrs.frozen
class Store:
    seqset: SeqSet
    mode: str  # "set" | "add" | "remove"
    silent: bool
    flags: tuple[str, ...]
    unchangedsince: Optional[int] = None


@attrs.frozen
class CopyMove:
    seqset: SeqSet
    mailbox: bytes


@attrs.frozen
class Search:
    key: SearchKey
    charset: Optional[str] = None
    #: None: plain SEARCH answer; a tuple (possibly empty): ESEARCH with these options.
    return_opts: Optional[tuple[str, ...]] = None
    #: RETURN (PARTIAL lo:hi) (RFC 5267 4.4), the range as the client gave it.
    partial: Optional[tuple[int, int]] = None
    #: RETURN (UPDATE (fetch-att...)) (RFC 5465 section 7): what to FETCH of new results.
    update_atts: tuple[FetchAtt, ...] = ()


@attrs.frozen
class Sort:
    criteria: tuple[tuple[bool, str], ...]  # (reverse, key)
    charset: str
    key: SearchKey
    return_opts: Optional[tuple[str, ...]] = None
    partial: Optional[tuple[int, int]] = None
    update_atts: tuple[FetchAtt, ...] = ()


@attrs.frozen
class Thread:
    algorithm: str
    charset: str
    key: SearchKey


@attrs.frozen
class UidExpunge:
    seqset: SeqSet


@attrs.frozen
class CancelUpdate:
    """CANCELUPDATE (RFC 5267 4.3.5): the tags of the searching commands to stop."""

    tags: tuple[str, ...]


# ---------------------------------------------------------------------------------------
# Lexical reader
