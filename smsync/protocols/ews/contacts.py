"""EWS Contacts (``<t:Contact>``) <-> the vCard a store keeps, converted at the edge.

Each EWS field lives in one vCard property: DisplayName and FileAs in FN, the names in
N (Surname;GivenName;MiddleName), CompanyName and Department in ORG, JobTitle in TITLE,
the three EmailAddresses in the first three EMAIL, each phone key in the first TEL of
its type, Birthday in BDAY, the body in NOTE. An update (``apply``) rewrites only the
properties of the fields it sets or deletes and keeps every other line of the card as
it was -- the fourth address, photos, X- properties, groups -- so what EWS cannot carry
survives an EWS edit. Extended properties are kept in the card too (``extended``).
"""

from __future__ import annotations

import re
import uuid
from typing import Optional

from lxml import etree

from smsync.formats.contentlines import Component, Property, parse_components, serialize, unescape_text
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import INVALID_PROPERTY_SET, EWSError
from smsync.protocols.ews.extended import render_component
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews import item_attachments
from smsync.protocols.ews.item_elements import item_element
from smsync.protocols.ews.soap import t, text

#: EWS phone keys -> the vCard TEL types that hold them (first match wins).
PHONES = {
    "MobilePhone": {"cell"}, "BusinessPhone": {"work"}, "HomePhone": {"home"},
    "BusinessFax": {"work", "fax"}, "HomeFax": {"home", "fax"}, "Pager": {"pager"},
    "CarPhone": {"car"}, "OtherTelephone": set(),
}
EMAIL_KEYS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
DEFAULT_FIELDS = frozenset({"contacts:DisplayName", "contacts:GivenName", "contacts:Surname",
                            "contacts:CompanyName", "contacts:EmailAddresses",
                            "contacts:PhoneNumbers", "item:Subject", "contacts:FileAs",
                            "contacts:JobTitle", "item:ItemClass", "item:ParentFolderId"})


def escape_text(value: str) -> str:
    """``value`` as vCard/iCalendar TEXT (backslash, newline, comma and semicolon escaped)."""
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,")
            .replace(";", "\\;"))


def _split(value: str) -> list[str]:
    """The components of a structured value (N, ORG, ADR), unescaped."""
    parts, current, i = [], [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if c == ";":
            parts.append(unescape_text("".join(current)))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append(unescape_text("".join(current)))
    return parts


def _types(prop: Property) -> set[str]:
    return {v.strip().lower() for value in prop.param_values("TYPE") for v in value.split(",") if v.strip()}


def load(content: bytes) -> Component:
    cards = [c for c in parse_components(content) if c.name == "VCARD"]
    if not cards:
        raise EWSError("ErrorItemCorrupt", "the stored item is not a vCard")
    return cards[0]


def _phone_key(prop: Property) -> str:
    found = _types(prop)
    for key, wanted in PHONES.items():
        if wanted and wanted <= found and ("fax" in found) == ("fax" in wanted):
            return key
    return "OtherTelephone"


def fields_of(card: Component) -> dict:
    """The EWS fields a card holds: name -> text (EmailAddresses and PhoneNumbers as
    dicts key -> value)."""
    out: dict = {}
    fn = card.value("FN")
    if fn:
        out["DisplayName"] = out["FileAs"] = unescape_text(fn)
    n = card.value("N")
    if n:
        parts = _split(n) + [""] * 5
        out.update({k: v for k, v in (("Surname", parts[0]), ("GivenName", parts[1]),
                                      ("MiddleName", parts[2])) if v})
    org = card.value("ORG")
    if org:
        parts = _split(org) + [""]
        if parts[0]:
            out["CompanyName"] = parts[0]
        if parts[1]:
            out["Department"] = parts[1]
    for name, field in (("TITLE", "JobTitle"), ("NOTE", "Body"), ("NICKNAME", "Nickname")):
        value = card.value(name)
        if value:
            out[field] = unescape_text(value)
    emails = [unescape_text(p.value) for p in card.get_all("EMAIL") if p.value][:3]
    if emails:
        out["EmailAddresses"] = dict(zip(EMAIL_KEYS, emails))
    phones: dict = {}
    for prop in card.get_all("TEL"):
        key = _phone_key(prop)
        value = unescape_text(prop.value).removeprefix("tel:")
        if value and key not in phones:
            phones[key] = value
    if phones:
        out["PhoneNumbers"] = phones
    bday = card.value("BDAY")
    if bday:
        digits = re.sub(r"[^0-9]", "", bday)
        if len(digits) >= 8:
            out["Birthday"] = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T00:00:00Z"
    return out


def contact_element(account: str, source: str, name: str, revision: int, content: bytes,
                    shape: Shape):
    """The ``<t:Contact>`` of a stored vCard in ``shape``."""
    card = load(content)
    fields = fields_of(card)

    def wants(uri: str) -> bool:
        return shape.wants(uri, uri in DEFAULT_FIELDS)

    ref = ids.ItemRef(account, ids.ITEM, source, name)
    node = item_element("Contact", "IPM.Contact", ref, revision, wants)
    if wants("item:Subject"):
        etree.SubElement(node, t("Subject")).text = text(fields.get("DisplayName", ""))
    if "Body" in fields and wants("item:Body"):
        etree.SubElement(node, t("Body"), BodyType="Text").text = text(fields["Body"])
    for field in ("FileAs", "DisplayName", "GivenName", "MiddleName", "Nickname", "CompanyName"):
        if field in fields and wants(f"contacts:{field}"):
            etree.SubElement(node, t(field)).text = text(fields[field])
    if "EmailAddresses" in fields and (wants("contacts:EmailAddresses") or "contacts:EmailAddress" in shape.fields):
        holder = etree.SubElement(node, t("EmailAddresses"))
        for key, value in fields["EmailAddresses"].items():
            etree.SubElement(holder, t("Entry"), Key=key).text = text(value)
    if "PhoneNumbers" in fields and (wants("contacts:PhoneNumbers") or "contacts:PhoneNumber" in shape.fields):
        holder = etree.SubElement(node, t("PhoneNumbers"))
        for key, value in fields["PhoneNumbers"].items():
            etree.SubElement(holder, t("Entry"), Key=key).text = text(value)
    if "Birthday" in fields and wants("contacts:Birthday"):
        etree.SubElement(node, t("Birthday")).text = fields["Birthday"]
    for field in ("Department", "JobTitle", "Surname"):
        if field in fields and wants(f"contacts:{field}"):
            etree.SubElement(node, t(field)).text = text(fields[field])
    item_attachments.render(node, ref, card, wants)  # ews-drafts: the photo
    render_component(node, card, shape)
    return node


# -- EWS -> vCard ----------------------------------------------------------------------


def _entries(node, tag: str) -> dict:
    holder = node.find(t(tag))
    if holder is None:
        return {}
    return {e.get("Key"): (e.text or "").strip() for e in holder.findall(t("Entry")) if e.get("Key")}


def read_fields(node) -> dict:
    """The fields a ``<t:Contact>`` element (or one field of it in an update) sets."""
    out: dict = {}
    for field in ("DisplayName", "FileAs", "GivenName", "MiddleName", "Surname", "Nickname",
                  "CompanyName", "Department", "JobTitle", "Birthday"):
        value = node.findtext(t(field))
        if value is not None:
            out[field] = value.strip()
    body = node.find(t("Body"))
    if body is not None:
        out["Body"] = body.text or ""
    for tag in ("EmailAddresses", "PhoneNumbers"):
        entries = _entries(node, tag)
        if entries or node.find(t(tag)) is not None:
            out[tag] = entries
    return out


def _set(card: Component, name: str, value: Optional[str], params=None) -> None:
    """Replace the first ``name`` property's value (add one; with None, remove it)."""
    existing = card.get(name)
    if value is None or value == "":
        if existing is not None:
            card.properties.remove(existing)
        return
    if existing is None:
        card.properties.append(Property(name, value, list(params or [])))
    else:
        existing.value = value


def apply(card: Component, fields: dict, removed: frozenset = frozenset()) -> None:
    """Write ``fields`` (as ``read_fields`` gives) into ``card``, and clear the fields in
    ``removed``; every property no field names is left as it was."""
    for field in removed:
        fields = {**fields, field: {} if field in ("EmailAddresses", "PhoneNumbers") else ""}
    if "DisplayName" in fields or "FileAs" in fields:
        _set(card, "FN", escape_text(fields.get("DisplayName") or fields.get("FileAs") or ""))
    if {"Surname", "GivenName", "MiddleName"} & set(fields):
        current = _split(card.value("N") or "") + [""] * 5
        for index, field in enumerate(("Surname", "GivenName", "MiddleName")):
            if field in fields:
                current[index] = fields[field]
        _set(card, "N", ";".join(escape_text(p) for p in current[:5]))
    if {"CompanyName", "Department"} & set(fields):
        current = _split(card.value("ORG") or "") + [""]
        if "CompanyName" in fields:
            current[0] = fields["CompanyName"]
        if "Department" in fields:
            current[1] = fields["Department"]
        value = ";".join(escape_text(p) for p in current[:2]).rstrip(";")
        _set(card, "ORG", value or None)
    for field, name in (("JobTitle", "TITLE"), ("Body", "NOTE"), ("Nickname", "NICKNAME")):
        if field in fields:
            _set(card, name, escape_text(fields[field]) if fields[field] else None)
    if "Birthday" in fields:
        _set(card, "BDAY", fields["Birthday"][:10] or None)
    if "EmailAddresses" in fields:
        emails = card.get_all("EMAIL")
        for index, key in enumerate(EMAIL_KEYS):
            if key not in fields["EmailAddresses"] and "EmailAddresses" not in removed:
                continue
            value = fields["EmailAddresses"].get(key, "")
            if index < len(emails):
                if value:
                    emails[index].value = escape_text(value)
                else:
                    card.properties.remove(emails[index])
            elif value:
                card.properties.append(Property("EMAIL", escape_text(value), [("TYPE", ["INTERNET"])]))
    if "PhoneNumbers" in fields:
        for key, value in fields["PhoneNumbers"].items():
            if key not in PHONES:
                raise EWSError(INVALID_PROPERTY_SET, f"phone key {key[:30]} is not served")
            existing = next((p for p in card.get_all("TEL") if _phone_key(p) == key), None)
            if existing is not None and value:
                existing.value = value
            elif existing is not None:
                card.properties.remove(existing)
            elif value:
                types = sorted(PHONES[key]) or ["voice"]
                card.properties.append(Property("TEL", value, [("TYPE", [",".join(types)])]))
        if "PhoneNumbers" in removed:
            card.properties = [p for p in card.properties if p.name != "TEL"]


def new_card(fields: dict) -> tuple[str, bytes]:
    """``(uid, vCard 3.0 bytes)`` of a new contact with ``fields``."""
    uid = str(uuid.uuid4())
    card = Component("VCARD", [Property("VERSION", "3.0"), Property("UID", uid)])
    if not (fields.get("DisplayName") or fields.get("FileAs")):
        names = [fields.get(k, "") for k in ("GivenName", "MiddleName", "Surname")]
        fields = {**fields, "DisplayName": " ".join(n for n in names if n)
                  or fields.get("CompanyName") or next(iter(fields.get("EmailAddresses", {}).values()), "")}
    if not {"Surname", "GivenName"} & set(fields):
        fields = {**fields, "Surname": "", "GivenName": ""}
    apply(card, fields)
    if card.get("N") is None:
        card.properties.append(Property("N", ";;;;"))
    if card.get("FN") is None:
        card.properties.append(Property("FN", ""))
    return uid, serialize(card)
