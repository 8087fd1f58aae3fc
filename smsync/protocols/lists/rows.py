"""List items as ``<z:row>`` elements: the common fields every item has (ID,
owshiddenversion, UniqueId, FileRef...) and what the type's converter makes of the
stored item, filtered by the request's ViewFields, dates written as it asks."""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from typing import Iterable, Optional

from lxml import etree

from smsync.protocols.lists.soap import DT, RS, SP, S, Z, clean, sp

ROWSET_NSMAP = {"s": S, "dt": DT, "rs": RS, "z": Z}
#: Fields every row carries whatever the ViewFields: Outlook keys its copy by them.
ALWAYS = ("ID", "owshiddenversion", "UniqueId", "FileRef", "ContentTypeId")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: Field names already found to be attribute-safe (the converters' few dozen).
_GOOD_NAMES: set = set()
_ROW = f"{{{Z}}}row"
_Z_NSMAP = {"z": Z}
_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})Z$")
#: The rights a row says the caller has (PermMask): full control of its own lists.
FULL_MASK = "0x7fffffffffffffff"


def view_fields(element) -> Optional[frozenset]:
    """The field names a ``<viewFields>`` parameter asks for; None for all (absent,
    or naming none)."""
    if element is None:
        return None
    names = {ref.get("Name") for ref in element.iter("{*}FieldRef", "FieldRef") if ref.get("Name")}
    return frozenset(names) if names else None


def sp_date(value: str) -> str:
    """``2026-12-06T15:00:00Z`` as ``2026-12-06 15:00:00`` (SharePoint's form without
    DateInUtc, the site's time zone being UTC); other text as it is."""
    match = _ISO_UTC.match(value)
    return f"{match.group(1)} {match.group(2)}" if match else value


def _uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without building the UUID (a full sync
    names every row by one)."""
    digest = bytearray(hashlib.sha1(namespace.bytes + bytes(name, "utf-8")).digest()[:16])
    # What UUID(bytes=..., version=5) sets: the RFC 4122 variant, then the version.
    digest[8] = (digest[8] & 0x3F) | 0x80
    digest[6] = (digest[6] & 0x0F) | 0x50
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def common_fields(item_id: int, version: int, list_guid: uuid.UUID, key: str, list_path: str,
                  content_type_id: str, content_type: str, account: str) -> dict:
    """The fields of the common schema a row has whatever its type (``key``: the row's
    key, whose UniqueId it is)."""
    unique = "{" + _uuid5_text(list_guid, key).upper() + "}"
    return {
        "ID": str(item_id),
        "owshiddenversion": str(version),
        "UniqueId": f"{item_id};#{unique}",
        "FileRef": f"{item_id};#{list_path}/{item_id}_.000",
        "FileDirRef": f"{item_id};#{list_path}",
        "ContentTypeId": content_type_id,
        "ContentType": content_type,
        "PermMask": FULL_MASK,
        "MetaInfo": f"{item_id};#",
        "Attachments": "0",
        "Author": f"1;#{account}",
        "Editor": f"1;#{account}",
    }


def row(fields: dict, wanted: Optional[frozenset], dates: frozenset, date_in_utc: bool):
    """A ``<z:row>`` of ``fields`` (name -> text): only ``wanted`` ones (and
    ``ALWAYS``) when given; DateTime fields (``dates``) in SharePoint's local form unless
    ``date_in_utc``. An empty field is left out, as SharePoint leaves out a field without
    a value."""
    attributes = {}
    # The names kept, in the row's order, picked in one pass (a full sync makes tens
    # of thousands of rows of some 35 fields, of which Outlook asks for a few).
    if wanted is None:
        names = fields
    else:
        kept = _kept(wanted)
        names = [name for name in fields if name in kept]
    for name in names:
        value = fields[name]
        if not value:
            continue
        if name not in _GOOD_NAMES:
            if not _NAME.match(name):
                continue
            _GOOD_NAMES.add(name)
        text = clean(value)
        if name in dates and not date_in_utc:
            text = sp_date(text)
        attributes[f"ows_{name}"] = text
    return etree.Element(_ROW, attributes, nsmap=_Z_NSMAP)


@functools.lru_cache(maxsize=64)
def _kept(wanted: frozenset) -> frozenset:
    return wanted | frozenset(ALWAYS)


def listitems(rows: Iterable, position: Optional[str] = None, before: Iterable = ()):
    """``<listitems>`` (ADO rowset namespaces) holding ``before`` (a ``<Changes>``) and
    ``<rs:data ItemCount= [ListItemCollectionPositionNext=]>`` of ``rows``."""
    root = etree.Element(sp("listitems"), nsmap={None: SP, **ROWSET_NSMAP})
    for element in before:
        root.append(element)
    data = etree.SubElement(root, f"{{{RS}}}data")
    rows = list(rows)
    data.set("ItemCount", str(len(rows)))
    if position:
        data.set("ListItemCollectionPositionNext", position)
    for r in rows:
        data.append(r)
    return root
