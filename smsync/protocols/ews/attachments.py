"""A stored message's attachments as EWS FileAttachments: which parts are attachments
(what a mail client shows with a paper clip), their ids, and their content, decoded from
the stored bytes on demand. Pure functions over the message's structure."""

from __future__ import annotations

import base64
from typing import Iterator, Optional

from lxml import etree

from smsync.formats.bodytext import decode_transfer
from smsync.formats.structure import BodyPart
from smsync.protocols.ews import ids
from smsync.protocols.ews.soap import t, text


def is_attachment(part: BodyPart, is_root: bool) -> bool:
    """Declared attachments, named files not shown inline, and binary parts that are not
    inline resources of multipart/related (the rule IMAP's has-attachment keeps)."""
    if part.children or part.disposition == "inline":
        return False
    if part.disposition == "attachment":
        return True
    if is_root:
        return False
    if part.filename is not None:
        return True
    return part.type not in ("text", "multipart") and part.id is None


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
        return f"message-{path}.eml"
    return f"attachment-{path}"


def listing(ref: ids.ItemRef, root: BodyPart):
    """``<t:Attachments>`` naming every attachment of the message (None when none)."""
    found = list(parts(root))
    if not found:
        return None
    holder = etree.Element(t("Attachments"))
    for path, part in found:
        holder.append(file_attachment(ref, path, part))
    return holder


def file_attachment(ref: ids.ItemRef, path: str, part: BodyPart, raw: Optional[bytes] = None):
    """A ``<t:FileAttachment>``; with ``raw`` (the part's body as stored) its Content."""
    node = etree.Element(t("FileAttachment"))
    etree.SubElement(node, t("AttachmentId"), Id=ids.attachment_id(ref, path))
    etree.SubElement(node, t("Name")).text = text(_name(part, path))
    etree.SubElement(node, t("ContentType")).text = part.mime_type
    if part.id:
        etree.SubElement(node, t("ContentId")).text = text(part.id.strip("<>"))
    etree.SubElement(node, t("Size")).text = str(part.size)
    etree.SubElement(node, t("IsInline")).text = "false"
    if raw is not None:
        etree.SubElement(node, t("IsContactPhoto")).text = "false"
        etree.SubElement(node, t("Content")).text = base64.b64encode(
            decode_transfer(raw, part.encoding)).decode("ascii")
    return node
