"""The file attachments of a stored message as EWS sees them, and the rewrites that add
or remove one: pure functions over the stored RFC 5322 bytes and their parsed structure.

An attachment is a part a mail client shows with a paper clip (the same rule as the
structure's ``has_attachments``), not looking inside forwarded messages: a forwarded
message is one attachment. Its AttachmentId names the message (account, folder, UID)
and its place among the message's attachments, with the ids' checksum, so it is the
same on every read of the message. Adding or removing one rewrites the message: the
other parts are kept byte for byte (a part is spliced in before the closing boundary of
a multipart/mixed, or the message is wrapped in one; a part is cut out with its
delimiter line), so the rewritten message is a new message in the same folder, with a
new ItemId.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Optional

import attrs
from lxml import etree

from smsync.formats.headers import decode_words, split_value_params
from smsync.formats.message import _is_attachment
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import INVALID_ID_MALFORMED, EWSError
from smsync.protocols.ews.soap import t, text

ATTACHMENT = "A"
#: Largest attachment taken in one CreateAttachment (the request's own limit is larger).
MAX_ATTACHMENT = 50 * 1024 * 1024


@attrs.frozen
class AttachmentRef:
    """An attachment: the message (``item``) and its place among its attachments."""

    item: ids.ItemRef
    index: int


def attachment_id(ref: AttachmentRef) -> str:
    """The AttachmentId text of ``ref``."""
    return ids._pack(ATTACHMENT, ref.item.account, ref.item.source, ref.item.key, str(ref.index))


def parse_attachment_id(value: str) -> AttachmentRef:
    """The attachment ``value`` names; ``EWSError(ErrorInvalidIdMalformed)`` if none."""
    try:
        kind, fields = ids._unpack(value or "")
    except ids.MalformedId as e:
        raise EWSError(INVALID_ID_MALFORMED, f"attachment id: {e}") from None
    if kind != ATTACHMENT or len(fields) != 4 or not fields[2].isdigit() or not fields[3].isdigit():
        raise EWSError(INVALID_ID_MALFORMED, "not an attachment id")
    return AttachmentRef(ids.ItemRef(fields[0], ids.MESSAGE, fields[1], fields[2]), int(fields[3]))


@attrs.frozen
class Found:
    """One attachment part and the multipart holding it (None for the root)."""

    part: object
    parent: Optional[object]


def file_parts(structure) -> list[Found]:
    """The message's attachments in order, not looking inside forwarded messages."""
    out = []

    def walk(part, parent):
        if _is_attachment(part, parent is None):
            out.append(Found(part, parent))
        for child in part.children:
            walk(child, part)

    walk(structure.root, None)
    return out


def name_of(part) -> str:
    name = part.filename
    if name:
        return decode_words(name)
    if part.type == "message" and part.envelope is not None and part.envelope.subject:
        return decode_words(part.envelope.subject) + ".eml"
    return f"attachment.{part.subtype or 'bin'}"


def decoded(raw: bytes, part) -> bytes:
    """The content of ``part``, transfer decoding undone."""
    body = raw[part.body_start:part.body_end]
    encoding = (part.encoding or "7bit").lower()
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"==", validate=False)
        except (binascii.Error, ValueError):
            return body
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _content_id(part) -> Optional[str]:
    return part.id.strip().strip("<>") if part.id else None


def attachment_element(ref: AttachmentRef, part, raw: Optional[bytes] = None, root=None):
    """The ``<t:FileAttachment>`` of one part; its content only with ``raw``; with
    ``root`` (``(item id, change key)``), the AttachmentId names the message too."""
    node = etree.Element(t("FileAttachment"))
    id_node = etree.SubElement(node, t("AttachmentId"), Id=attachment_id(ref))
    if root is not None:
        id_node.set("RootItemId", root[0])
        id_node.set("RootItemChangeKey", root[1])
    etree.SubElement(node, t("Name")).text = text(name_of(part))
    etree.SubElement(node, t("ContentType")).text = part.mime_type
    cid = _content_id(part)
    if cid:
        etree.SubElement(node, t("ContentId")).text = text(cid)
    content = decoded(raw, part) if raw is not None else None
    etree.SubElement(node, t("Size")).text = str(len(content) if content is not None else part.size)
    etree.SubElement(node, t("IsInline")).text = "true" if part.disposition == "inline" else "false"
    if content is not None:
        etree.SubElement(node, t("Content")).text = base64.b64encode(content).decode("ascii")
    return node


def attachments_element(account: str, source: str, uid: int, structure):
    """The ``<t:Attachments>`` of a message (item:Attachments), without contents."""
    holder = etree.Element(t("Attachments"))
    item = ids.ItemRef(account, ids.MESSAGE, source, str(uid))
    for index, found in enumerate(file_parts(structure)):
        holder.append(attachment_element(AttachmentRef(item, index), found.part))
    return holder


# -- rewriting -------------------------------------------------------------------------


def _eol(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw[:4096] or b"\n" not in raw[:4096] else b"\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filename_params(name: str) -> str:
    """``name=...`` as a MIME parameter: quoted ASCII, else RFC 2231 UTF-8."""
    clean = name.replace("\r", " ").replace("\n", " ")
    if clean.isascii():
        return f"filename={_quote(clean)}"
    from urllib.parse import quote

    return "filename*=UTF-8''" + quote(clean, safe="")


def part_bytes(name: str, content_type: str, content: bytes, inline: bool, eol: bytes,
               content_id: Optional[str] = None) -> bytes:
    """A MIME part (header and base64 body) holding ``content``."""
    kind, _params = split_value_params(content_type or "")
    if not re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+", kind or ""):
        kind = "application/octet-stream"
    disposition = "inline" if inline else "attachment"
    lines = [f"Content-Type: {kind.lower()}".encode("ascii"),
             f"Content-Disposition: {disposition}; {_filename_params(name)}".encode("ascii"),
             b"Content-Transfer-Encoding: base64"]
    if content_id and re.fullmatch(r"[!-;=?-~]+", content_id):
        lines.append(f"Content-ID: <{content_id}>".encode("ascii"))
    body = base64.encodebytes(content).replace(b"\n", eol)
    return eol.join(lines) + eol + eol + body.rstrip(eol)


def _header_fields(header: bytes, eol: bytes) -> list[bytes]:
    """The fields of a header block (without its blank line), continuations joined."""
    fields: list[bytes] = []
    for line in header.split(eol):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += eol + line
        else:
            fields.append(line)
    return fields


def _field_name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower()


def add_parts(raw: bytes, structure, parts: list[bytes]) -> bytes:
    """``raw`` with the MIME ``parts`` (``part_bytes``) added as attachments."""
    eol = _eol(raw)
    root = structure.root
    boundary = root.param("boundary") if root.type == "multipart" else None
    if root.subtype == "mixed" and boundary and root.children:
        at = root.children[-1].body_end
        added = b"".join(eol + b"--" + boundary.encode("latin-1") + eol + p for p in parts)
        return raw[:at] + added + raw[at:]
    # Wrap: the message's own content fields go with its content into the first part.
    header, body = raw[:root.header_end], raw[root.header_end:]
    fields = _header_fields(header.rstrip(b"\r\n"), eol)
    content = [f for f in fields if _field_name(f).startswith(b"content-")]
    others = [f for f in fields if not _field_name(f).startswith(b"content-")
              and _field_name(f) != b"mime-version"]
    new = ("smsync-" + secrets.token_hex(12)).encode("ascii")
    delimiter = eol + b"--" + new + eol
    top = others + [b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="' + new + b'"']
    first = eol.join(content or [b"Content-Type: text/plain; charset=us-ascii"]) + eol + eol + body
    out = eol.join(top) + eol + eol + b"--" + new + eol + first
    for p in parts:
        out += delimiter + p
    return out + eol + b"--" + new + b"--" + eol


def remove_part(raw: bytes, found: Found) -> bytes:
    """``raw`` without the attachment ``found``: its delimiter line and the part go;
    an attachment that is the whole message leaves an empty text body."""
    part, parent = found.part, found.parent
    eol = _eol(raw)
    if parent is None:
        header = raw[:part.header_end]
        fields = [f for f in _header_fields(header.rstrip(b"\r\n"), eol)
                  if not _field_name(f).startswith(b"content-")]
        return eol.join(fields + [b"Content-Type: text/plain; charset=us-ascii"]) + eol + eol
    boundary = (parent.param("boundary") or "").encode("latin-1")
    delimiter = raw.rfind(b"--" + boundary, parent.header_end, part.header_start)
    if delimiter < 0:
        raise ValueError("the part's delimiter is not where the structure says")
    start = delimiter
    # The line break before a delimiter belongs to it (RFC 2046 5.1.1).
    if start - 2 >= parent.header_end and raw[start - 2:start] == b"\r\n":
        start -= 2
    elif start - 1 >= parent.header_end and raw[start - 1:start] == b"\n":
        start -= 1
    return raw[:start] + raw[part.body_end:]


def with_attachments(raw: bytes, item) -> bytes:
    """``raw`` with the file attachments an item element (``<t:Message>`` of CreateItem)
    carries in its ``<t:Attachments>`` added; ``raw`` itself when it carries none.
    ``EWSError`` for an attachment that is not a file or whose content is not base64."""
    holder = item.find(t("Attachments"))
    nodes = [c for c in holder if isinstance(c.tag, str)] if holder is not None else []
    if not nodes:
        return raw
    from smsync.formats.message import parse_message

    eol = _eol(raw)
    return add_parts(raw, parse_message(raw), [new_part(node, eol) for node in nodes])


def new_part(node, eol: bytes) -> bytes:
    """The MIME part of a ``<t:FileAttachment>`` a client sends."""
    if node.tag != t("FileAttachment"):
        raise EWSError("ErrorInvalidOperation", "only file attachments are added to messages here")
    name = (node.findtext(t("Name")) or "").strip() or "attachment"
    encoded = "".join((node.findtext(t("Content")) or "").split())
    if len(encoded) > MAX_ATTACHMENT * 4 // 3 + 4:
        raise EWSError("ErrorAttachmentSizeLimitExceeded", "the attachment is too large")
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise EWSError("ErrorSchemaValidation", "the attachment's Content is not base64") from None
    inline = (node.findtext(t("IsInline")) or "").strip().lower() in ("true", "1")
    return part_bytes(name[:255], node.findtext(t("ContentType")) or "", content, inline, eol,
                      (node.findtext(t("ContentId")) or "").strip() or None)
