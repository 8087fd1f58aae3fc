"""Value types of a parsed message: ENVELOPE, the MIME part tree with byte offsets, and
the per-message summary IMAP SEARCH/SORT use. Built by ``smsync.formats.message``."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import attrs

from smsync.formats.addresses import Address

Params = tuple[tuple[str, str], ...]


@attrs.frozen
class Envelope:
    """IMAP ENVELOPE (RFC 3501 7.4.2). Strings are the raw header text (RFC 2047 words
    left encoded); None where the header is absent. ``sender`` and ``reply_to`` already
    default to ``from_`` as the RFC requires."""

    date: Optional[str] = None
    subject: Optional[str] = None
    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    in_reply_to: Optional[str] = None
    message_id: Optional[str] = None


@attrs.frozen
class BodyPart:
    """One MIME entity, as BODYSTRUCTURE describes it, located by byte offsets.

    Offsets index the whole message as stored: ``data[header_start:header_end]`` is the
    part's MIME header including its terminating blank line (``BODY[n.MIME]``; for a
    message's root, the message header), ``data[header_end:body_end]`` its body in
    transfer encoding (``BODY[n]``). ``type``/``subtype`` and parameter names are
    lower-case. ``params`` are RFC 2231/2047 decoded; ``params_raw`` are as written
    (names keep their case, quotes removed). ``size`` is octets of the encoded body;
    ``lines`` is set for ``text/*`` and ``message/rfc822`` parts. ``children`` is
    non-empty exactly for multiparts; ``envelope``/``message`` are set for
    ``message/rfc822`` (the embedded message's ENVELOPE and root part, whose header
    range is the embedded message's header).
    """

    type: str = "text"
    subtype: str = "plain"
    params: Params = ()
    params_raw: Params = ()
    id: Optional[str] = None
    description: Optional[str] = None
    encoding: str = "7bit"
    size: int = 0
    lines: Optional[int] = None
    md5: Optional[str] = None
    disposition: Optional[str] = None
    disposition_params: Params = ()
    disposition_params_raw: Params = ()
    language: Optional[tuple[str, ...]] = None
    location: Optional[str] = None
    header_start: int = 0
    header_end: int = 0
    body_end: int = 0
    children: tuple["BodyPart", ...] = ()
    envelope: Optional[Envelope] = None
    message: Optional["BodyPart"] = None

    @property
    def body_start(self) -> int:
        return self.header_end

    @property
    def mime_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_multipart(self) -> bool:
        return bool(self.children)

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The decoded Content-Type parameter ``name`` (case-insensitive)."""
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return default

    @property
    def filename(self) -> Optional[str]:
        """The decoded file name (Content-Disposition filename, else Content-Type name)."""
        for key, value in self.disposition_params:
            if key == "filename":
                return value
        return self.param("name")

    def walk(self):
        """This part and every part below it (into embedded messages too), depth first."""
        yield self
        for child in self.children:
            yield from child.walk()
        if self.message is not None:
            yield from self.message.walk()


@attrs.frozen
class MessageStructure:
    """Everything protocols need about one stored message without re-parsing it.

    ``header_size`` counts the top header including its blank line; ``size`` the whole
    message; ``lines`` its line count. ``subject``, ``from_``, ``to``, ``cc`` and
    ``bcc`` are decoded text for SEARCH; ``date`` is the Date header (aware) or None.
    ``digest`` is ``content_digest`` of the stored bytes (None in structures stored before
    it was kept): equal for equal content, so a copy of a message has its original's
    (IMAP OBJECTID's EMAILID is made from it).
    """

    envelope: Envelope
    root: BodyPart
    header_size: int
    size: int
    lines: int
    subject: str = ""
    date: Optional[datetime] = None
    from_: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    message_id: Optional[str] = None
    in_reply_to: Optional[str] = None
    references: tuple[str, ...] = ()
    has_attachments: bool = False
    digest: Optional[str] = None

    def part(self, path: tuple[int, ...]) -> BodyPart:
        """The part at IMAP section path ``path`` (RFC 3501 6.4.5); ``()`` is the root.

        A non-multipart message (or embedded message) has its body as part 1; parts of
        an embedded ``message/rfc822`` are numbered below that part. Raises ``KeyError``
        for a path naming no part.
        """
        node = self.root
        in_message = True
        for n in path:
            if not isinstance(n, int) or n < 1:
                raise KeyError(path)
            if not in_message and node.message is not None:
                node = node.message
                in_message = True
            if node.children:
                if n > len(node.children):
                    raise KeyError(path)
                node = node.children[n - 1]
            elif not (in_message and n == 1):
                raise KeyError(path)
            in_message = False
        return node

    def parts(self):
        """Every part, depth first, including those of embedded messages."""
        return self.root.walk()
