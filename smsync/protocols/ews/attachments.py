"""A stored message's attachments as EWS FileAttachments: which parts are attachments
(what a mail client shows with a paper clip), their ids, and their content, decoded from
the stored bytes on demand; and the rewrites that add or remove one. Pure functions
over the message's bytes and structure."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import datetime, timezone
from typing import Iterator, Optional

from lxml import etree

from smsync.formats.bodytext import decode_transfer
from smsync.formats.headers import decode_words
from smsync.formats.message import is_attachment, parse_message
from smsync.formats.structure import BodyPart
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.soap import t, text


def parts(root: BodyPart) -> Iterator[tuple[str, BodyPart]]:
    """``(section path, part)`` of every attachment, in order (not inside attached
    messages: an attached message is one attachment)."""
    def walk(part: BodyPart, path: tuple):
        if part.children:
            for n, child in enumerate(part.children, start=1):
                yield from walk(child, path + (n,))
        elif is_attachment(part, part is root):
            yield ".".join(str(n) for n in path) or "1", part

    yield from walk(root, ())


def find(root: BodyPart, path: str) -> Optional[BodyPart]:
    for found_path, part in parts(root):
        if found_path == path:
            return part
    return None


def _name(part: BodyPart, path: str) -> str:
    if part.filename:
        return part.filename
    if part.mime_type == "message/rfc822":
        subject = decode_words(part.envelope.subject or "").strip() if part.envelope is not None else ""
        return subject or f"message-{path}.eml"
    return f"attachment-{path}"


def is_item(part: BodyPart) -> bool:
    """Whether an attachment is an attached message: an EWS ItemAttachment."""
    return part.mime_type == "message/rfc822"


def listing(ref: ids.ItemRef, root: BodyPart):
    """``<t:Attachments>`` naming every attachment of the message (None when none)."""
    found = list(parts(root))
    if not found:
        return None
    holder = etree.Element(t("Attachments"))
    for path, part in found:
        holder.append(item_attachment(ref, path, part) if is_item(part) else file_attachment(ref, path, part))
    return holder


def content_of(node) -> bytes:
    """The bytes of a ``<t:FileAttachment>``'s Content: ``EWSError`` when they are over
    MAX_ATTACHMENT (told before decoding) or not base64."""
    encoded = "".join((node.findtext(t("Content")) or "").split())
    if len(encoded) > MAX_ATTACHMENT * 4 // 3 + 4:
        raise EWSError("ErrorAttachmentSizeLimitExceeded", "the attachment is too large")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise EWSError("ErrorSchemaValidation", "the attachment's Content is not base64") from None


def _described(tag: str, ref: ids.ItemRef, path: str, part: BodyPart):
    """``<t:{tag}>`` with what a message's attachment shows of itself: its id, name,
    type, Content-ID, size and that it is not inline."""
    node = etree.Element(t(tag))
    etree.SubElement(node, t("AttachmentId"), Id=ids.attachment_id(ref, path))
    etree.SubElement(node, t("Name")).text = text(_name(part, path))
    etree.SubElement(node, t("ContentType")).text = part.mime_type
    if part.id:
        etree.SubElement(node, t("ContentId")).text = text(part.id.strip("<>"))
    etree.SubElement(node, t("Size")).text = str(part.size)
    etree.SubElement(node, t("IsInline")).text = "false"
    return node


def item_attachment(ref: ids.ItemRef, path: str, part: BodyPart, item=None):
    """An ``<t:ItemAttachment>`` (an attached message); with ``item`` (its
    ``<t:Message>``, ``inner_message``) the item itself."""
    node = _described("ItemAttachment", ref, path, part)
    if item is not None:
        node.append(item)
    return node


def inner_message(account: str, raw: bytes, part: BodyPart, shape):
    """The ``<t:Message>`` of an attached message whose stored body (``raw``, in its
    transfer encoding) is given, in ``shape``: it is no item of a folder, so it has no
    ItemId, ParentFolderId nor attachment ids of its own (MS-OXWSCORE: an attached
    item is read with its attachment)."""
    from smsync.model import MessageInfo
    from smsync.protocols.ews.messages import SEEN, message_element

    inner = decode_transfer(raw, part.encoding)
    structure = parse_message(inner)
    when = structure.date or datetime.now(timezone.utc)
    info = MessageInfo(uid=0, flags=frozenset({SEEN}), internal_date=when, saved_date=when,
                       size=len(inner), modseq=0)
    node = message_element(account, "", info, structure, shape, inner, get_item=True)
    for tag in ("ItemId", "ParentFolderId", "Attachments"):
        for found in node.findall(t(tag)):
            node.remove(found)
    return node


def file_attachment(ref: ids.ItemRef, path: str, part: BodyPart, raw: Optional[bytes] = None):
    """A ``<t:FileAttachment>``; with ``raw`` (the part's body as stored) its Content."""
    node = _described("FileAttachment", ref, path, part)
    if raw is not None:
        etree.SubElement(node, t("IsContactPhoto")).text = "false"
        etree.SubElement(node, t("Content")).text = base64.b64encode(
            decode_transfer(raw, part.encoding)).decode("ascii")
    return node


# -- adding and removing (CreateAttachment, DeleteAttachment, CreateItem's own) --------
#
# Adding or removing an attachment rewrites the message, keeping every other part byte
# for byte: a part is spliced in before the closing boundary of a multipart/mixed root
# (any other message is wrapped in one), and a part is cut out with the delimiter line
# before it. The rewritten message is a new message (an IMAP UID never changes its
# content), so it has a new ItemId.

#: Largest attachment added in one request (the request's own limit is larger).
MAX_ATTACHMENT = 50 * 1024 * 1024


def _eol(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw[:4096] or b"\n" not in raw[:4096] else b"\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filename_param(name: str) -> str:
    """``filename=...``: quoted ASCII, else RFC 2231 UTF-8."""
    clean = name.replace("\r", " ").replace("\n", " ")
    if clean.isascii():
        return f"filename={_quote(clean)}"
    from urllib.parse import quote

    return "filename*=UTF-8''" + quote(clean, safe="")


def part_bytes(name: str, content_type: str, content: bytes, inline: bool, eol: bytes,
               content_id: Optional[str] = None) -> bytes:
    """A MIME part (header and base64 body) holding ``content``."""
    kind = (content_type or "").split(";", 1)[0].strip()
    if not re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+", kind):
        kind = "application/octet-stream"
    lines = [f"Content-Type: {kind.lower()}".encode("ascii"),
             f"Content-Disposition: {'inline' if inline else 'attachment'}; {_filename_param(name)}".encode("ascii"),
             b"Content-Transfer-Encoding: base64"]
    if content_id and re.fullmatch(r"[!-;=?-~]+", content_id):
        lines.append(f"Content-ID: <{content_id}>".encode("ascii"))
    body = base64.encodebytes(content).replace(b"\n", eol)
    return eol.join(lines) + eol + eol + body.rstrip(eol)


def message_part(name: str, content: bytes, eol: bytes) -> bytes:
    """A message/rfc822 part holding message ``content`` (RFC 2046 allows it no
    base64: 7bit, else 8bit, else binary)."""
    if eol != b"\r\n":
        content = content.replace(b"\r\n", eol)
    lines = [b"Content-Type: message/rfc822",
             f"Content-Disposition: attachment; {_filename_param(name)}".encode("ascii")]
    if not content.isascii():
        lines.append(b"Content-Transfer-Encoding: 8bit" if b"\0" not in content else
                     b"Content-Transfer-Encoding: binary")
    return eol.join(lines) + eol + eol + content.rstrip(b"\r\n")


#: The item elements an ItemAttachment may hold (MS-OXWSCORE ItemAttachmentType).
_ITEM_TAGS = ("Item", "Message", "CalendarItem", "Contact", "Task", "MeetingMessage", "MeetingRequest",
              "MeetingResponse", "MeetingCancellation", "PostItem")


def new_item_part(node, eol: bytes, compose) -> bytes:
    """The message/rfc822 part of an ``<t:ItemAttachment>`` holding a ``<t:Message>``
    (by its fields, or its MimeContent): ``compose(message element)`` makes its bytes,
    as CreateItem would (``changes._content``)."""
    items = [c for c in node if isinstance(c.tag, str) and c.tag.rpartition("}")[2] in _ITEM_TAGS]
    if len(items) != 1:
        raise EWSError("ErrorSchemaValidation", "an ItemAttachment holds one item")
    if items[0].tag not in (t("Message"), t("Item")):
        raise EWSError("ErrorInvalidOperation", "only messages are attached as items here")
    content = compose(items[0])
    if len(content) > MAX_ATTACHMENT:
        raise EWSError("ErrorAttachmentSizeLimitExceeded", "the attachment is too large")
    name = (node.findtext(t("Name")) or "").strip() or (items[0].findtext(t("Subject")) or "").strip()
    return message_part(name[:255] or "message", content, eol)


def new_part(node, eol: bytes, compose=None) -> bytes:
    """The MIME part of a ``<t:FileAttachment>`` a client sends, or of an
    ``<t:ItemAttachment>`` when ``compose`` makes a message's bytes
    (``new_item_part``); ``EWSError`` for any other attachment or content that is not
    base64."""
    if node.tag == t("ItemAttachment") and compose is not None:
        return new_item_part(node, eol, compose)
    if node.tag != t("FileAttachment"):
        raise EWSError("ErrorInvalidOperation", "only file and item attachments are added to messages here")
    name = (node.findtext(t("Name")) or "").strip() or "attachment"
    content = content_of(node)
    inline = (node.findtext(t("IsInline")) or "").strip().lower() in ("true", "1")
    return part_bytes(name[:255], node.findtext(t("ContentType")) or "", content, inline, eol,
                      (node.findtext(t("ContentId")) or "").strip() or None)


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


def _is_content_field(field: bytes) -> bool:
    return field.split(b":", 1)[0].strip().lower().startswith(b"content-")


def _is_mime_version(field: bytes) -> bool:
    return field.split(b":", 1)[0].strip().lower() == b"mime-version"


def add_parts(raw: bytes, structure, parts_: list) -> bytes:
    """``raw`` with the MIME parts (``part_bytes``) added as attachments."""
    eol = _eol(raw)
    root = structure.root
    boundary = root.param("boundary") if root.type == "multipart" else None
    # A part holding the root's delimiter (an attached message that is a copy of this
    # one) would end the root early there: then the root is wrapped, whose new
    # boundary no part holds.
    clash = boundary is not None and any(b"--" + boundary.encode("latin-1") in p for p in parts_)
    if root.subtype == "mixed" and boundary and root.children and not clash:
        at = root.children[-1].body_end
        added = b"".join(eol + b"--" + boundary.encode("latin-1") + eol + p for p in parts_)
        return raw[:at] + added + raw[at:]
    # Wrap: the message's own content fields go with its content into the first part.
    header, body = raw[:root.header_end], raw[root.header_end:]
    fields = _header_fields(header.rstrip(b"\r\n"), eol)
    content = [f for f in fields if _is_content_field(f)]
    others = [f for f in fields if not _is_content_field(f) and not _is_mime_version(f)]
    new = ("smsync-" + secrets.token_hex(12)).encode("ascii")
    top = others + [b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="' + new + b'"']
    first = eol.join(content or [b"Content-Type: text/plain; charset=us-ascii"]) + eol + eol + body
    out = eol.join(top) + eol + eol + b"--" + new + eol + first
    for p in parts_:
        out += eol + b"--" + new + eol + p
    return out + eol + b"--" + new + b"--" + eol


def remove_part(raw: bytes, structure, path: str) -> bytes:
    """``raw`` without the attachment at ``path`` (as ``parts`` names it): its delimiter
    line and the part go; an attachment that is the whole message leaves an empty text
    body. ``ValueError`` when the bytes are not where the structure says."""
    part = find(structure.root, path)
    if part is None:
        raise ValueError(f"no attachment {path}")
    eol = _eol(raw)
    if part is structure.root:
        fields = [f for f in _header_fields(raw[:part.header_end].rstrip(b"\r\n"), eol)
                  if not _is_content_field(f)]
        return eol.join(fields + [b"Content-Type: text/plain; charset=us-ascii"]) + eol + eol
    parent = structure.part(tuple(int(n) for n in path.split(".")[:-1]))
    boundary = (parent.param("boundary") or "").encode("latin-1")
    delimiter = raw.rfind(b"--" + boundary, parent.header_end, part.header_start)
    if not boundary or delimiter < 0:
        raise ValueError("the part's delimiter is not where the structure says")
    start = delimiter
    # The line break before a delimiter belongs to it (RFC 2046 5.1.1).
    if start - 2 >= parent.header_end and raw[start - 2:start] == b"\r\n":
        start -= 2
    elif start - 1 >= parent.header_end and raw[start - 1:start] == b"\n":
        start -= 1
    return raw[:start] + raw[part.body_end:]


def renumbered(old_raw: bytes, old_root: BodyPart, new_raw: bytes, removed=()) -> dict:
    """How the attachments' section paths changed from ``old_raw`` to ``new_raw`` (a
    rewrite by ``add_parts`` or by ``remove_part`` of the paths ``removed``): old path ->
    new path, None for an attachment that is gone; unchanged paths are left out. Both
    rewrites keep the other attachments in their order (added ones come last), so the
    old ones left are matched in order, and a match is trusted only if the part's bytes
    are the same: anything else counts as gone, never as another attachment."""
    new_parts = list(parts(parse_message(new_raw).root))
    out: dict = {path: None for path in removed}
    kept = [(path, part) for path, part in parts(old_root) if path not in out]
    for n, (path, part) in enumerate(kept):
        if n >= len(new_parts):
            out[path] = None
            continue
        new_path, new_part = new_parts[n]
        same = old_raw[part.body_start:part.body_end] == new_raw[new_part.body_start:new_part.body_end]
        if not same:
            out[path] = None
        elif new_path != path:
            out[path] = new_path
    return out


def with_attachments(raw: bytes, item, compose=None) -> bytes:
    """``raw`` with the attachments an item element (CreateItem's ``<t:Message>``)
    carries in its ``<t:Attachments>`` (item attachments made by ``compose``, as
    ``new_part`` says); ``raw`` itself when it carries none."""
    holder = item.find(t("Attachments"))
    nodes = [c for c in holder if isinstance(c.tag, str)] if holder is not None else []
    if not nodes:
        return raw
    eol = _eol(raw)
    return add_parts(raw, parse_message(raw), [new_part(node, eol, compose) for node in nodes])
