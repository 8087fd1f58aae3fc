"""calendar-data as a client asks for it (RFC 4791 9.6): the whole object, or with
recurrences expanded into instances, or limited to the overrides in a range, or
cut down to chosen components and properties. Pure functions over bytes."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import prop_time, zones_of

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RECURRENCE_PROPS = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_TIME_PROPS = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID")


@attrs.frozen
class CompSpec:
    """Which parts of a component to return: ``props`` None means all; ``comps`` maps a
    sub-component name to its spec, None meaning all sub-components."""

    name: str
    props: Optional[frozenset] = None
    comps: Optional[dict] = attrs.field(default=None, hash=False)


@attrs.frozen
class DataRequest:
    """A parsed ``C:calendar-data`` request element."""

    comp: Optional[CompSpec] = None
    expand: Optional[tuple] = None  # (start, end) aware datetimes
    limit_recurrence: Optional[tuple] = None


def _utc_text(epoch: int) -> str:
    return (_EPOCH + timedelta(seconds=epoch)).strftime("%Y%m%dT%H%M%SZ")


def _date_text(epoch: int) -> str:
    return (_EPOCH + timedelta(seconds=epoch)).strftime("%Y%m%d")


def _to_utc(comp: Component, zones) -> None:
    """Rewrite the time properties of ``comp`` in UTC (DATE values stay dates)."""
    for prop in comp.properties:
        if prop.name in _TIME_PROPS:
            t = prop_time(prop, zones)
            if t.is_date:
                continue
            prop.value = _utc_text(t.epoch)
            prop.set_param("TZID", None)


def _set_time(comp: Component, name: str, epoch: int, is_date: bool) -> None:
    comp.properties = [p for p in comp.properties if p.name != name]
    params = [("VALUE", ["DATE"])] if is_date else []
    comp.properties.append(Property(name, _date_text(epoch) if is_date else _utc_text(epoch), params))


def expand(data: bytes, start: Optional[datetime], end: Optional[datetime]) -> bytes:
    """The object with every instance overlapping ``[start, end)`` as its own component
    (RECURRENCE-ID set, no RRULE/RDATE/EXDATE), times in UTC, no VTIMEZONE."""
    cal = parse_components(data)[0]
    zones = zones_of(cal)
    items = [c for c in cal.components if c.name != "VTIMEZONE"]
    master = next((c for c in items if c.get("RECURRENCE-ID") is None), None)
    overrides = {prop_time(c.get("RECURRENCE-ID"), zones).epoch: c for c in items
                 if c.get("RECURRENCE-ID") is not None}
    out = Component("VCALENDAR", list(cal.properties), [])
    for rid, _, _ in expand_instances(data, start, end):
        if rid is None:
            comp = copy.deepcopy(master if master is not None else items[0])
            _to_utc(comp, zones)
            out.components.append(comp)
            continue
        epoch = int((rid - _EPOCH).total_seconds())
        if epoch in overrides:
            comp = copy.deepcopy(overrides[epoch])
            _to_utc(comp, zones)
            out.components.append(comp)
            continue
        comp = copy.deepcopy(master)
        first = prop_time(master.get("DTSTART"), zones)
        comp.properties = [p for p in comp.properties if p.name not in _RECURRENCE_PROPS]
        _set_time(comp, "DTSTART", epoch, first.is_date)
        for end_name in ("DTEND", "DUE"):
            end_prop = master.get(end_name)
            if end_prop is not None:
                length = prop_time(end_prop, zones).epoch - first.epoch
                _set_time(comp, end_name, epoch + length, first.is_date)
        _set_time(comp, "RECURRENCE-ID", epoch, first.is_date)
        out.components.append(comp)
    return serialize(out)


def limit_recurrence_set(data: bytes, start: Optional[datetime], end: Optional[datetime]) -> bytes:
    """The object with only the overrides whose instance overlaps ``[start, end)``
    (the master and time zones kept)."""
    cal = parse_components(data)[0]
    zones = zones_of(cal)
    wanted = {int((rid - _EPOCH).total_seconds())
              for rid, _, _ in expand_instances(data, start, end) if rid is not None}
    kept = []
    for comp in cal.components:
        rid = comp.get("RECURRENCE-ID")
        if rid is None or prop_time(rid, zones).epoch in wanted:
            kept.append(comp)
    cal.components = kept
    return serialize(cal)


def _select(comp: Component, spec: CompSpec) -> Component:
    props = comp.properties if spec.props is None else [p for p in comp.properties
                                                        if p.name in spec.props]
    if spec.comps is None:
        subs = list(comp.components)
    else:
        subs = [_select(c, spec.comps[c.name]) for c in comp.components if c.name in spec.comps]
    return Component(comp.name, list(props), subs)


def render(data: bytes, request: Optional[DataRequest]) -> bytes:
    """``data`` as ``request`` asks (None: unchanged). ``InvalidData`` if it does not
    parse (stored data always does)."""
    if request is None or (request.comp is None and request.expand is None
                           and request.limit_recurrence is None):
        return data
    if request.expand is not None:
        data = expand(data, *request.expand)
    elif request.limit_recurrence is not None:
        data = limit_recurrence_set(data, *request.limit_recurrence)
    if request.comp is not None:
        roots = parse_components(data)
        if not roots or roots[0].name != request.comp.name:
            raise InvalidData("calendar-data comp does not name VCALENDAR")
        data = serialize(_select(roots[0], request.comp))
    return data
