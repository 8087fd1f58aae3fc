"""RFC 5322 / MIME structure of a message, computed once when a store accepts it.

``parse_message`` scans the bytes line-wise for header/body and MIME boundaries and
records byte offsets, so IMAP can serve ``BODY[1.2]``, ``BODY[1.2.MIME]`` and friends
by range without parsing again. It accepts ``bytes``, ``bytearray`` or ``mmap`` and
never copies a body: only header blocks are decoded. It never raises: any bytes give a
structure, the way a mail server must treat whatever arrives.

Leniency rules (those of the servers clients are used to):

* CRLF and bare LF line ends are both accepted, even mixed.
* A message (or part) without an empty line is all header if its first line looks
  like a header field, else all body.
* A multipart without a ``boundary`` parameter is treated as ``text/plain``; one
  whose boundary never occurs has a single ``text/plain`` child spanning its body; a
  missing close delimiter ends the last part at the end of the enclosing body.
* Nesting deeper than ``MAX_DEPTH`` is treated as opaque ``text/plain``; past
  ``MAX_PARTS`` parts, the rest of a multipart is the body of its last part.
"""

from __future__ import annotations

import hashlib

from smsync.formats.addresses import Address, parse_addresses
from smsync.formats.headers import (
    decode_params,
    decode_words,
    looks_like_header,
    message_ids,
    parse_date,
    parse_header_fields,
    split_value_params,
)
from smsync.formats.structure import BodyPart, Envelope, MessageStructure
from smsync.formats.structure_codec import structure_from_bytes, structure_to_bytes

__all__ = [
    "Address",
    "BodyPart",
    "Envelope",
    "MessageStructure",
    "content_digest",
    "parse_message",
    "structure_from_bytes",
    "structure_to_bytes",
    "header_fields",
]

#: Deeper MIME nesting than this is not descended into (garbage protection).
MAX_DEPTH = 64
#: At most this many MIME parts per message (Dovecot's limit too): past it, the rest
#: of a multipart body belongs to its last part, so a hostile message of millions of
#: empty parts costs no more than a normal one.
MAX_PARTS = 10000


def _count_lines(data, start: int, end: int) -> int:
    if end <= start:
        return 0
    try:
        n = data.count(b"\n", start, end)
    except AttributeError:  # mmap has find but no count
        n, pos = 0, data.find(b"\n", start, end)
        while pos >= 0:
            n += 1
            pos = data.find(b"\n", pos + 1, end)
    if data[end - 1 : end] != b"\n":
        n += 1
    return n


def _header_end(data, start: int, end: int) -> int:
    """Offset where the body of the entity ``data[start:end]`` starts (after the empty
    line); ``start`` if it has no header, ``end`` if it has no body."""
    if start >= end:
        return end
    first = data[start : start + 2]
    if first[:1] == b"\n":
        return start + 1
    if first == b"\r\n":
        return start + 2
    crlf = data.find(b"\n\r\n", start, end)
    lf = data.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf + 2
    if crlf >= 0:
        return crlf + 3
    # No empty line at all.
    return end if looks_like_header(data, start, end) else start


def _field(fields: list[tuple[str, str]], name: str) -> str | None:
    for key, value in fields:
        if key == name:
            return value
    return None


def header_fields(data, part: BodyPart | None = None) -> list[tuple[str, str]]:
    """The header fields of ``part`` (default: the message's root) of message ``data``,
    as ``(lower-case name, unfolded value)`` pairs, for SEARCH HEADER and
    ``HEADER.FIELDS`` without re-parsing the whole message."""
    if part is None:
        end = _header_end(data, 0, len(data))
        return parse_header_fields(data, 0, end)
    return parse_header_fields(data, part.header_start, part.header_end)


def _envelope(fields: list[tuple[str, str]]) -> Envelope:
    from_ = parse_addresses(_field(fields, "from"))
    sender = parse_addresses(_field(fields, "sender")) or from_
    reply_to = parse_addresses(_field(fields, "reply-to")) or from_
    return Envelope(
        date=_field(fields, "date"),
        subject=_field(fields, "subject"),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=parse_addresses(_field(fields, "to")),
        cc=parse_addresses(_field(fields, "cc")),
        bcc=parse_addresses(_field(fields, "bcc")),
        in_reply_to=_field(fields, "in-reply-to"),
        message_id=_field(fields, "message-id"),
    )


def _content_type(value: str | None, default: tuple[str, str]):
    if value is None:
        params_raw = [("charset", "us-ascii")] if default == ("text", "plain") else []
        return default[0], default[1], params_raw, True
    head, params_raw = split_value_params(value)
    mtype, slash, subtype = head.partition("/")
    mtype, subtype = mtype.strip().lower(), subtype.strip().lower()
    if not slash or not mtype or not subtype or any(c in mtype + subtype for c in ' \t"'):
        # An unreadable type is text/plain (RFC 2045 5.2), keeping readable parameters.
        return "text", "plain", params_raw, False
    return mtype, subtype, params_raw, False


def _boundaries(data, boundary: bytes, start: int, end: int):
    """Yield ``(delimiter_start, line_end, is_close)`` for each delimiter line of
    ``boundary`` inside ``data[start:end]``."""
    delim = b"--" + boundary
    dlen = len(delim)
    pos = data.find(delim, start, end)
    while pos >= 0:
        if pos == start or data[pos - 1 : pos] == b"\n":
            after = pos + dlen
            nl = data.find(b"\n", after, end)
            line_end = end if nl < 0 else nl + 1
            rest = bytes(data[after:line_end])
            if rest[:2] == b"--":
                yield pos, line_end, True
                return
            if not rest.strip():
                yield pos, line_end, False
            pos = data.find(delim, line_end, end)
        else:
            pos = data.find(delim, pos + 1, end)


def _part_end_before(data, delim_start: int, floor: int) -> int:
    """The end of a part body whose next delimiter line starts at ``delim_start``: the
    line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1)."""
    if delim_start - 2 >= floor and data[delim_start - 2 : delim_start] == b"\r\n":
        return delim_start - 2
    if delim_start - 1 >= floor and data[delim_start - 1 : delim_start] == b"\n":
        return delim_start - 1
    return max(delim_start, floor)


def _parse_entity(data, start: int, end: int, default: tuple[str, str], depth: int, budget: list[int]):
    """Parse the entity ``data[start:end]``. Returns ``(part, fields)``; ``fields`` are
    its header fields (the caller builds an envelope from them for messages).
    ``budget[0]`` is how many more parts may be made."""
    budget[0] -= 1
    body_start = _header_end(data, start, end)
    fields = parse_header_fields(data, start, body_start)
    mtype, subtype, params_raw, defaulted = _content_type(_field(fields, "content-type"), default)
    boundary = None
    exhausted = depth >= MAX_DEPTH or budget[0] <= 0
    if mtype == "multipart":
        boundary = next((v for k, v in params_raw if k.lower() == "boundary"), None)
        if not boundary or exhausted:
            mtype, subtype = "text", "plain"
    elif mtype == "message" and subtype == "rfc822" and exhausted:
        mtype, subtype = "text", "plain"
    params = decode_params(params_raw) if params_raw else ()
    disposition = None
    disp_raw: list[tuple[str, str]] = []
    disp_value = _field(fields, "content-disposition")
    if disp_value:
        head, disp_raw = split_value_params(disp_value)
        disposition = head.lower() or None
    encoding = (_field(fields, "content-transfer-encoding") or "7bit").strip().lower() or "7bit"
    language = _field(fields, "content-language")
    children: tuple[BodyPart, ...] = ()
    envelope = None
    message = None
    lines = None
    if boundary is not None and mtype == "multipart":
        child_default = ("message", "rfc822") if subtype == "digest" else ("text", "plain")
        children = _parse_multipart(data, boundary, body_start, end, child_default, depth, budget)
    elif mtype == "message" and subtype == "rfc822":
        message, embedded_fields = _parse_entity(data, body_start, end, ("text", "plain"), depth + 1, budget)
        envelope = _envelope(embedded_fields)
        lines = _count_lines(data, body_start, end)
    elif mtype == "text":
        lines = _count_lines(data, body_start, end)
    part = BodyPart(
        type=mtype,
        subtype=subtype,
        params=params,
        params_raw=tuple(params_raw),
        id=_field(fields, "content-id"),
        description=_field(fields, "content-description"),
        encoding=encoding,
        size=end - body_start,
        lines=lines,
        md5=None,
        disposition=disposition,
        disposition_params=decode_params(disp_raw) if disp_raw else (),
        disposition_params_raw=tuple(disp_raw),
        language=tuple(t.strip() for t in language.split(",") if t.strip()) or None if language else None,
        location=_field(fields, "content-location"),
        header_start=start,
        header_end=body_start,
        body_end=end,
        children=children,
        envelope=envelope,
        message=message,
    )
    return part, fields


def _parse_multipart(data, boundary: str, start: int, end: int, default, depth: int, budget: list[int]):
    try:
        bnd = boundary.encode("utf-8")
    except UnicodeEncodeError:  # pragma: no cover - str from our own decoding is encodable
        bnd = boundary.encode("utf-8", "replace")
    ranges: list[tuple[int, int]] = []
    part_start = None
    for delim_start, line_end, is_close in _boundaries(data, bnd, start, end):
        if part_start is not None:
            if len(ranges) + 1 >= budget[0]:
                break  # out of parts: this part runs to the end of the multipart
            ranges.append((part_start, _part_end_before(data, delim_start, part_start)))
        part_start = None if is_close else line_end
    if part_start is not None:
        ranges.append((part_start, end))  # no close delimiter: last part runs to the end
    if not ranges:
        # No delimiter at all: one plain part over the whole body keeps BODYSTRUCTURE valid.
        ranges.append((start, end))
        default = ("text", "plain")
    return tuple(_parse_entity(data, s, e, default, depth + 1, budget)[0] for s, e in ranges)


def is_attachment(part: BodyPart, is_root: bool) -> bool:
    """What a mail client would show with a paper clip: declared attachments, named
    files not shown inline, and forwarded messages or binary parts that are not inline
    resources (``Content-ID`` parts of multipart/related)."""
    if part.children or part.disposition == "inline":
        return False
    if part.disposition == "attachment":
        return True
    if is_root:
        return False
    if part.filename is not None:
        return True
    return part.type not in ("text", "multipart") and part.id is None


def content_digest(data) -> str:
    """A digest of a message's bytes (hex): equal for equal bytes, and for different
    bytes as unlikely to be equal as two random 128-bit numbers. BLAKE2b, for being
    faster than SHA-256 where the CPU has no SHA instructions."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parse_message(data) -> MessageStructure:
    """Parse RFC 5322 bytes into a ``MessageStructure``. Never raises on any content."""
    size = len(data)
    root, fields = _parse_entity(data, 0, size, ("text", "plain"), 0, [MAX_PARTS])
    envelope = _envelope(fields)
    has_attachments = any(is_attachment(p, p is root) for p in root.walk())
    return MessageStructure(
        envelope=envelope,
        root=root,
        header_size=root.header_end,
        size=size,
        lines=_count_lines(data, 0, size),
        subject=decode_words(envelope.subject or ""),
        date=parse_date(envelope.date),
        from_=decode_words(_field(fields, "from") or ""),
        to=decode_words(_field(fields, "to") or ""),
        cc=decode_words(_field(fields, "cc") or ""),
        bcc=decode_words(_field(fields, "bcc") or ""),
        message_id=envelope.message_id,
        in_reply_to=envelope.in_reply_to,
        references=message_ids(_field(fields, "references")),
        has_attachments=has_attachments,
        digest=content_digest(data),
    )
