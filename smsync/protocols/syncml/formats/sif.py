"""Funambol's SIF (Sync4j Interchange Format): flat XML of Outlook's item fields, which
Funambol's Outlook client sends by default (``<contact>``, ``<appointment>``,
``<task>``, ``<note>`` with a ``<SIFVersion>``).

``read`` gives the fields of an item as an ordered dict of tag -> text (nested elements
such as ``<Exceptions>`` as lists of (tag, text-or-list) pairs); ``write`` makes the XML back.
Items may come base64-encoded (the client's "b64" encoding): that is undone. A field a
converter has no property for is kept as ``X-SIF-<TAG>`` (``extra_property``,
``extra_fields``), so it comes back the way it went.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Iterable, Optional, Union

from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, escape_text, split_raw, unescape_text
from smsync.protocols.syncml.formats.support import as_bytes

SIF_VERSION = "1.1"
EXTRA = "X-SIF-"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                          remove_pis=True, huge_tree=False)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Fields = dict[str, Union[str, list]]


def read(data: bytes, root: str) -> Fields:
    """The fields of a SIF item whose root element is ``root``. Empty fields are left
    out. ``InvalidData`` for anything that is not such an item."""
    raw = as_bytes(data).strip()
    if raw and not raw.startswith(b"<") and not raw.startswith(b"\xef\xbb\xbf"):
        try:
            raw = base64.b64decode(b"".join(raw.split()), validate=True).strip()
        except (binascii.Error, ValueError):
            raise InvalidData(f"a SIF {root} is XML") from None
    if b"<!DOCTYPE" in raw[:1024].upper():
        raise InvalidData(f"a SIF {root} has no DTD")  # and so no entities to expand
    try:
        tree = etree.fromstring(raw, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise InvalidData(f"a SIF {root} is XML: {e}"[:200]) from None
    if etree.QName(tree).localname != root:
        raise InvalidData(f"expected a SIF <{root}>, not <{etree.QName(tree).localname}>")
    fields: Fields = {}
    for child in tree:
        if not isinstance(child.tag, str):
            continue
        tag = etree.QName(child).localname
        if len(child):
            fields[tag] = _nested(child)
        elif child.text is not None and child.text.strip():
            fields[tag] = child.text.replace("\r\n", "\n").replace("\r", "\n")
    return fields


def _nested(element) -> list:
    out = []
    for c in element:
        if isinstance(c.tag, str):
            out.append((etree.QName(c).localname, _nested(c) if len(c) else (c.text or "").strip()))
    return out


def _fill(parent, items: list) -> None:
    for sub, value in items:
        el = etree.SubElement(parent, sub)
        if isinstance(value, list):
            _fill(el, value)
        else:
            el.text = _XML_BAD.sub("", value)


def write(root: str, fields: Iterable[tuple[str, Union[str, list]]]) -> bytes:
    """A SIF item: ``root`` with ``SIFVersion`` and the fields in order (a list value is
    a nested element of (tag, value) pairs, values again text or lists); None values
    are left out."""
    top = etree.Element(root)
    etree.SubElement(top, "SIFVersion").text = SIF_VERSION
    for tag, value in fields:
        if value is None:
            continue
        el = etree.SubElement(top, tag)
        if isinstance(value, list):
            _fill(el, value)
        else:
            el.text = _XML_BAD.sub("", value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n"))
    return etree.tostring(top, xml_declaration=True, encoding="UTF-8")


def text(fields: Fields, tag: str) -> Optional[str]:
    value = fields.get(tag)
    return value.strip() if isinstance(value, str) and value.strip() else None


def body(fields: Fields, tag: str) -> Optional[str]:
    """A multi-line field as sent (only surrounding line breaks dropped)."""
    value = fields.get(tag)
    return value.strip("\n") if isinstance(value, str) and value.strip() else None


def flag(fields: Fields, tag: str) -> bool:
    return (text(fields, tag) or "").lower() in ("1", "true", "yes")


def categories(value: Optional[str]) -> Optional[str]:
    """SIF Categories (``A, B`` or ``A;B``) as a CATEGORIES value."""
    if not value:
        return None
    items = [v.strip() for v in re.split(r"[;,]", value) if v.strip()]
    return ",".join(escape_text(v) for v in items) or None


def categories_field(comp: Component) -> Optional[str]:
    items = [unescape_text(v).strip() for p in comp.get_all("CATEGORIES") for v in split_raw(p.value, ",")]
    return ", ".join(v for v in items if v) or None


def extra_property(tag: str, value: str) -> Property:
    """A SIF field no converter maps, as a property that gives it back."""
    name = EXTRA + re.sub(r"[^A-Za-z0-9-]", "-", tag).upper()
    return Property(name, escape_text(value), [("X-TAG", [tag])])


def extra_fields(comp: Component) -> list[tuple[str, str]]:
    """The SIF fields kept in ``X-SIF-`` properties of ``comp``."""
    out = []
    for prop in comp.properties:
        if prop.name.startswith(EXTRA):
            tag = prop.param("X-TAG") or prop.name[len(EXTRA):].title().replace("-", "")
            out.append((tag, unescape_text(prop.value)))
    return out


_SENSITIVITY = {"0": None, "1": "X-PERSONAL", "2": "PRIVATE", "3": "CONFIDENTIAL"}


def sensitivity_class(value: Optional[str]) -> Optional[str]:
    """Outlook's Sensitivity (0 normal, 1 personal, 2 private, 3 confidential) as CLASS."""
    return _SENSITIVITY.get((value or "0").strip())


def class_sensitivity(comp: Component) -> str:
    value = (comp.value("CLASS") or "").strip().upper()
    return {"X-PERSONAL": "1", "PRIVATE": "2", "CONFIDENTIAL": "3"}.get(value, "0")
