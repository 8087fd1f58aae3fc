"""Splitting calendar and contact files into the one-object items a collection stores.

An .ics export usually holds a whole calendar in one VCALENDAR; a collection keeps one
calendar object (one UID, with its overrides) per item, as CalDAV requires. Pure functions
over bytes; syntax comes from ``smsync.formats.contentlines``.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, decode_text, parse_components, serialize

_SAFE_NAME = re.compile(r"^[A-Za-z0-9@._+-]{1,120}$")
_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")


@attrs.frozen
class SplitItem:
    """One item to store: its UID, component (VEVENT/VTODO/VJOURNAL/VCARD), a name
    derived from the UID, and its content."""

    uid: str
    component: str
    name: str
    content: bytes


def item_name(uid: str, extension: str) -> str:
    """A collection item name for ``uid``: the UID itself when it is a safe path segment
    (what CalDAV clients do), otherwise a hash of it."""
    if _SAFE_NAME.match(uid) and uid not in (".", ".."):
        return uid + extension
    return hashlib.sha1(uid.encode("utf-8")).hexdigest() + extension


def _made_up_uid(content: bytes) -> str:
    # Derived from the content so importing the same file twice updates, not duplicates.
    return str(uuid.uuid5(_NAMESPACE, hashlib.sha1(content).hexdigest()))


def _tzids(component: Component) -> set[str]:
    found = set()
    for prop in component.properties:
        tzid = prop.param("TZID")
        if tzid:
            found.add(tzid)
    for sub in component.components:
        found |= _tzids(sub)
    return found


def split_calendar(data: bytes) -> list[SplitItem]:
    """Every calendar object in ``data`` (one or more VCALENDARs), one item per UID.

    Each item keeps the calendar's properties (but not METHOD, which stored objects must
    not have) and the VTIMEZONEs its components refer to. A component without a UID gets
    one derived from its content. ``InvalidData`` if the data is not iCalendar.
    """
    roots = parse_components(data)
    if not roots or any(r.name != "VCALENDAR" for r in roots):
        raise InvalidData("not an iCalendar file (expected BEGIN:VCALENDAR)")
    items: list[SplitItem] = []
    for calendar in roots:
        header = [p for p in calendar.properties if p.name != "METHOD"]
        if not any(p.name == "VERSION" for p in header):
            header.insert(0, Property("VERSION", "2.0"))
        if not any(p.name == "PRODID" for p in header):
            header.insert(1, Property("PRODID", "-//smsync//import//EN"))
        zones = {c.value("TZID"): c for c in calendar.components if c.name == "VTIMEZONE"}
        groups: dict[str, list[Component]] = {}
        for comp in calendar.components:
            if comp.name == "VTIMEZONE":
                continue
            uid = comp.value("UID")
            if not uid:
                uid = _made_up_uid(serialize(comp))
                comp.properties.append(Property("UID", uid))
            groups.setdefault(uid, []).append(comp)
        for uid, comps in groups.items():
            wanted = set().union(*(_tzids(c) for c in comps))
            tzs = [zones[t] for t in sorted(wanted) if t in zones]
            out = Component("VCALENDAR", list(header), tzs + comps)
            items.append(SplitItem(uid=uid, component=comps[0].name,
                                   name=item_name(uid, ".ics"), content=serialize(out)))
    return items


_CARD_START = re.compile(r"^BEGIN[ \t]*:[ \t]*VCARD[ \t]*$", re.I)
_CARD_END = re.compile(r"^END[ \t]*:[ \t]*VCARD[ \t]*$", re.I)


def _raw_cards(text: str) -> list[str]:
    # Cards are cut from the text as written (not re-serialised) so that vCard 2.1
    # quoted-printable values and unknown properties stay exactly as they were.
    cards, current = [], None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if current is None:
            if _CARD_START.match(line):
                current = [line]
            elif line.strip():
                raise InvalidData(f"text outside BEGIN:VCARD/END:VCARD: {line[:60]!r}")
        else:
            current.append(line)
            if _CARD_END.match(line):
                cards.append("\r\n".join(current) + "\r\n")
                current = None
    if current is not None:
        raise InvalidData("the last vCard has no END:VCARD")
    return cards


def split_vcards(data: bytes) -> list[SplitItem]:
    """Every vCard in ``data``, one item each, kept as written. A card without a UID gets
    one derived from its content (RFC 6352 stores need one). ``InvalidData`` if the data
    is not vCard."""
    cards = _raw_cards(decode_text(data))
    if not cards:
        raise InvalidData("not a vCard file (expected BEGIN:VCARD)")
    items = []
    for text in cards:
        raw = text.encode("utf-8")
        parsed = parse_components(raw)
        uid = parsed[0].value("UID") if parsed else None
        if not uid:
            uid = _made_up_uid(raw)
            lines = text.rstrip("\r\n").split("\r\n")
            raw = ("\r\n".join(lines[:-1] + [f"UID:{uid}", lines[-1]]) + "\r\n").encode("utf-8")
        items.append(SplitItem(uid=uid, component="VCARD", name=item_name(uid, ".vcf"),
                               content=raw))
    return items
