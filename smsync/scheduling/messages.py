"""What implicit scheduling (RFC 6638) writes: the iTIP messages an organizer's or an
attendee's change sends, the SCHEDULE-STATUS filed on the organizer's copy, the
schedule tag of a scheduling object, and how the schedule inbox keeps a METHOD.

Pure functions over iCalendar bytes (``smsync.formats.contentlines``), like ``itip``.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Iterable, Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.formats.icaltime import zones_of
from smsync.scheduling import instances
from smsync.scheduling.itip import SCHEDULED, address_of, same_address

#: Parameters that steer the server and are never sent to anyone (RFC 6638 3.2, 7.1-7.3).
SCHEDULE_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")

#: SCHEDULE-STATUS / REQUEST-STATUS codes (RFC 6638 3.2.9, RFC 5546 3.6).
DELIVERED = "1.2"  # in the recipient's inbox
SENT = "1.1"  # handed on (queued as iMIP mail)
NO_ROUTE = "5.1"  # could not be delivered: no way to reach the recipient
INVALID_USER = "3.7"  # invalid calendar user
SUCCESS = "2.0"

#: The inbox keeps an iTIP message's METHOD under this name: the store holds calendar
#: object resources, which may not have one (RFC 4791 4.1); ``from_inbox`` gives it back.
INBOX_METHOD = "X-SMSYNC-ITIP-METHOD"

#: What the schedule tag ignores: what changes as answers come in (RFC 6638 3.2.10 keeps
#: the tag through PARTSTAT-only changes on either side).
_VOLATILE_PROPS = frozenset({"DTSTAMP", "LAST-MODIFIED"})
_VOLATILE_PARAMS = frozenset({"PARTSTAT", "RSVP", "SCHEDULE-STATUS"})


def _calendar(data: bytes) -> Component:
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("an iCalendar object is exactly one VCALENDAR")
    return roots[0]


def _items(cal: Component) -> list[Component]:
    return [c for c in cal.components if c.name in SCHEDULED]


def is_scheduling_object(data: bytes) -> bool:
    """Whether ``data`` is a scheduling object resource (RFC 6638 3.1): an ORGANIZER in
    a VEVENT or VTODO. Cheap: no parsing for the usual event without one."""
    return b"ORGANIZER" in data.upper() and any(
        c.get("ORGANIZER") is not None for c in _items(_calendar(data)))


def _signature(cal: Component, ignore: frozenset = frozenset()) -> bytes:
    out = copy.deepcopy(cal)
    out.properties = [p for p in out.properties if p.name not in ("METHOD", INBOX_METHOD)]
    for comp in _items(out):
        comp.properties = [p for p in comp.properties
                           if p.name not in _VOLATILE_PROPS and p.name not in ignore]
        for prop in comp.properties:
            if prop.name in ("ATTENDEE", "ORGANIZER"):
                prop.params = [(k, v) for k, v in prop.params if k not in _VOLATILE_PARAMS]
    _drop_plain_overrides(out)
    return serialize(out)


def _lines(comp: Component) -> list:
    return sorted(serialize(Component("X", list(comp.properties), list(comp.components))).split(b"\r\n"))


def _drop_plain_overrides(cal: Component) -> None:
    """Leave out the overrides that only copy their master's instance (answers and
    stamps apart): what filing an answer to one occurrence makes on the organizer's
    copy changes no more than an answer to the series does."""
    top = instances.master(cal)
    if top is None or not instances.is_series(cal):
        return
    try:
        zones = zones_of(cal)
    except InvalidData:
        return
    plain = []
    for comp in _items(cal):
        rid = comp.get("RECURRENCE-ID")
        if rid is None:
            continue
        when = instances.instant(rid, zones)
        if when is None:
            continue
        try:
            made = instances.made_from(top, instances.utc(when), zones)
        except (InvalidData, ValueError):
            continue
        if _lines(made) == _lines(comp):
            plain.append(comp)
    cal.components = [c for c in cal.components if not any(c is p for p in plain)]


def schedule_tag(data: bytes) -> str:
    """The Schedule-Tag (RFC 6638 3.2.10) of a stored scheduling object: it changes with
    anything but the participation statuses, SCHEDULE-STATUS and stamps, so an answer
    filed on either side keeps it and an organizer's change moves it."""
    digest = hashlib.sha1(_signature(_calendar(data))).hexdigest()
    return f'"{digest[:24]}"'


def significant_change(old: Optional[bytes], new: bytes) -> bool:
    """Whether ``new`` differs from ``old`` in more than answers and stamps -- what makes
    the organizer's server send a new REQUEST."""
    if old is None:
        return True
    try:
        return _signature(_calendar(old)) != _signature(_calendar(new))
    except InvalidData:
        return True


def changed_for_all(old: bytes, new: bytes) -> bool:
    """Whether ``new`` differs from ``old`` in what every attendee sees -- times,
    place, recurrence, text -- not just in the attendee list and answers (SEQUENCE and
    stamps aside): what decides who a "send to the changed only" update goes to."""
    try:
        ignore = frozenset({"ATTENDEE", "SEQUENCE"})
        return _signature(_calendar(old), ignore) != _signature(_calendar(new), ignore)
    except InvalidData:
        return True


def differs_but_exdates(old: bytes, new: bytes) -> bool:
    """Whether ``new`` differs from ``old`` other than in EXDATE lines and SEQUENCE
    (answers and stamps aside, like ``significant_change``)."""
    try:
        ignore = frozenset({"EXDATE", "SEQUENCE"})
        return _signature(_calendar(old), ignore) != _signature(_calendar(new), ignore)
    except InvalidData:
        return True


def attendee_entries(data: bytes, organizer: str) -> dict[str, frozenset]:
    """What each attendee's entry says, answers aside: lower-cased address -> the
    (RECURRENCE-ID, parameters) of every ATTENDEE line naming them."""
    out: dict[str, set] = {}
    for comp in _items(_calendar(data)):
        rid = (comp.value("RECURRENCE-ID") or "").strip()
        for prop in comp.get_all("ATTENDEE"):
            address = address_of(prop.value).lower()
            if not address or same_address(address, organizer):
                continue
            params = tuple(sorted((k, tuple(v)) for k, v in prop.params
                                  if k not in _VOLATILE_PARAMS and k != "SCHEDULE-FORCE-SEND"))
            out.setdefault(address, set()).add((rid, params))
    return {k: frozenset(v) for k, v in out.items()}


def recipients(data: bytes, organizer: str) -> dict[str, str]:
    """The attendees the server schedules for: lower-cased address -> address, every
    ATTENDEE of every component but the organizer and those whose SCHEDULE-AGENT is
    CLIENT or NONE (their client or nobody tells them, RFC 6638 7.1)."""
    out: dict[str, str] = {}
    for comp in _items(_calendar(data)):
        for prop in comp.get_all("ATTENDEE"):
            address = address_of(prop.value)
            agent = (prop.param("SCHEDULE-AGENT") or "SERVER").upper()
            if not address or agent != "SERVER" or same_address(address, organizer):
                continue
            out.setdefault(address.lower(), address)
    return out


def forced(data: bytes) -> set[str]:
    """The attendees (lower-cased addresses) whose ATTENDEE says
    ``SCHEDULE-FORCE-SEND=REQUEST``: the organizer's client asks that they get the
    request again even though nothing changed (RFC 6638 7.2)."""
    return {address_of(p.value).lower() for c in _items(_calendar(data))
            for p in c.get_all("ATTENDEE")
            if (p.param("SCHEDULE-FORCE-SEND") or "").upper() == "REQUEST"}


def partstat_of(data: bytes, address: str) -> Optional[str]:
    """The PARTSTAT ``address`` has in the master (or first) component that lists it,
    upper-case (NEEDS-ACTION when not said); None when no component lists it."""
    items = _items(_calendar(data))
    items.sort(key=lambda c: c.get("RECURRENCE-ID") is not None)
    for comp in items:
        for prop in comp.get_all("ATTENDEE"):
            if same_address(prop.value, address):
                return (prop.param("PARTSTAT") or "NEEDS-ACTION").upper()
    return None


def _set_method(cal: Component, method: str) -> None:
    cal.properties = [p for p in cal.properties if p.name not in ("METHOD", INBOX_METHOD)]
    at = next((i + 1 for i, p in enumerate(cal.properties) if p.name in ("VERSION", "PRODID")), 0)
    cal.properties.insert(at, Property("METHOD", method))


def message(data: bytes, method: str, only: Optional[Iterable[str]] = None, *,
            bump_sequence: bool = False) -> bytes:
    """The iTIP message ``method`` (REQUEST, CANCEL ...) an organizer's stored object
    ``data`` makes: SCHEDULE-* parameters and alarms (the organizer's own) removed. With
    ``only``, the attendees listed are only those (a CANCEL to attendees taken off the
    event). A CANCEL has STATUS:CANCELLED; ``bump_sequence`` raises SEQUENCE by one (the
    organizer deleted the event: its client sent no new sequence)."""
    cal = _calendar(data)
    _set_method(cal, method.upper())
    keep = None if only is None else {a.lower() for a in map(address_of, only)}
    for comp in _items(cal):
        comp.components = [c for c in comp.components if c.name != "VALARM"]
        props = []
        for prop in comp.properties:
            if prop.name == "ATTENDEE" and keep is not None and address_of(prop.value).lower() not in keep:
                continue
            if prop.name in ("ATTENDEE", "ORGANIZER"):
                prop.params = [(k, v) for k, v in prop.params if k not in SCHEDULE_PARAMS]
            props.append(prop)
        comp.properties = props
        if method.upper() == "CANCEL":
            comp.properties = [p for p in comp.properties if p.name != "STATUS"]
            comp.properties.append(Property("STATUS", "CANCELLED"))
        if bump_sequence:
            try:
                sequence = int((comp.value("SEQUENCE") or "0").strip())
            except ValueError:
                sequence = 0
            comp.properties = [p for p in comp.properties if p.name != "SEQUENCE"]
            comp.properties.append(Property("SEQUENCE", str(max(sequence, 0) + 1)))
    return serialize(cal)


def strip_schedule_params(data: bytes) -> bytes:
    """``data`` without SCHEDULE-* parameters (an iTIP message as the attendee keeps
    it; a copy filed for an attendee)."""
    cal = _calendar(data)
    for comp in _items(cal):
        for prop in comp.properties:
            if prop.name in ("ATTENDEE", "ORGANIZER"):
                prop.params = [(k, v) for k, v in prop.params if k not in SCHEDULE_PARAMS]
    return serialize(cal)


def strip_force_send(data: bytes) -> bytes:
    """``data`` without SCHEDULE-FORCE-SEND parameters."""
    if b"SCHEDULE-FORCE-SEND" not in data.upper():
        return data
    cal = _calendar(data)
    for comp in _items(cal):
        for prop in comp.properties:
            if prop.name in ("ATTENDEE", "ORGANIZER"):
                prop.set_param("SCHEDULE-FORCE-SEND", None)
    return serialize(cal)


def set_schedule_status(data: bytes, statuses: dict[str, str]) -> bytes:
    """``data`` with SCHEDULE-STATUS set on the ATTENDEEs named in ``statuses``
    (lower-cased address -> code), every other parameter kept where it was."""
    if not statuses:
        return data
    cal = _calendar(data)
    for comp in _items(cal):
        for prop in comp.get_all("ATTENDEE"):
            code = statuses.get(address_of(prop.value).lower())
            if code is not None:
                prop.set_param("SCHEDULE-STATUS", [code])
    return serialize(cal)


def to_inbox(itip_message: bytes) -> bytes:
    """An iTIP message as the schedule inbox stores it: METHOD kept as ``INBOX_METHOD``."""
    cal = _calendar(itip_message)
    method = (cal.value("METHOD") or "").strip().upper()
    cal.properties = [p for p in cal.properties if p.name != "METHOD"]
    if method:
        cal.properties.append(Property(INBOX_METHOD, method))
    return serialize(cal)


def from_inbox(stored: bytes) -> bytes:
    """What ``to_inbox`` stored, as the iTIP message it was (``stored`` unchanged when it
    has no ``INBOX_METHOD``)."""
    if INBOX_METHOD.encode() not in stored:
        return stored
    try:
        cal = _calendar(stored)
    except InvalidData:
        return stored
    method = cal.value(INBOX_METHOD)
    if method is None:
        return stored
    _set_method(cal, method.strip().upper())
    return serialize(cal)


def cancelled(data: bytes, recurrence_ids: Iterable[str] = ()) -> bytes:
    """A stored event marked STATUS:CANCELLED: the components with one of
    ``recurrence_ids`` (an instance cancelled), or all of them when none is named."""
    cal = _calendar(data)
    wanted = {r.strip() for r in recurrence_ids}
    for comp in _items(cal):
        rid = comp.value("RECURRENCE-ID")
        if wanted and (rid is None or rid.strip() not in wanted):
            continue
        comp.properties = [p for p in comp.properties if p.name != "STATUS"]
        comp.properties.append(Property("STATUS", "CANCELLED"))
    return serialize(cal)
