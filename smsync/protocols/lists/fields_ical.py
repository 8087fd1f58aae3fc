"""iCalendar helpers the Events and Tasks converters share: reading the stored object,
time properties to and from list dates, and writing new objects."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import (Component, Property, content_lines, parse_components, parse_lines,
                                         serialize, share_blocks)
from smsync.formats.icaltime import UTC, Time, Zone, parse_time, prop_time, zone_for, zones_of

PRODID = "-//smsync//Lists//EN"
_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def load_calendar(data: bytes) -> Component:
    """The one VCALENDAR of ``data`` (``InvalidData`` otherwise)."""
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("a calendar object is exactly one VCALENDAR")
    return roots[0]


class _SharedZone(Component):
    """A VTIMEZONE read once for every item that writes it so (``load_shown``), with the
    entry ``zones_of`` makes of it: ``tzid`` and ``zone``. Not to be changed."""

    __slots__ = ("tzid", "zone")


#: VTIMEZONE blocks (their lines joined) -> their shared reading, or None for one that
#: does not read on its own (it is then parsed in place, errors and all).
_ZONE_BLOCKS: dict = {}
_ZONE_BLOCKS_MAX = 256
#: Longer blocks are not kept (a cache of a few huge crafted ones would hold memory).
_ZONE_BLOCK_MAX_TEXT = 16384


def _zone_block(lines: list) -> Optional[_SharedZone]:
    key = "\n".join(lines)
    try:
        return _ZONE_BLOCKS[key]
    except KeyError:
        pass
    try:
        (comp,) = parse_lines(lines)
        # zones_of on the VTIMEZONE alone: exactly the entry it makes in its calendar's
        # zones (a VTIMEZONE's entry depends on nothing else), errors included.
        ((tzid, zone),) = zones_of(Component("VCALENDAR", [], [comp])).items()
        shared = _SharedZone(comp.name, comp.properties, comp.components)
        shared.tzid, shared.zone = tzid, zone
    except Exception:  # noqa: BLE001 - read in place instead, where it fails as it always did
        shared = None
    if len(key) <= _ZONE_BLOCK_MAX_TEXT:
        if len(_ZONE_BLOCKS) >= _ZONE_BLOCKS_MAX:
            _ZONE_BLOCKS.clear()
        _ZONE_BLOCKS[key] = shared
    return shared


def load_shown(data: bytes) -> Component:
    """``load_calendar(data)`` for showing an item, not to be changed (``zones_shown``):
    its VTIMEZONEs -- every item of a calendar repeats the same few -- parsed and
    expanded once per distinct text and shared. A block of lines from
    ``BEGIN:VTIMEZONE`` to the next ``END:VTIMEZONE`` that parses on its own parses
    the same inside any object, so the object is parsed with the block's shared reading
    standing where the block stood (``parse_lines``), and a property line read before
    shares its Property; the result, and any error, is what ``load_calendar`` gives."""
    lines = content_lines(data)
    share_blocks(lines, "VTIMEZONE", _zone_block)
    roots = parse_lines(lines, _SHARED_LINES)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("a calendar object is exactly one VCALENDAR")
    return roots[0]


#: Property lines read for showing (``parse_lines``' ``shared``).
_SHARED_LINES: dict = {}


def zones_shown(cal: Component) -> dict:
    """``zones_of`` a ``load_shown`` calendar (its shared VTIMEZONEs' entries as read)."""
    zones: dict = {}
    for comp in cal.components:
        if comp.__class__ is _SharedZone:
            zones[comp.tzid] = comp.zone
        elif comp.name == "VTIMEZONE":
            zones.update(zones_of(Component("VCALENDAR", [], [comp])))
    return zones


def items_of(cal: Component, kind: str) -> tuple[Component, list[Component]]:
    """``(master, overrides)`` of the ``kind`` components (the master is the one
    without RECURRENCE-ID; a lone override stands as master)."""
    items = [c for c in cal.components if c.name == kind]
    if not items:
        found = sorted({c.name for c in cal.components if c.name != "VTIMEZONE"})
        raise InvalidData(f"expected a {kind}, not {', '.join(found) or 'nothing'}")
    masters = [c for c in items if c.get("RECURRENCE-ID") is None]
    master = masters[0] if masters else items[0]
    return master, [c for c in items if c is not master and c.get("RECURRENCE-ID") is not None]


def new_calendar(item: Component) -> Component:
    return Component("VCALENDAR", [Property("VERSION", "2.0"), Property("PRODID", PRODID)], [item])


def new_uid() -> str:
    return str(uuid.uuid4())


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def touch(item: Component) -> None:
    """DTSTAMP and LAST-MODIFIED to now, SEQUENCE up by one (an edit from Outlook)."""
    now = stamp()
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        prop = item.get(name)
        if prop is None:
            if name == "DTSTAMP":
                item.properties.append(Property(name, now))
        else:
            prop.value, prop.params = now, []
    seq = item.get("SEQUENCE")
    if seq is not None:
        try:
            seq.value = str(int(seq.value.strip()) + 1)
        except ValueError:
            seq.value = "1"


def utc_of(time: Time) -> datetime:
    """A DATE-TIME's instant as an aware UTC datetime (a DATE's midnight as UTC)."""
    return _UTC_EPOCH + timedelta(seconds=time.epoch)


def read_time(prop: Optional[Property], zones: dict) -> Optional[Time]:
    if prop is None:
        return None
    try:
        return prop_time(prop, zones)
    except (ValueError, OverflowError):
        raise InvalidData(f"unreadable {prop.name}") from None


def to_local(zone: Zone, when: datetime) -> datetime:
    """The wall-clock time in ``zone`` of the aware instant ``when`` (inverse of
    ``Zone.epoch``)."""
    utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    local = utc
    for _ in range(4):
        offset = ((local - _EPOCH) // timedelta(seconds=1)) - zone.epoch(local)
        guess = utc + timedelta(seconds=offset)
        if guess == local:
            break
        local = guess
    return local


def set_time(item: Component, name: str, when, tzid: Optional[str], zone: Optional[Zone]) -> None:
    """Write ``name`` (replacing it in place, or appending): a ``date`` as VALUE=DATE, an
    aware datetime in ``tzid``'s ``zone`` when given, else as UTC."""
    if isinstance(when, datetime):
        if tzid and zone is not None:
            prop = Property(name, to_local(zone, when).strftime("%Y%m%dT%H%M%S"), [("TZID", [tzid])])
        else:
            prop = Property(name, when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    else:
        prop = Property(name, when.strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    replace(item, name, prop)


def replace(item: Component, name: str, prop: Optional[Property]) -> None:
    """Put ``prop`` where the first ``name`` was (others of that name go); None removes."""
    at = next((i for i, p in enumerate(item.properties) if p.name == name), None)
    item.properties = [p for p in item.properties if p.name != name]
    if prop is None:
        return
    if at is None:
        item.properties.append(prop)
    else:
        item.properties.insert(at, prop)


def set_text(item: Component, name: str, value: Optional[str]) -> None:
    """A property with a raw value, replaced in place; None or "" removes it. Parameters
    of the stored one (LANGUAGE, ALTREP) are kept."""
    if not value:
        replace(item, name, None)
        return
    old = item.get(name)
    replace(item, name, Property(name, value, list(old.params) if old is not None else [], 
                                 old.group if old is not None else None))


def item_zone(cal: Component, item: Component, zones: Optional[dict] = None) -> tuple[Optional[str], Optional[Zone]]:
    """The TZID and zone of ``item``'s DTSTART (or DUE), ``(None, None)`` for UTC,
    floating and DATE values; ``zones`` is ``zones_of(cal)`` when the caller has it."""
    if zones is None:
        zones = zones_of(cal)
    for name in ("DTSTART", "DUE", "DTEND"):
        prop = item.get(name)
        if prop is not None and prop.param("TZID"):
            zone = zone_for(prop, zones)
            if zone is None or zone is UTC:
                return None, None
            return prop.param("TZID").strip(), zone
    return None, None


def ensure_vtimezone(cal: Component, tzid: str, vtimezone: Component) -> None:
    """Add the VTIMEZONE for ``tzid`` ahead of the items unless one is there."""
    for comp in cal.components:
        if comp.name == "VTIMEZONE" and (comp.value("TZID") or "").strip() == tzid:
            return
    cal.components.insert(0, vtimezone)


def drop_unused_zones(cal: Component) -> None:
    """Remove VTIMEZONEs no property refers to any more (after times moved to UTC)."""
    used = set()
    for comp in cal.components:
        if comp.name == "VTIMEZONE":
            continue
        for sub in [comp, *comp.components]:
            for prop in sub.properties:
                tzid = prop.param("TZID")
                if tzid:
                    used.add(tzid.strip())
    cal.components = [c for c in cal.components
                      if c.name != "VTIMEZONE" or (c.value("TZID") or "").strip() in used]


def date_of(time: Time) -> date:
    return time.local.date()


def parse_value_time(text: str) -> Time:
    """``parse_time`` for a RECURRENCE-ID/EXDATE value written without TZID."""
    return parse_time(text, None)


def dump(cal: Component) -> bytes:
    return serialize(cal)
