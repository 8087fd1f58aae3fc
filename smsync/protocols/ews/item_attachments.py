"""Attachments of calendar items, tasks and notes, and a contact's photo, as EWS
FileAttachments: kept in the stored iCalendar or vCard item every protocol serves.

- An event's, task's or note's attachment is an inline binary ``ATTACH`` of its master
  component (RFC 5545 3.8.1.1: ``ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=...``,
  with the file name in ``X-FILENAME``, which Evolution and Outlook's iCalendar export
  write; a ``FILENAME`` parameter is read too). ``ATTACH``es by URI (links, CalDAV
  managed attachments) are left as they are and not listed.
- A contact's attachment is its photo (``PHOTO``, vCard 3 ``ENCODING=b;TYPE=JPEG`` or a
  vCard 4 ``data:`` URI), shown as ContactPicture.jpg with IsContactPhoto true, as
  Exchange shows one; a vCard has no place for other files, so those are refused.

An attachment's id names the item (account, collection, item name) and the attachment
by ``i`` and a digest of its property (``ids.attachment_id``): stable while it is there,
and an attachment removed or replaced since is not found, never another one. Pure
functions over the parsed component.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

from lxml import etree

from smsync.formats.contentlines import Component, Property
# The stored form is the core's: one reading of it for every protocol.
from smsync.formats.pim_attachments import (  # noqa: F401
    PHOTO_NAME, clean_type, content, content_type, holder_of, is_file,
)
from smsync.protocols.ews import ids
from smsync.protocols.ews.attachments import content_of
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.soap import t, text, xs_bool


def _path(prop: Property) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for piece in (prop.name, name_of(prop), content_type(prop), prop.value):
        digest.update(piece.encode("utf-8", "surrogatepass") + b"\0")
    return "i" + digest.hexdigest()


def attached(component: Component) -> list[tuple[str, Property]]:
    """``(path, property)`` of every attachment of ``component`` (``holder_of``)."""
    name = "PHOTO" if component.name == "VCARD" else "ATTACH"
    return [(_path(p), p) for p in component.properties if p.name == name and is_file(p)]


def find(component: Component, path: str) -> Optional[Property]:
    return next((p for found, p in attached(component) if found == path), None)


def name_of(prop: Property) -> str:
    if prop.name == "PHOTO":
        return PHOTO_NAME
    return prop.param("X-FILENAME") or prop.param("FILENAME") or "attachment"


def file_attachment(ref: ids.ItemRef, path: str, prop: Property, with_content: bool = False):
    """A ``<t:FileAttachment>`` of attachment ``path`` of item ``ref``."""
    node = etree.Element(t("FileAttachment"))
    etree.SubElement(node, t("AttachmentId"), Id=ids.attachment_id(ref, path))
    etree.SubElement(node, t("Name")).text = text(name_of(prop))
    etree.SubElement(node, t("ContentType")).text = text(content_type(prop))
    data = content(prop)
    etree.SubElement(node, t("Size")).text = str(len(data))
    etree.SubElement(node, t("IsInline")).text = "false"
    etree.SubElement(node, t("IsContactPhoto")).text = "true" if prop.name == "PHOTO" else "false"
    if with_content:
        etree.SubElement(node, t("Content")).text = base64.b64encode(data).decode("ascii")
    return node


#: ItemType's sequence up to HasAttachments: what comes before ``<t:Attachments>``,
#: then what comes before HasAttachments.
_BEFORE = ("MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body")
_BEFORE_HAS = _BEFORE + ("Attachments", "DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo",
                         "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified",
                         "InternetMessageHeaders", "DateTimeSent", "DateTimeCreated", "ResponseObjects",
                         "ReminderDueBy", "ReminderIsSet", "ReminderNextTime", "ReminderMinutesBeforeStart",
                         "DisplayCc", "DisplayTo")


def _local(child) -> str:
    return child.tag.rpartition("}")[2] if isinstance(child.tag, str) else ""


def render(node, ref: ids.ItemRef, root: Component, wants) -> None:
    """Add to a rendered item its ``<t:Attachments>`` and HasAttachments, as
    ``wants(uri)`` asks, where the schema orders them among what is there; ``ref``
    names the stored item (not an occurrence), ``root`` is its parsed content."""
    component = holder_of(root)
    found = attached(component) if component is not None else []
    if found and wants("item:Attachments"):
        holder = etree.Element(t("Attachments"))
        for path, prop in found:
            holder.append(file_attachment(ref, path, prop))
        _place(node, holder, _BEFORE)
    if found and wants("item:HasAttachments"):
        # (Only when true: an item without attachments shows what it did before.)
        has = etree.Element(t("HasAttachments"))
        has.text = "true"
        _place(node, has, _BEFORE_HAS)


def _place(node, element, before: tuple) -> None:
    """Insert ``element`` after the last child of ``node`` named in ``before``."""
    anchor = None
    for child in node:
        if _local(child) in before:
            anchor = child
    if anchor is not None:
        anchor.addnext(element)
    else:
        node.insert(0, element)


def add(root: Component, node) -> str:
    """Add the ``<t:FileAttachment>`` ``node`` to the item ``root``; its path.
    ``EWSError`` for an ItemAttachment, content that is not base64, or a contact's
    attachment that is not its photo."""
    if node.tag != t("FileAttachment"):
        raise EWSError("ErrorInvalidOperation", "only file attachments are added to calendar items and contacts")
    component = holder_of(root)
    if component is None:
        raise EWSError("ErrorInvalidOperation", "the item holds nothing to attach to")
    data = content_of(node)
    name = (node.findtext(t("Name")) or "").replace("\r", " ").replace("\n", " ").strip()[:255] or "attachment"
    kind = clean_type(node.findtext(t("ContentType")) or "")
    value = base64.b64encode(data).decode("ascii")
    if component.name == "VCARD":
        if not (xs_bool(node.findtext(t("IsContactPhoto"))) or name == PHOTO_NAME):
            raise EWSError("ErrorInvalidOperation", "a contact keeps only its photo (IsContactPhoto)")
        component.properties = [p for p in component.properties if p.name != "PHOTO"]
        if (component.value("VERSION") or "").strip() == "4.0":
            prop = Property("PHOTO", f"data:{kind if kind.startswith('image/') else 'image/jpeg'};base64,{value}")
        else:
            subtype = kind.partition("/")[2].upper() if kind.startswith("image/") else "JPEG"
            prop = Property("PHOTO", value, [("ENCODING", ["b"]), ("TYPE", [subtype])])
    else:
        prop = Property("ATTACH", value, [("FMTTYPE", [kind]), ("ENCODING", ["BASE64"]), ("VALUE", ["BINARY"]),
                                          ("X-FILENAME", [name])])
    component.properties.append(prop)
    return _path(prop)


def remove(root: Component, path: str) -> bool:
    """Take attachment ``path`` out of ``root``; whether it was there."""
    component = holder_of(root)
    prop = find(component, path) if component is not None else None
    if prop is None:
        return False
    component.properties = [p for p in component.properties if p is not prop]
    return True
