"""Single instances of recurring scheduling objects: finding or making the override
(RECURRENCE-ID component) of one occurrence, excluding occurrences, and what an
attendee's answer or an organizer's cancel of one instance does to a stored copy.

RFC 5546 and RFC 6638 scope an answer, a cancellation or a change to the instance a
component's RECURRENCE-ID names: only that instance changes. Instances are compared as
instants (UTC epoch seconds), whatever form -- a date, a TZID, UTC -- each side writes
them in; what is written here takes the master's own form (its DTSTART's date or IANA
zone, else UTC).

Pure functions over ``smsync.formats.contentlines`` components, like ``itip``; the EWS
edge's occurrence edits use ``override`` and ``exclude`` too.
"""

from __future__ import annotations

import copy
import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional

from smsync.errors import InvalidData, SmsyncError
from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import prop_time, prop_times, zones_of
from smsync.scheduling.itip import PARTSTATS, SCHEDULED, address_of, same_address

#: What an occurrence's override does not take from its master: the series' own lines
#: and the times it gets for itself.
SERIES_ONLY = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION",
                         "RECURRENCE-ID"})


def load(data: bytes) -> Component:
    """The one VCALENDAR of ``data``. ``InvalidData`` otherwise."""
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("an iCalendar object is exactly one VCALENDAR")
    return roots[0]


def items(cal: Component) -> list[Component]:
    """The VEVENTs and VTODOs of ``cal``."""
    return [c for c in cal.components if c.name in SCHEDULED]


def master(cal: Component) -> Optional[Component]:
    """The component without RECURRENCE-ID (None: the object holds overrides only)."""
    return next((c for c in items(cal) if c.get("RECURRENCE-ID") is None), None)


def is_series(cal: Component) -> bool:
    """Whether ``cal``'s master recurs (an RRULE or RDATE)."""
    top = master(cal)
    return top is not None and (top.get("RRULE") is not None or top.get("RDATE") is not None)


def instant(prop: Optional[Property], zones) -> Optional[int]:
    """The instant (epoch seconds) of a RECURRENCE-ID-like property (None: none, or
    unreadable)."""
    if prop is None:
        return None
    try:
        return prop_time(prop, zones).epoch
    except (InvalidData, ValueError):
        return None


def find_override(cal: Component, when: int, zones=None) -> Optional[Component]:
    """The component of ``cal`` overriding the instance at ``when`` (epoch), or None."""
    zones = zones_of(cal) if zones is None else zones
    return next((c for c in items(cal) if instant(c.get("RECURRENCE-ID"), zones) == when), None)


def _zone_name(comp: Component) -> Optional[str]:
    start = comp.get("DTSTART")
    tzid = start.param("TZID") if start is not None else None
    if not tzid:
        return None
    try:
        zoneinfo.ZoneInfo(tzid.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return tzid.strip()


def _is_date(comp: Component) -> bool:
    start = comp.get("DTSTART")
    return start is not None and (start.param("VALUE") or "").upper() == "DATE"


def time_property(name: str, when: datetime, all_day: bool, zone: Optional[str]) -> Property:
    """``name`` at ``when`` (aware) written as a date, in ``zone`` (an IANA name), or in
    UTC."""
    if all_day:
        return Property(name, when.date().strftime("%Y%m%d"), [("VALUE", ["DATE"])])
    if zone is not None:
        local = when.astimezone(zoneinfo.ZoneInfo(zone))
        return Property(name, local.strftime("%Y%m%dT%H%M%S"), [("TZID", [zone])])
    return Property(name, when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))


def utc(when: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=when)


def _set(comp: Component, prop: Property) -> None:
    comp.properties = [p for p in comp.properties if p.name != prop.name]
    comp.properties.append(prop)


def override(cal: Component, recurrence_id: datetime) -> Component:
    """The component overriding the occurrence at ``recurrence_id`` (aware): the one
    stored, else a new one put in ``cal`` after the master's other overrides -- a copy of
    the master (alarms, attendees, X- properties and all) without the series' lines, at
    the occurrence's times, its RECURRENCE-ID and times in the master's own form.

    Raises:
        InvalidData: ``cal`` has neither that override nor a master.
    """
    zones = zones_of(cal)
    found = find_override(cal, int(recurrence_id.timestamp()), zones)
    if found is not None:
        return found
    top = master(cal)
    if top is None:
        raise InvalidData("no master to make an occurrence from")
    made = made_from(top, recurrence_id, zones)
    at = cal.components.index(top) + 1
    while at < len(cal.components) and cal.components[at].get("RECURRENCE-ID") is not None:
        at += 1  # after the master's other overrides
    cal.components.insert(at, made)
    return made


def made_from(top: Component, recurrence_id: datetime, zones) -> Component:
    """The override of the occurrence at ``recurrence_id`` the master ``top`` makes (not
    put anywhere): what ``override`` adds when there is none."""
    start_prop = top.get("DTSTART")
    all_day, zone = _is_date(top), _zone_name(top)
    made = copy.deepcopy(top)
    made.properties = [p for p in made.properties if p.name not in SERIES_ONLY]
    made.properties.append(time_property("RECURRENCE-ID", recurrence_id, all_day, zone))
    made.properties.append(time_property("DTSTART", recurrence_id, all_day, zone))
    if top.get("DURATION") is not None:
        made.properties.append(copy.deepcopy(top.get("DURATION")))
    elif top.get("DTEND") is not None and start_prop is not None:
        length = prop_time(top.get("DTEND"), zones).epoch - prop_time(start_prop, zones).epoch
        made.properties.append(time_property("DTEND", recurrence_id + timedelta(seconds=length), all_day, zone))
    return made


def has_instance(cal: Component, when: int) -> bool:
    """Whether the series ``cal`` has an occurrence at ``when`` (epoch): overridden, or
    one of its master's rule and dates not excluded."""
    zones = zones_of(cal)
    if find_override(cal, when, zones) is not None:
        return True
    top = master(cal)
    if top is None:
        return False
    bare = Component("VCALENDAR", list(cal.properties),
                     [c for c in cal.components if c.name not in SCHEDULED] + [top])
    at = utc(when)
    try:
        found = expand_instances(serialize(bare), at - timedelta(days=1), at + timedelta(days=1))
    except SmsyncError:
        return False  # unreadable, or past what is walked
    return any(rid is not None and int(rid.timestamp()) == when for rid, _s, _e in found)


def exdates(cal: Component) -> set[int]:
    """The instants the master's EXDATEs exclude."""
    top = master(cal)
    if top is None:
        return set()
    zones = zones_of(cal)
    out = set()
    for prop in top.get_all("EXDATE"):
        try:
            out.update(start.epoch for start, _end in prop_times(prop, zones))
        except (InvalidData, ValueError):
            continue
    return out


def exclude(cal: Component, when: int) -> None:
    """Take the occurrence at ``when`` (epoch) out of the series ``cal``: an EXDATE in the
    master's own form, and its override gone. Nothing when already excluded."""
    zones = zones_of(cal)
    cal.components = [c for c in cal.components
                      if not (c.name in SCHEDULED and instant(c.get("RECURRENCE-ID"), zones) == when)]
    top = master(cal)
    if top is None or when in exdates(cal):
        return
    top.properties.append(time_property("EXDATE", utc(when), _is_date(top), _zone_name(top)))


def set_partstat(comp: Component, attendee: str, partstat: str) -> None:
    """Set ``attendee``'s PARTSTAT on ``comp``, their ATTENDEE added when it lists them not."""
    props = [p for p in comp.get_all("ATTENDEE") if same_address(p.value, attendee)]
    if not props:
        comp.properties.append(Property("ATTENDEE", f"mailto:{address_of(attendee)}",
                                        [("PARTSTAT", [partstat])]))
    for prop in props:
        prop.set_param("PARTSTAT", [partstat])


def _partstat(comp: Component, attendee: str) -> Optional[str]:
    prop = next((p for p in comp.get_all("ATTENDEE") if same_address(p.value, attendee)), None)
    return None if prop is None else (prop.param("PARTSTAT") or "NEEDS-ACTION").upper()


def apply_reply(stored: bytes, reply_message: bytes, sender: Optional[str]) -> bytes:
    """The organizer's ``stored`` copy with the answers of the iTIP REPLY ``reply_message``
    recorded: each REPLY component answers the instance its RECURRENCE-ID names (that
    override, made from the master when the copy has none; an instance the series does
    not have is left alone) or, without one, the series -- the master, and the overrides
    where the attendee's answer was the series' one (not those they answered apart, nor
    those the REPLY names). With ``sender``, only that attendee's answers count.

    Raises:
        InvalidData: unreadable data.
    """
    cal, answer = load(stored), load(reply_message)
    zones, reply_zones = zones_of(cal), zones_of(answer)
    answers = []  # (instant or None, attendee, partstat), the series' first
    for comp in items(answer):
        when = instant(comp.get("RECURRENCE-ID"), reply_zones)
        if comp.get("RECURRENCE-ID") is not None and when is None:
            continue
        for prop in comp.get_all("ATTENDEE"):
            partstat = (prop.param("PARTSTAT") or "NEEDS-ACTION").upper()
            if partstat not in PARTSTATS or not address_of(prop.value):
                continue
            if sender is not None and not same_address(prop.value, sender):
                continue  # only an attendee answers for themselves
            answers.append((when, address_of(prop.value), partstat))
    answers.sort(key=lambda a: a[0] is not None)
    named = {a[0] for a in answers if a[0] is not None}
    for when, attendee, partstat in answers:
        if when is None:
            _answer_series(cal, zones, attendee, partstat, named)
            continue
        target = find_override(cal, when, zones)
        if target is None:
            if not is_series(cal) or not has_instance(cal, when):
                continue
            target = override(cal, utc(when))
        set_partstat(target, attendee, partstat)
    return serialize(cal)


def _answer_series(cal: Component, zones, attendee: str, partstat: str, named: set) -> None:
    top = master(cal)
    listing = [c for c in items(cal) if _partstat(c, attendee) is not None]
    if top is None or not listing:
        # Not listed (invited through a list, say): the answer is recorded anyway.
        for comp in ([top] if top is not None else items(cal)):
            set_partstat(comp, attendee, partstat)
        return
    before = _partstat(top, attendee)
    for comp in listing:
        when = instant(comp.get("RECURRENCE-ID"), zones)
        if comp is top or (when not in named and _partstat(comp, attendee) == before):
            set_partstat(comp, attendee, partstat)


def cancel_instances(stored: bytes, recurrence_ids: Iterable[str], cancel_message: bytes) -> bytes:
    """An attendee's ``stored`` copy once the organizer cancelled the instances the CANCEL
    ``cancel_message`` names (``recurrence_ids``, raw): excluded from a series (an EXDATE,
    their override gone); in a copy of overrides alone, those marked STATUS:CANCELLED.

    Raises:
        InvalidData: unreadable data.
    """
    cal, cancel = load(stored), load(cancel_message)
    cancel_zones = zones_of(cancel)
    wanted = {r.strip() for r in recurrence_ids}
    instants = {instant(c.get("RECURRENCE-ID"), cancel_zones) for c in items(cancel)
                if (c.value("RECURRENCE-ID") or "").strip() in wanted}
    instants.discard(None)
    if master(cal) is not None:
        for when in instants:
            exclude(cal, when)
        return serialize(cal)
    zones = zones_of(cal)
    for comp in items(cal):
        if instant(comp.get("RECURRENCE-ID"), zones) in instants:
            _set(comp, Property("STATUS", "CANCELLED"))
    return serialize(cal)


def answers(data: bytes, attendee: str) -> dict:
    """``attendee``'s PARTSTAT per component that lists them: instant (None for the
    master) -> PARTSTAT."""
    cal = load(data)
    zones = zones_of(cal)
    out = {}
    for comp in items(cal):
        partstat = _partstat(comp, attendee)
        if partstat is not None:
            out[instant(comp.get("RECURRENCE-ID"), zones)] = partstat
    return out


def instance_component(data: bytes, when: int) -> tuple[Component, Component]:
    """``(calendar, component)``: a copy of ``data`` and the component of its instance
    at ``when`` (its override, or one made from the master).

    Raises:
        InvalidData: unreadable data, or no master to make the instance from.
    """
    cal = load(data)
    return cal, override(cal, utc(when))


def only(cal: Component, components: list[Component], *extra_zones: Component) -> bytes:
    """A calendar of ``cal``'s properties and VTIMEZONEs (and those of ``extra_zones``
    it lacks) holding ``components`` alone."""
    zones = [c for c in cal.components if c.name == "VTIMEZONE"]
    have = {(z.value("TZID") or "").strip() for z in zones}
    for other in extra_zones:
        for z in other.components:
            if z.name == "VTIMEZONE" and (z.value("TZID") or "").strip() not in have:
                zones.append(z)
                have.add((z.value("TZID") or "").strip())
    return serialize(Component("VCALENDAR", list(cal.properties), zones + list(components)))


def _sequence(comp: Optional[Component]) -> int:
    try:
        return max(int(((comp.value("SEQUENCE") if comp is not None else None) or "0").strip()), 0)
    except ValueError:
        return 0


def merge_instances(stored: bytes, request: bytes, attendee: str) -> bytes:
    """An attendee's ``stored`` copy of a series updated by a REQUEST for single
    instances only (RFC 5546 3.2.2: an organizer changing one occurrence may send just
    it): each instance replaces that instance's override (or is added), unless the copy
    holds a newer version of it (a higher SEQUENCE); the same version sent again keeps
    ``attendee``'s answer there. The rest of the series stays as it was.

    Raises:
        InvalidData: unreadable data.
    """
    cal, message = load(stored), load(request)
    zones, message_zones = zones_of(cal), zones_of(message)
    top = master(cal)
    for comp in items(message):
        when = instant(comp.get("RECURRENCE-ID"), message_zones)
        if when is None:
            continue
        current = find_override(cal, when, zones)
        shown = current if current is not None else top
        if _sequence(shown) > _sequence(comp):
            continue  # an older version than the one filed
        new = copy.deepcopy(comp)
        own = _partstat(shown, attendee) if shown is not None else None
        if _sequence(shown) == _sequence(comp) and own and own != "NEEDS-ACTION":
            set_partstat(new, attendee, own)  # the same version again: the answer stands
        if current is not None:
            cal.components[cal.components.index(current)] = new
            continue
        at = cal.components.index(top) + 1 if top is not None else len(cal.components)
        while at < len(cal.components) and cal.components[at].get("RECURRENCE-ID") is not None:
            at += 1
        cal.components.insert(at, new)
    have = {(c.value("TZID") or "").strip() for c in cal.components if c.name == "VTIMEZONE"}
    extra = [z for z in message.components
             if z.name == "VTIMEZONE" and (z.value("TZID") or "").strip() not in have]
    cal.components = extra + cal.components
    return serialize(cal)


def keep_answers(new: bytes, stored: bytes, attendee: str) -> bytes:
    """``new`` (the same version of an event sent again) with ``attendee``'s answers in
    ``stored`` kept, each on the component -- series or occurrence -- it was given to.

    Raises:
        InvalidData: unreadable data.
    """
    given = answers(stored, attendee)
    if all(partstat == "NEEDS-ACTION" for partstat in given.values()):
        return new
    cal = load(new)
    zones = zones_of(cal)
    # Not listed (invited through a list, say): the answer is kept on every component.
    listed = any(_partstat(c, attendee) is not None for c in items(cal))
    for comp in items(cal):
        if listed and _partstat(comp, attendee) is None:
            continue
        when = instant(comp.get("RECURRENCE-ID"), zones)
        # An occurrence answered apart keeps that answer, the others the series' one.
        partstat = given[when] if when in given else given.get(None)
        if partstat is not None and partstat != "NEEDS-ACTION":
            set_partstat(comp, attendee, partstat)
    # Occurrences answered apart that the new version does not override get their
    # override back, so the answer stays theirs alone.
    for when, partstat in given.items():
        if (when is None or partstat == given.get(None) or partstat == "NEEDS-ACTION"
                or find_override(cal, when, zones) is not None or not has_instance(cal, when)):
            continue
        set_partstat(override(cal, utc(when)), attendee, partstat)
    return serialize(cal)
