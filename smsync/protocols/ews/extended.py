"""Extended properties (MS-OXWSXPROP): the MAPI properties a client names by
``<t:ExtendedFieldURI>`` and sets or reads as ``<t:ExtendedProperty>``.

A property is named by a PropertyTag (a tagged property below 0x8000), or by a property
set -- DistinguishedPropertySetId or PropertySetId -- with a PropertyName or a
PropertyId (a named property); its PropertyType says what its value is (String,
Integer, Boolean, SystemTime, Binary..., and the ...Array types of several values).
``Uri`` is one parsed name; ``Uri.key`` its canonical identity (a distinguished set is
its GUID, so ``PublicStrings`` and ``00020329-...`` name one property, as in Exchange).

A value is kept as one line of text, ``<type>:<value>[,<value>...]``, each value
checked and written canonically for its type (``encode``/``decode``; a Binary value in
base64, a SystemTime in UTC) and escaped as iCalendar TEXT is, so the line sits in a
vCard or iCalendar property unchanged. Where it is kept:

- contacts, events and tasks: in the stored item itself, as
  ``X-SMSYNC-EWS-XPROP;X-KEY=<key>:<type>:<values>`` (an event's on its master).
  CardDAV and CalDAV store what their clients send, and clients keep the X- properties
  they do not know; EAS and EWS edits merge into the stored item and keep every line
  they do not write. So the property travels with the item (``component_props``,
  ``set_in``);
- messages and folders: in the account's settings (``extended_store``), since a stored
  message is immutable bytes and a folder has nowhere else to keep them.

Only the properties a request names in AdditionalProperties are answered (``render``),
as Exchange does: AllProperties does not include them, and an item without one has no
``<t:ExtendedProperty>`` for it.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Optional
from urllib.parse import quote

import attrs
from lxml import etree

from smsync.formats.contentlines import Component, Property
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.soap import t, text

INVALID_EXTENDED = "ErrorInvalidExtendedProperty"
INVALID_VALUE = "ErrorInvalidExtendedPropertyValue"
TOO_LARGE = "ErrorDataSizeLimitExceeded"
CANNOT_SAVE = "ErrorItemSavePropertyError"

#: The vCard/iCalendar property holding one extended property of an item.
PROPERTY = "X-SMSYNC-EWS-XPROP"
KEY_PARAM = "X-KEY"
#: The longest stored line of one property (a client keeping files in properties
#: should use attachments).
MAX_VALUE = 32 * 1024

#: DistinguishedPropertySetId -> the property set's GUID (MS-OXPROPS 1.3.2).
DISTINGUISHED_SETS = {
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "Appointment": "00062002-0000-0000-c000-000000000046",
    "Common": "00062008-0000-0000-c000-000000000046",
    "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Address": "00062004-0000-0000-c000-000000000046",
    "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "Task": "00062003-0000-0000-c000-000000000046",
    "Sharing": "00062040-0000-0000-c000-000000000046",
}
#: The PropertyTypes a value may be set as (Null, Error, Object are never values).
SCALARS = ("ApplicationTime", "Binary", "Boolean", "CLSID", "Currency", "Double", "Float",
           "Integer", "Long", "Short", "SystemTime", "String")
TYPES = frozenset(SCALARS) | {f"{s}Array" for s in SCALARS}
_INTEGER_RANGES = {"Short": (-2 ** 15, 2 ** 16 - 1), "Integer": (-2 ** 31, 2 ** 32 - 1),
                   "Long": (-2 ** 63, 2 ** 64 - 1), "Currency": (-2 ** 63, 2 ** 63 - 1)}


@attrs.frozen
class Uri:
    """One ``<t:ExtendedFieldURI>``: a PropertyTag, or a property set (``set_id``, the
    GUID in lower case; ``distinguished``, the name the client used for it) with a
    PropertyName or PropertyId; and the PropertyType."""

    type: str
    tag: Optional[int] = None
    set_id: Optional[str] = None
    name: Optional[str] = None
    pid: Optional[int] = None
    distinguished: Optional[str] = attrs.field(default=None, eq=False)

    @property
    def key(self) -> str:
        """The property's identity, whatever way it was named (not its type), in
        characters a content line's parameter takes unquoted (``tag/0x1090``,
        ``id/<set>/32768``, ``name/<set>/<name percent-encoded>``)."""
        if self.tag is not None:
            return f"tag/0x{self.tag:04x}"
        if self.pid is not None:
            return f"id/{self.set_id}/{self.pid}"
        return f"name/{self.set_id}/{quote(self.name or '', safe='')}"

    def element(self):
        """The ``<t:ExtendedFieldURI>`` naming this property in an answer (tags in hex,
        ids in decimal, set GUIDs in lower case: the forms Exchange answers)."""
        node = etree.Element(t("ExtendedFieldURI"))
        if self.tag is not None:
            node.set("PropertyTag", f"0x{self.tag:x}")
        elif self.distinguished:
            node.set("DistinguishedPropertySetId", self.distinguished)
        else:
            node.set("PropertySetId", self.set_id or "")
        if self.name is not None:
            node.set("PropertyName", text(self.name))
        if self.pid is not None:
            node.set("PropertyId", str(self.pid))
        node.set("PropertyType", self.type)
        return node


def _number(value: str, what: str) -> int:
    value = value.strip()
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        raise EWSError(INVALID_EXTENDED, f"{what} {value[:20]!r} is not a number") from None


def parse_uri(node) -> Uri:
    """The property an ``<t:ExtendedFieldURI>`` names (``ErrorInvalidExtendedProperty``
    for a combination MS-OXWSXPROP does not allow)."""
    kind = (node.get("PropertyType") or "").strip()
    if kind not in TYPES:
        raise EWSError(INVALID_EXTENDED, f"PropertyType {kind[:30]!r} cannot be set or read")
    tag_text, set_text, dist = node.get("PropertyTag"), node.get("PropertySetId"), node.get("DistinguishedPropertySetId")
    name, pid_text = node.get("PropertyName"), node.get("PropertyId")
    if tag_text is not None:
        if set_text is not None or dist is not None or name is not None or pid_text is not None:
            raise EWSError(INVALID_EXTENDED, "a PropertyTag stands alone")
        tag = _number(tag_text, "PropertyTag")
        if not 0 <= tag <= 0xFFFF or 0x8000 <= tag <= 0xFFFE:
            raise EWSError(INVALID_EXTENDED, "a PropertyTag is below 0x8000 (named properties have a set)")
        return Uri(kind, tag=tag)
    if (set_text is None) == (dist is None):
        raise EWSError(INVALID_EXTENDED, "a named property has one property set")
    if (name is None) == (pid_text is None):
        raise EWSError(INVALID_EXTENDED, "a named property has a PropertyName or a PropertyId")
    if dist is not None:
        dist = dist.strip()
        if dist not in DISTINGUISHED_SETS:
            raise EWSError(INVALID_EXTENDED, f"DistinguishedPropertySetId {dist[:30]!r}")
        set_id = DISTINGUISHED_SETS[dist]
    else:
        try:
            set_id = str(uuid.UUID(set_text.strip()))
        except ValueError:
            raise EWSError(INVALID_EXTENDED, "PropertySetId is not a GUID") from None
    if name is not None:
        if not name or len(name) > 255:
            raise EWSError(INVALID_EXTENDED, "a PropertyName is 1 to 255 characters")
        return Uri(kind, set_id=set_id, name=name, distinguished=dist)
    pid = _number(pid_text, "PropertyId")
    if not 0 <= pid <= 0xFFFFFFFF:
        raise EWSError(INVALID_EXTENDED, "PropertyId out of range")
    return Uri(kind, set_id=set_id, pid=pid, distinguished=dist)


# -- values ----------------------------------------------------------------------------


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
            .replace(",", "\\,").replace(";", "\\;"))


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "N": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _split(value: str) -> list[str]:
    out, start, i = [], 0, 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == ",":
            out.append(value[start:i])
            start = i + 1
        i += 1
    out.append(value[start:])
    return out


def check(kind: str, value: str) -> str:
    """One value of the scalar type ``kind`` as it is kept and answered
    (``ErrorInvalidExtendedPropertyValue`` for one that is not of the type)."""

    def bad():
        return EWSError(INVALID_VALUE, f"{value[:40]!r} is not a {kind}")

    if kind == "String":
        return value
    stripped = value.strip()
    if kind == "Boolean":
        if stripped.lower() not in ("true", "false", "1", "0"):
            raise bad()
        return "true" if stripped.lower() in ("true", "1") else "false"
    if kind in _INTEGER_RANGES:
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", stripped):
            raise bad()
        low, high = _INTEGER_RANGES[kind]
        if not low <= int(stripped) <= high:
            raise bad()
        return str(int(stripped))
    if kind in ("Double", "Float", "ApplicationTime"):
        try:
            number = Decimal(stripped)
        except InvalidOperation:
            raise bad() from None
        if not number.is_finite() and stripped not in ("INF", "-INF", "NaN"):
            raise bad()
        return stripped
    if kind == "SystemTime":
        try:
            when = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            raise bad() from None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "Binary":
        try:
            raw = base64.b64decode("".join(stripped.split()), validate=True)
        except (binascii.Error, ValueError):
            raise bad() from None
        return base64.b64encode(raw).decode("ascii")
    if kind == "CLSID":
        try:
            return str(uuid.UUID(stripped))
        except ValueError:
            raise bad() from None
    raise EWSError(INVALID_EXTENDED, f"PropertyType {kind[:30]!r}")


def encode(kind: str, values: list) -> str:
    """The stored text of ``values`` (one for a scalar type) of type ``kind``, each
    checked; the inverse of ``decode``."""
    scalar = kind[:-5] if kind.endswith("Array") else kind
    if kind not in TYPES:
        raise EWSError(INVALID_EXTENDED, f"PropertyType {kind[:30]!r}")
    if (len(values) != 1) if scalar == kind else not values:
        raise EWSError(INVALID_VALUE, f"a {kind} has {'one value' if scalar == kind else 'values'}")
    stored = f"{kind}:" + ",".join(_escape(check(scalar, v)) for v in values)
    if len(stored) > MAX_VALUE:
        raise EWSError(TOO_LARGE, "an extended property's value is too large")
    return stored


def decode(stored: str) -> tuple[str, list[str]]:
    """``(type, values)`` of a stored text (``ValueError`` if it is not one)."""
    kind, sep, rest = stored.partition(":")
    if not sep or kind not in TYPES:
        raise ValueError("not a stored extended property")
    if not kind.endswith("Array"):
        return kind, [_unescape(rest)]
    return kind, [_unescape(v) for v in _split(rest)]


def read_value(prop_node, kind: str) -> str:
    """The stored text of an ``<t:ExtendedProperty>``'s Value or Values."""
    array = kind.endswith("Array")
    if array:
        holder = prop_node.find(t("Values"))
        if holder is None or prop_node.find(t("Value")) is not None:
            raise EWSError(INVALID_VALUE, f"a {kind} is sent as Values")
        values = [v.text or "" for v in holder.findall(t("Value"))]
    else:
        node = prop_node.find(t("Value"))
        if node is None or prop_node.find(t("Values")) is not None:
            raise EWSError(INVALID_VALUE, f"a {kind} is sent as one Value")
        values = [node.text or ""]
    return encode(kind, values)


# -- requests --------------------------------------------------------------------------


def read_props(node) -> dict:
    """``{key: (uri, stored text)}`` of the ``<t:ExtendedProperty>`` children of an
    item or folder element (CreateItem, CreateFolder)."""
    out: dict = {}
    for prop in node.findall(t("ExtendedProperty")):
        uri_node = prop.find(t("ExtendedFieldURI"))
        if uri_node is None:
            raise EWSError(INVALID_EXTENDED, "an ExtendedProperty without its ExtendedFieldURI")
        uri = parse_uri(uri_node)
        out[uri.key] = (uri, read_value(prop, uri.type))
    return out


def split_updates(updates) -> tuple[dict, list]:
    """``({key: stored text, or None to delete}, the other updates)`` of an UpdateItem's
    or UpdateFolder's ``<t:Updates>``: the changes naming an ExtendedFieldURI, and the
    rest for the field handlers."""
    changes: dict = {}
    rest = []
    for update in (updates if updates is not None else ()):
        if not isinstance(update.tag, str):
            continue
        uri_node = next((c for c in update if c.tag == t("ExtendedFieldURI")), None)
        if uri_node is None:
            rest.append(update)
            continue
        uri = parse_uri(uri_node)
        action = update.tag.rpartition("}")[2]
        if action.startswith("Delete"):
            changes[uri.key] = None
            continue
        if action.startswith("Append"):
            raise EWSError("ErrorInvalidPropertyAppend", "extended properties are set, not appended to")
        holders = [c for c in update if isinstance(c.tag, str) and c.tag != t("ExtendedFieldURI")]
        found = None
        for holder in holders:
            for prop in holder.findall(t("ExtendedProperty")):
                inner = prop.find(t("ExtendedFieldURI"))
                if inner is not None and parse_uri(inner).key == uri.key:
                    found = prop
        if found is None:
            raise EWSError(INVALID_EXTENDED, "a SetItemField of an extended property carries it")
        changes[uri.key] = read_value(found, uri.type)
    return changes, rest


# -- answers ---------------------------------------------------------------------------

#: The elements of ItemType and BaseFolderType that come before ExtendedProperty
#: (MS-OXWSCORE 2.2.4.24, MS-OXWSFOLD 2.2.4.4); a subtype's own elements come after.
_BEFORE = frozenset({
    "MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body",
    "Attachments", "DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo",
    "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "InternetMessageHeaders",
    "DateTimeSent", "DateTimeCreated", "ResponseObjects", "ReminderDueBy", "ReminderIsSet",
    "ReminderNextTime", "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo", "HasAttachments",
    "FolderId", "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount", "ExtendedProperty",
})


def property_element(uri: Uri, stored: str):
    """The ``<t:ExtendedProperty>`` of ``uri`` with the stored value (None if the value
    is kept as another type than the one asked for: Exchange answers nothing then)."""
    try:
        kind, values = decode(stored)
    except ValueError:
        return None
    if kind != uri.type:
        return None
    node = etree.Element(t("ExtendedProperty"))
    node.append(uri.element())
    if kind.endswith("Array"):
        holder = etree.SubElement(node, t("Values"))
        for value in values:
            etree.SubElement(holder, t("Value")).text = text(value)
    else:
        etree.SubElement(node, t("Value")).text = text(values[0])
    return node


def render(node, stored: dict, shape) -> None:
    """Add to an item's or folder's element the properties ``shape`` asks for that
    ``stored`` (key -> stored text) holds, where the schema puts them."""
    wanted = getattr(shape, "extended", ())
    if not wanted:
        return
    made = [e for e in (property_element(uri, stored[uri.key]) for uri in wanted if uri.key in stored)
            if e is not None]
    if not made:
        return
    position = 0
    for index, child in enumerate(node):
        if isinstance(child.tag, str) and child.tag.rpartition("}")[2] in _BEFORE:
            position = index + 1
    for offset, element in enumerate(made):
        node.insert(position + offset, element)


# -- contacts, events, tasks: kept in the item -----------------------------------------


def component_props(component: Component) -> dict:
    """``{key: stored text}`` of the properties kept in a VCARD, VEVENT or VTODO."""
    out = {}
    for prop in component.get_all(PROPERTY):
        key = prop.param(KEY_PARAM)
        if key:
            out[key] = prop.value
    return out


def set_in(component: Component, changes: dict) -> None:
    """Write ``changes`` (key -> stored text, None to delete) into a component."""
    for key, stored in changes.items():
        component.properties = [p for p in component.properties
                                if not (p.name == PROPERTY and p.param(KEY_PARAM) == key)]
        if stored is not None:
            component.properties.append(Property(PROPERTY, stored, [(KEY_PARAM, [key])]))


def render_component(node, component: Component, shape) -> None:
    """``render`` the properties kept in ``component`` (nothing read unless asked)."""
    if getattr(shape, "extended", ()):
        render(node, component_props(component), shape)


def stamp(content: bytes, node, component: str) -> bytes:
    """A new item's stored ``content`` with the ExtendedProperty children of its EWS
    element ``node`` written into its ``component`` (VCARD, VEVENT, VTODO)."""
    from smsync.formats.contentlines import parse_components, serialize

    props = read_props(node)
    if not props:
        return content
    root = parse_components(content)[0]
    target = root if root.name == component else next(c for c in root.components if c.name == component)
    set_in(target, {key: stored for key, (_uri, stored) in props.items()})
    return serialize(root)
