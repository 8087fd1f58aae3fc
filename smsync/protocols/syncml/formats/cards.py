"""Contacts: the vCard the store keeps, and what every contact format does with it.

The store keeps a contact as the client that made it sent it, vCard 3.0 or 4.0 (CardDAV
clients write either; EAS and SyncML make 3.0). Device formats are converted to and
from vCard 3.0 (``as_v3``); on a Replace the device's contact is merged into the stored
card in the stored card's version (``to_canonical_card``), so a 4.0 contact stays 4.0
and keeps what the device's format could not show (``merge``).

vCard 2.1 is read here too (``read_21``): devices send it, and a store may hold it.
"""

from __future__ import annotations

from typing import Callable, Collection, Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import (
    Component,
    Property,
    escape_text,
    parse_components,
    serialize,
    split_raw,
    unescape_text,
)
from smsync.formats.vcard import summarize_vcard, to_version
from smsync.protocols.syncml.formats import merge
from smsync.protocols.syncml.formats.support import (
    as_bytes,
    b64_payload,
    decode_value,
    device_text,
    join_soft_breaks,
    new_uid,
    split_legacy,
    unescape_legacy,
)

BINARY = ("PHOTO", "LOGO", "SOUND", "KEY")
#: Properties whose value is not TEXT: kept as written.
RAW = frozenset({"VERSION", "BDAY", "REV", "URL", "GEO", "TZ", "UID", "AGENT", "IMPP",
                 "X-ANNIVERSARY", "ANNIVERSARY", *BINARY})
LISTS = frozenset({"CATEGORIES", "NICKNAME"})


def load_card(data: bytes) -> Component:
    """The one VCARD of ``data`` (``InvalidData`` otherwise)."""
    roots = parse_components(as_bytes(data))
    if len(roots) != 1 or roots[0].name != "VCARD":
        raise InvalidData("a contact is exactly one BEGIN:VCARD ... END:VCARD")
    return roots[0]


def version_of(card: Component) -> str:
    return (card.value("VERSION") or "3.0").strip()


# -- vCard 2.1 ------------------------------------------------------------------------


def _v3_value(name: str, value: str) -> str:
    if name in merge.STRUCTURED:
        return ";".join(escape_text(unescape_legacy(p)) for p in split_raw(value, ";"))
    if name in LISTS:
        return ",".join(escape_text(v) for v in split_legacy(value))
    if name in RAW:
        return value.strip() if name in BINARY else value
    return escape_text(unescape_legacy(value))


def read_21(data: bytes) -> Component:
    """A vCard 2.1 (quoted-printable, CHARSET, bare TYPE parameters, base64 binaries,
    soft line breaks) as a vCard 3.0 component. Cards of other versions are read as
    they are. ``InvalidData`` if it is not one vCard."""
    text = join_soft_breaks(device_text(data))
    card = load_card(text.encode("utf-8"))
    if version_of(card) not in ("2.1", "1.0"):
        return card
    out = []
    for prop in card.properties:
        if prop.name == "X-IRMC-LUID":
            continue  # the phone's own record number: nothing for the store
        value = decode_value(prop)
        if prop.name == "VERSION":
            value = "3.0"
        encoding = (prop.param("ENCODING") or "").upper()
        if encoding in ("BASE64", "B"):
            payload = b64_payload(value)
            if payload is None:
                raise InvalidData(f"{prop.name} is not base64")
            prop.set_param("ENCODING", ["b"])
            value = payload
        types = [t.strip() for v in prop.param_values("TYPE") for t in v.split(",") if t.strip()]
        if types:
            prop.set_param("TYPE", types)
        if (prop.param("VALUE") or "").upper() == "URL":
            prop.set_param("VALUE", ["uri"])
        prop.value = _v3_value(prop.name, value)
        out.append(prop)
    card.properties = out
    if card.get("VERSION") is None:
        card.properties.insert(0, Property("VERSION", "3.0"))
    return card


def as_v3(data: bytes) -> Component:
    """A stored card (2.1, 3.0 or 4.0) as a vCard 3.0 component."""
    card = load_card(data)
    version = version_of(card)
    if version == "4.0":
        return load_card(to_version(data, "3.0"))
    if version in ("2.1", "1.0"):
        return read_21(data)
    return card


# -- storing ----------------------------------------------------------------------------


def derived_fn(card: Component) -> str:
    """A display name from what the contact has: names, else company, else e-mail or
    phone."""
    n = card.get("N")
    if n is not None:
        parts = [unescape_text(p).strip() for p in split_raw(n.value, ";")] + [""] * 5
        name = " ".join(p for p in (parts[3], parts[1], parts[2], parts[0], parts[4]) if p)
        if name:
            return name
    for prop_name in ("ORG", "NICKNAME", "EMAIL", "TEL"):
        prop = card.get(prop_name)
        if prop is not None:
            value = unescape_text(split_raw(prop.value, ";")[0]).strip()
            if value:
                return value
    return ""


def _complete(card: Component, uid: str, version: str) -> None:
    card.properties = [p for p in card.properties if p.name != "UID"]
    at = next((i + 1 for i, p in enumerate(card.properties) if p.name == "VERSION"), 0)
    card.properties.insert(at, Property("UID", escape_text(uid) if version == "4.0" else uid))
    fn = card.get("FN")
    if fn is None or not unescape_text(fn.value).strip():
        card.properties = [p for p in card.properties if p.name != "FN"]
        card.properties.insert(at + 1, Property("FN", escape_text(derived_fn(card))))
    if version != "4.0" and card.get("N") is None:
        at = next(i + 1 for i, p in enumerate(card.properties) if p.name == "FN")
        card.properties.insert(at, Property("N", ";;;;"))


def _in_version(card: Component, version: str) -> Component:
    if version == "4.0":
        return load_card(to_version(serialize(card), "4.0"))
    return card


def to_canonical_card(sent: Component, previous: Optional[bytes], shown_of: Callable[[bytes], Component],
                      authoritative: Optional[Collection[str]] = merge.EVERY_NAME) -> bytes:
    """The vCard to store for a device's contact ``sent`` (a vCard 3.0 component).

    An add is stored as vCard 3.0 with the device's UID or a new one, and FN and N
    (which 3.0 requires) made up when missing. A Replace edits ``previous`` in its own
    version (``merge``; ``shown_of(previous)`` is what the device's format showed of it,
    as 3.0) and keeps its UID; a Replace that changes nothing gives ``previous`` back as
    it is. ``InvalidData`` if the result is not a valid vCard.
    """
    if previous is None:
        card = sent
        uid = unescape_text((card.value("UID") or "").strip()) or new_uid()
        version = "3.0"
        card.properties = [p for p in card.properties if p.name != "VERSION"]
        card.properties.insert(0, Property("VERSION", version))
    else:
        stored = load_card(previous)
        version = version_of(stored)
        if version not in ("3.0", "4.0"):
            stored, version = as_v3(previous), "3.0"
        uid = unescape_text((stored.value("UID") or "").strip()) or new_uid()
        shown = _in_version(shown_of(previous), version)
        card = merge.merge_component(stored, shown, _in_version(sent, version), authoritative)
        _complete(card, uid, version)
        unchanged = load_card(previous)
        if version_of(unchanged) == version:
            _complete(unchanged, uid, version)
            if serialize(card) == serialize(unchanged):
                return bytes(previous)  # what the device sent changes nothing
    if previous is None:
        _complete(card, uid, version)
    data = serialize(card)
    summarize_vcard(data)
    return data
