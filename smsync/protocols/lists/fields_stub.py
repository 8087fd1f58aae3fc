"""A stand-in for the field converters (``fields_events``, ``fields_contacts``,
``fields_tasks``) until they land: Title <-> SUMMARY (events, tasks) or FN (contacts),
nothing else. Same interface: ``to_row(content, info) -> dict`` and
``from_row(fields, existing) -> bytes``; ``FIELDS`` what GetList publishes.

To be deleted once the real converters are in (``converters`` prefers them)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import (
    Component,
    Property,
    escape_text,
    parse_components,
    serialize,
    unescape_text,
)


@attrs.frozen
class Field:
    name: str
    type: str
    display_name: str


FIELDS = (Field("Title", "Text", "Title"),)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _root(content: bytes, name: str) -> Component:
    roots = parse_components(content)
    if len(roots) != 1 or roots[0].name != name:
        raise InvalidData(f"expected one {name}")
    return roots[0]


def _item(cal: Component, component: str) -> Component:
    for comp in cal.components:
        if comp.name == component and comp.get("RECURRENCE-ID") is None:
            return comp
    raise InvalidData(f"no {component}")


def _set(comp: Component, name: str, text: str) -> None:
    prop = comp.get(name)
    if prop is None:
        comp.properties.append(Property(name, escape_text(text)))
    else:
        prop.value, prop.params = escape_text(text), []


class _Calendar:
    def __init__(self, component: str):
        self.component = component

    def to_row(self, content: bytes, info=None) -> dict:
        item = _item(_root(content, "VCALENDAR"), self.component)
        return {"Title": unescape_text(item.value("SUMMARY") or "")}

    def from_row(self, fields: dict, existing: Optional[bytes]) -> bytes:
        title = fields.get("Title")
        if existing is not None:
            cal = _root(existing, "VCALENDAR")
            if title is not None:
                _set(_item(cal, self.component), "SUMMARY", title)
            return serialize(cal)
        props = [Property("UID", str(uuid.uuid4())), Property("DTSTAMP", _now())]
        if self.component == "VEVENT":
            props.append(Property("DTSTART", _now()))
        props.append(Property("SUMMARY", escape_text(title or "")))
        return serialize(Component("VCALENDAR", [Property("VERSION", "2.0"),
                                                 Property("PRODID", "-//smsync//Lists//EN")],
                                   [Component(self.component, props)]))


class _Contacts:
    def to_row(self, content: bytes, info=None) -> dict:
        return {"Title": unescape_text(_root(content, "VCARD").value("FN") or "")}

    def from_row(self, fields: dict, existing: Optional[bytes]) -> bytes:
        title = fields.get("Title")
        if existing is not None:
            card = _root(existing, "VCARD")
            if title is not None:
                _set(card, "FN", title)
            return serialize(card)
        return serialize(Component("VCARD", [
            Property("VERSION", "3.0"), Property("UID", str(uuid.uuid4())),
            Property("FN", escape_text(title or "")), Property("N", escape_text(title or "") + ";;;;")]))


STUBS = {"events": _Calendar("VEVENT"), "tasks": _Calendar("VTODO"), "contacts": _Contacts()}
