"""A whole collection as one file: the ``.ics`` or ``.vcf`` people export, and that
calendar apps subscribe to. Pure functions over the stored items' bytes.

An export is written in parts (``CalendarExport``, ``VCardExport``: ``head``, then
``part`` for each batch of items, then ``tail``) so that a server can stream a calendar
of 50,000 events a few hundred at a time instead of holding it, parsed, all at once.
"""

from __future__ import annotations

from typing import Iterable, Optional

import attrs

from smsync.formats.contentlines import Component, Property, parse_components, serialize


@attrs.define
class CalendarExport:
    """One VCALENDAR holding every component of the stored calendar objects given to
    ``part``, each VTIMEZONE once (where it is first needed: RFC 5545 does not order a
    calendar's components). ``name`` becomes the ``X-WR-CALNAME`` subscribers show."""

    name: Optional[str] = None
    _zones: set = attrs.field(factory=set)

    def head(self) -> bytes:
        header = [Property("VERSION", "2.0"), Property("PRODID", "-//smsync//export//EN")]
        if self.name:
            header.append(Property("X-WR-CALNAME", _escape_text(self.name)))
        whole = serialize(Component("VCALENDAR", header, []))
        return whole[: whole.rindex(b"END:VCALENDAR")]

    def part(self, objects: Iterable[bytes]) -> bytes:
        """The components of ``objects``, with the time zones not written before."""
        zones: list[Component] = []
        comps: list[Component] = []
        for data in objects:
            for calendar in parse_components(data):
                for comp in calendar.components:
                    if comp.name != "VTIMEZONE":
                        comps.append(comp)
                        continue
                    tzid = comp.value("TZID") or ""
                    if tzid not in self._zones:
                        self._zones.add(tzid)
                        zones.append(comp)
        return b"".join(serialize(c) for c in zones + comps)

    def tail(self) -> bytes:
        return b"END:VCALENDAR\r\n"


@attrs.define
class VCardExport:
    """The vCards given to ``part`` one after the other (a .vcf has no wrapper)."""

    name: Optional[str] = None

    def head(self) -> bytes:
        return b""

    def part(self, objects: Iterable[bytes]) -> bytes:
        return join_vcards(objects)

    def tail(self) -> bytes:
        return b""


def merge_calendars(objects: Iterable[bytes], name: Optional[str] = None) -> bytes:
    """The whole ``CalendarExport`` of ``objects`` at once."""
    export = CalendarExport(name)
    return export.head() + export.part(objects) + export.tail()


def join_vcards(objects: Iterable[bytes]) -> bytes:
    """The vCards of ``objects`` one after the other: the .vcf export of an address book."""
    return b"".join(c if c.endswith(b"\n") else c + b"\r\n" for c in objects)


def _escape_text(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))
