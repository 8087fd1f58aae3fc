"""A whole collection as one file: the ``.ics`` or ``.vcf`` people export, and that
calendar apps subscribe to. Pure functions over the stored items' bytes."""

from __future__ import annotations

from typing import Iterable, Optional

from smsync.formats.contentlines import Component, Property, parse_components, serialize


def merge_calendars(objects: Iterable[bytes], name: Optional[str] = None) -> bytes:
    """One VCALENDAR holding every component of ``objects`` (stored calendar objects),
    each VTIMEZONE once: the .ics export of a collection. ``name`` becomes the
    ``X-WR-CALNAME`` subscribers show."""
    tzs: dict[str, Component] = {}
    comps: list[Component] = []
    for data in objects:
        for calendar in parse_components(data):
            for comp in calendar.components:
                if comp.name == "VTIMEZONE":
                    tzs.setdefault(comp.value("TZID") or "", comp)
                else:
                    comps.append(comp)
    header = [Property("VERSION", "2.0"), Property("PRODID", "-//smsync//export//EN")]
    if name:
        header.append(Property("X-WR-CALNAME", _escape_text(name)))
    return serialize(Component("VCALENDAR", header, list(tzs.values()) + comps))


def join_vcards(objects: Iterable[bytes]) -> bytes:
    """The vCards of ``objects`` one after the other: the .vcf export of an address book."""
    return b"".join(c if c.endswith(b"\n") else c + b"\r\n" for c in objects)


def _escape_text(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))
