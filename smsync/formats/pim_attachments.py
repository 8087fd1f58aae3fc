"""File attachments kept inside a stored iCalendar object or vCard, as every protocol
that shows attachments of events, tasks and contacts reads and writes them.

- An event's or task's attachment is an inline binary ``ATTACH`` of its master
  component: ``ATTACH;FMTTYPE=...;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=...`` (RFC
  5545 3.8.1.1; the file name in ``X-FILENAME`` as Evolution and Outlook's iCalendar
  export write it, ``FILENAME`` read too). An ``ATTACH`` by URI is not a file here and
  is left as it is.
- A contact's only attachment is its photo (``PHOTO``, vCard 3 ``ENCODING=b;TYPE=...``
  or a vCard 4 ``data:`` URI), named by its ``X-FILENAME`` when it has one, else
  ``ContactPicture.jpg`` (Exchange's name): a vCard has no place for other files.

Pure functions over a parsed ``Component`` (``contentlines``); ``has_files`` answers
from the bytes alone, for listings that must not parse every item.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Optional

from smsync.formats.contentlines import Component, Property

PHOTO_NAME = "ContactPicture.jpg"
KINDS = ("VEVENT", "VTODO", "VJOURNAL")
_FAST = re.compile(rb"^(?:ATTACH[;:][^\r\n]*(?:BINARY|BASE64)|(?:[A-Za-z0-9-]+\.)?PHOTO[;:])",
                   re.MULTILINE | re.IGNORECASE)
_MIME = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def has_files(content: bytes) -> bool:
    """Whether ``content`` may hold an inline attachment or a photo: a quick look at
    the bytes for listings of thousands of items (a plain substring test first, which
    most items fail). A false yes is possible (a folded parameter); a false no only
    for a property name written in mixed case (``Photo``), which no client writes."""
    if not (b"ATTACH" in content or b"PHOTO" in content or b"attach" in content or b"photo" in content):
        return False
    return _FAST.search(content) is not None


def holder_of(root: Component) -> Optional[Component]:
    """The component attachments belong to: a vCard itself, or the master (first
    without RECURRENCE-ID) event, task or note of a calendar object."""
    if root.name == "VCARD":
        return root
    masters = [c for c in root.components if c.name in KINDS and c.get("RECURRENCE-ID") is None]
    return masters[0] if masters else next((c for c in root.components if c.name in KINDS), None)


def is_file(prop: Property) -> bool:
    if prop.name == "PHOTO":
        return (prop.param("ENCODING") or "").lower() in ("b", "base64") or prop.value.startswith("data:")
    return prop.name == "ATTACH" and ((prop.param("VALUE") or "").upper() == "BINARY"
                                      or (prop.param("ENCODING") or "").upper() == "BASE64")


def files(component: Component) -> list[Property]:
    """The file attachments of ``component`` (a ``holder_of``), in order."""
    return [p for p in component.properties if p.name in ("ATTACH", "PHOTO") and is_file(p)]


def name_of(prop: Property) -> str:
    found = prop.param("X-FILENAME") or prop.param("FILENAME")
    if found:
        return found
    return PHOTO_NAME if prop.name == "PHOTO" else "attachment"


def content_type(prop: Property) -> str:
    if prop.name == "PHOTO":
        if prop.value.startswith("data:"):
            return prop.value[5:].split(";", 1)[0].split(",", 1)[0] or "image/jpeg"
        kind = (prop.param("TYPE") or "jpeg").lower()
        return kind if "/" in kind else f"image/{kind}"
    return prop.param("FMTTYPE") or "application/octet-stream"


def content(prop: Property) -> bytes:
    """The attachment's bytes (empty when its base64 is damaged)."""
    value = prop.value.split(",", 1)[1] if prop.value.startswith("data:") else prop.value
    try:
        return base64.b64decode("".join(value.split()), validate=False)
    except (binascii.Error, ValueError):
        return b""


def find_named(component: Component, name: str) -> Optional[Property]:
    """The file attachment called ``name`` (compared ignoring case, as URLs of a
    SharePoint site are)."""
    lowered = name.lower()
    return next((p for p in files(component) if name_of(p).lower() == lowered), None)


def clean_type(kind: str) -> str:
    kind = (kind or "").split(";", 1)[0].strip().lower()
    return kind if _MIME.fullmatch(kind) else "application/octet-stream"


def file_property(name: str, kind: str, data: bytes) -> Property:
    """An event's or task's ``ATTACH`` of ``data``."""
    return Property("ATTACH", base64.b64encode(data).decode("ascii"),
                    [("FMTTYPE", [clean_type(kind)]), ("ENCODING", ["BASE64"]), ("VALUE", ["BINARY"]),
                     ("X-FILENAME", [name])])


def photo_property(card: Component, kind: str, data: bytes, name: Optional[str] = None) -> Property:
    """A contact's ``PHOTO`` of ``data`` in the card's vCard version."""
    kind = clean_type(kind)
    value = base64.b64encode(data).decode("ascii")
    extra = [("X-FILENAME", [name])] if name and name != PHOTO_NAME else []
    if (card.value("VERSION") or "").strip() == "4.0":
        return Property("PHOTO", f"data:{kind if kind.startswith('image/') else 'image/jpeg'};base64,{value}", extra)
    subtype = kind.partition("/")[2].upper() if kind.startswith("image/") else "JPEG"
    return Property("PHOTO", value, [("ENCODING", ["b"]), ("TYPE", [subtype])] + extra)


def put_file(root: Component, name: str, kind: str, data: bytes) -> Property:
    """Attach ``data`` as ``name`` to the item ``root`` (a contact: as its photo,
    replacing the one it had); the property added. ``ValueError`` when the item holds
    nothing to attach to."""
    component = holder_of(root)
    if component is None:
        raise ValueError("the item holds nothing to attach to")
    if component.name == "VCARD":
        prop = photo_property(component, kind, data, name)
        component.properties = [p for p in component.properties if p.name != "PHOTO"]
    else:
        prop = file_property(name, kind, data)
    component.properties.append(prop)
    return prop


def remove(root: Component, prop: Property) -> bool:
    """Take ``prop`` out of ``root``'s holder; whether it was there."""
    component = holder_of(root)
    if component is None or not any(p is prop for p in component.properties):
        return False
    component.properties = [p for p in component.properties if p is not prop]
    return True
