"""Events, tasks and notes: the iCalendar object the store keeps, and what every
calendar-like format does with it.

A stored object is one VCALENDAR with a master VEVENT, VTODO or VJOURNAL (and, for a
recurring event, its RECURRENCE-ID overrides and VTIMEZONEs). Device formats show the
master; a device's Replace is merged into it (``merge``) and the rest of the object --
overrides, VTIMEZONEs, properties the format has no place for -- stays
(``to_canonical_calendar``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Collection, Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, escape_text, parse_components, serialize
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.icaltime import UTC, Zone, parse_duration, zone_for, zones_of
from smsync.protocols.syncml.formats import merge
from smsync.protocols.syncml.formats.support import as_bytes, new_uid, utc_stamp

PRODID = "-//smsync//SyncML//EN"
_EPOCH = datetime(1970, 1, 1)


def load_calendar(data: bytes) -> Component:
    """The VCALENDAR of ``data`` (``InvalidData`` unless it is exactly one)."""
    roots = parse_components(as_bytes(data))
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("a calendar object is exactly one VCALENDAR")
    return roots[0]


def master_of(cal: Component, kind: str) -> Component:
    """The ``kind`` component without RECURRENCE-ID (else the first ``kind``)."""
    items = [c for c in cal.components if c.name == kind]
    if not items:
        found = sorted({c.name for c in cal.components if c.name != "VTIMEZONE"})
        raise InvalidData(f"expected a {kind}, not {', '.join(found) or 'nothing'}")
    return next((c for c in items if c.get("RECURRENCE-ID") is None), items[0])


def new_calendar(item: Component, zones: list[Component] = ()) -> Component:
    return Component("VCALENDAR", [Property("VERSION", "2.0"), Property("PRODID", PRODID)],
                     [*zones, item])


def to_local(zone: Zone, epoch: int) -> datetime:
    """The wall-clock time in ``zone`` of the instant ``epoch`` (the inverse of
    ``Zone.epoch``; in a DST overlap, the time ``epoch`` reads back as)."""
    utc = _EPOCH + timedelta(seconds=epoch)
    local = utc
    for _ in range(4):
        offset = ((local - _EPOCH) // timedelta(seconds=1)) - zone.epoch(local)
        guess = utc + timedelta(seconds=offset)
        if guess == local:
            break
        local = guess
    return local


@attrs.frozen
class StoredZone:
    """The zone a stored item's times are in: its TZID, the icaltime zone and the
    VTIMEZONE that defines it (None for a TZID that is an IANA name without one)."""

    tzid: str
    zone: Zone = attrs.field(eq=False)
    vtimezone: Optional[Component] = attrs.field(eq=False, default=None)


def stored_zone(cal: Component, master: Component) -> Optional[StoredZone]:
    """The zone of the master's DTSTART (or DUE), None for UTC, floating and dates."""
    for name in ("DTSTART", "DUE", "DTEND"):
        prop = master.get(name)
        if prop is not None and prop.param("TZID"):
            tzid = prop.param("TZID").strip()
            zones = zones_of(cal)
            zone = zones.get(tzid)
            vtz = next((c for c in cal.components if c.name == "VTIMEZONE"
                        and (c.value("TZID") or "").strip() == tzid), None)
            if zone is None:
                zone = zone_for(prop, zones)
            if zone is UTC:
                return None
            return StoredZone(tzid, zone, vtz)
    return None


def format_duration(seconds: int) -> str:
    """An RFC 5545 DURATION of ``seconds`` (``-PT15M``, ``P1D``, ``PT0S``)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    if seconds == 0:
        return "PT0S"
    days, rest = divmod(seconds, 86400)
    if rest == 0 and days % 7 == 0:
        return f"{sign}P{days // 7}W"
    out = f"{sign}P" + (f"{days}D" if days else "")
    if rest:
        h, rest = divmod(rest, 3600)
        m, s = divmod(rest, 60)
        out += "T" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")
    return out


def alarm_key(alarm: Component) -> object:
    """What tells two VALARMs apart for ``merge``: the action and when it goes off."""
    trigger = alarm.get("TRIGGER")
    when: object = None
    if trigger is not None:
        if (trigger.param("VALUE") or "").upper() == "DATE-TIME":
            when = trigger.value.strip()
        else:
            try:
                when = (parse_duration(trigger.value).total,
                        (trigger.param("RELATED") or "START").upper())
            except InvalidData:
                when = trigger.value.strip()
    return ((alarm.value("ACTION") or "").strip().upper(), when)


def _touch(item: Component) -> None:
    stamp = utc_stamp()
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        props = item.get_all(name)
        if props:
            props[0].value, props[0].params = stamp, []
            item.properties = [p for p in item.properties if p.name != name or p is props[0]]
        elif name == "DTSTAMP":
            item.properties.append(Property(name, stamp))


def set_uid(cal: Component, uid: str) -> None:
    """Give every component of ``cal`` but its VTIMEZONEs the UID ``uid``."""
    for comp in cal.components:
        if comp.name == "VTIMEZONE":
            continue
        comp.properties = [p for p in comp.properties if p.name != "UID"]
        comp.properties.insert(0, Property("UID", escape_text(uid)))


def _referenced_tzids(comp: Component) -> set[str]:
    found = {p.param("TZID").strip() for p in comp.properties if p.param("TZID")}
    for sub in comp.components:
        found |= _referenced_tzids(sub)
    return found


def _one_end(item: Component) -> None:
    # A device sends an end time; a stored DURATION beside it would be two ends.
    for end in ("DTEND", "DUE"):
        if item.get(end) is not None and item.get("DURATION") is not None:
            item.properties = [p for p in item.properties if p.name != "DURATION"]


def to_canonical_calendar(sent: Component, kind: str, previous: Optional[bytes],
                          shown_of: Callable[[bytes], Component],
                          authoritative: Optional[Collection[str]] = merge.EVERY_NAME) -> bytes:
    """The iCalendar object to store for a device's item ``sent`` (a VCALENDAR holding
    one ``kind`` component and the VTIMEZONEs it uses).

    An add gets the device's UID or a new one and a DTSTAMP. A Replace edits the master
    of ``previous`` (``merge``, ``shown_of(previous)`` being what the device's format
    showed of it), keeps its UID, its other components and VTIMEZONEs, and marks it
    changed (DTSTAMP, LAST-MODIFIED); one that changes nothing gives ``previous`` back
    as it is. ``InvalidData`` if the result is not a valid
    calendar object or not a ``kind``.
    """
    item = master_of(sent, kind)
    if previous is None:
        cal = sent
        cal.components = [c for c in cal.components if c is item or c.name == "VTIMEZONE"]
        if not (item.value("UID") or "").strip():
            set_uid(cal, new_uid())
        if item.get("DTSTAMP") is None:
            item.properties.append(Property("DTSTAMP", utc_stamp()))
        if cal.get("VERSION") is None:
            cal.properties.insert(0, Property("VERSION", "2.0"))
        if cal.get("PRODID") is None:
            cal.properties.insert(1, Property("PRODID", PRODID))
    else:
        cal = load_calendar(previous)
        stored = master_of(cal, kind)
        uid = (stored.value("UID") or "").strip() or new_uid()
        shown = master_of(shown_of(previous), kind)
        merged = merge.merge_component(stored, shown, item, authoritative, merge.value_key,
                                       sub_key=alarm_key)
        _one_end(merged)
        if serialize(merged) == serialize(stored) and (stored.value("UID") or "").strip():
            return bytes(previous)  # what the device sent changes nothing
        _touch(merged)
        cal.components = [merged if c is stored else c for c in cal.components]
        have = {(c.value("TZID") or "").strip() for c in cal.components if c.name == "VTIMEZONE"}
        wanted = _referenced_tzids(merged)
        extra = [c for c in sent.components if c.name == "VTIMEZONE"
                 and (c.value("TZID") or "").strip() in wanted - have]
        at = next((i for i, c in enumerate(cal.components) if c.name != "VTIMEZONE"), 0)
        cal.components[at:at] = extra
        item = merged
        set_uid(cal, uid)
    _one_end(item)
    data = serialize(cal)
    summary = summarize_calendar(data)
    if summary.component != kind:
        raise InvalidData(f"expected a {kind}, not a {summary.component}")
    return data
