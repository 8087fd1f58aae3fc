"""iTIP objects (RFC 5546): reading them, replying to them, recording an answer.

Every function works on iCalendar bytes through ``smsync.formats.contentlines``, so what
it does not touch is written back as it came (property values stay escaped, parameters
keep their order); only line folding may differ.

Calendar user addresses are compared as RFC 5546 asks in practice: ``mailto:`` dropped,
case-insensitively.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize, unescape_text

REQUEST, REPLY, CANCEL, COUNTER = "REQUEST", "REPLY", "CANCEL", "COUNTER"
#: Participation statuses an attendee can answer with (RFC 5545 3.2.12, VEVENT/VTODO).
PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")
SCHEDULED = ("VEVENT", "VTODO")
PRODID = "-//smsync//scheduling//EN"


def address_of(value: Optional[str]) -> str:
    """The calendar user address of an ORGANIZER/ATTENDEE value, ``mailto:`` dropped."""
    value = (value or "").strip()
    return value[7:].strip() if value.lower().startswith("mailto:") else value


def same_address(a: Optional[str], b: Optional[str]) -> bool:
    """Whether two calendar user addresses (with or without ``mailto:``) are one."""
    a, b = address_of(a), address_of(b)
    return bool(a) and a.lower() == b.lower()


@attrs.frozen
class Attendee:
    """One ATTENDEE: ``address`` without ``mailto:``; ``partstat`` upper-case
    (``NEEDS-ACTION`` when absent, RFC 5545's default); ``rsvp`` None when not said."""

    address: str
    name: Optional[str] = None
    partstat: str = "NEEDS-ACTION"
    rsvp: Optional[bool] = None
    role: str = "REQ-PARTICIPANT"


@attrs.frozen
class ITip:
    """What a scheduling message says, read from its master (or first) component.

    Attributes:
        method: the METHOD, upper-case.
        component: ``VEVENT`` or ``VTODO``.
        uid, sequence: the object's UID and SEQUENCE (0 when absent).
        organizer, organizer_name: the ORGANIZER's address and CN (None: no organizer).
        attendees: every ATTENDEE of every component, once each, master's first.
        summary: the unescaped SUMMARY.
        recurrence_ids: the raw RECURRENCE-ID values of the components that have one.
        has_master: whether a component without RECURRENCE-ID is present.
    """

    method: str
    component: str
    uid: str
    sequence: int = 0
    organizer: Optional[str] = None
    organizer_name: Optional[str] = None
    attendees: tuple[Attendee, ...] = ()
    summary: Optional[str] = None
    recurrence_ids: tuple[str, ...] = ()
    has_master: bool = True

    def attendee(self, address: str) -> Optional[Attendee]:
        """The attendee whose address is ``address``, or None."""
        return next((a for a in self.attendees if same_address(a.address, address)), None)


def _calendar(data: bytes) -> Component:
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("an iCalendar object is exactly one VCALENDAR")
    return roots[0]


def _items(cal: Component) -> list[Component]:
    items = [c for c in cal.components if c.name in SCHEDULED]
    if not items:
        raise InvalidData("no VEVENT or VTODO to schedule")
    if len({c.name for c in items}) != 1:
        raise InvalidData("a scheduling object mixes VEVENT and VTODO")
    uids = {(c.value("UID") or "").strip() for c in items}
    if "" in uids or len(uids) != 1:
        raise InvalidData("a scheduling object has exactly one UID")
    return items


def _master(items: list[Component]) -> Component:
    return next((c for c in items if c.get("RECURRENCE-ID") is None), items[0])


def _sequence(comp: Component) -> int:
    try:
        return max(int((comp.value("SEQUENCE") or "0").strip()), 0)
    except ValueError:
        return 0


def _attendee(prop: Property) -> Attendee:
    rsvp = prop.param("RSVP")
    return Attendee(
        address=address_of(prop.value),
        name=prop.param("CN") or None,
        partstat=(prop.param("PARTSTAT") or "NEEDS-ACTION").upper(),
        rsvp=None if rsvp is None else rsvp.upper() == "TRUE",
        role=(prop.param("ROLE") or "REQ-PARTICIPANT").upper(),
    )


def parse_itip(data: bytes, method_required: bool = True) -> ITip:
    """Read a scheduling message (or, with ``method_required`` False, a stored calendar
    object, whose ``method`` is then "").

    Raises:
        InvalidData: not one VCALENDAR; no METHOD when one is required; no VEVENT or
            VTODO; mixed components; not exactly one UID.
    """
    cal = _calendar(data)
    method = (cal.value("METHOD") or "").strip().upper()
    if method_required and not method:
        raise InvalidData("an iTIP message needs a METHOD")
    items = _items(cal)
    master = _master(items)
    organizer = master.get("ORGANIZER") or next(
        (c.get("ORGANIZER") for c in items if c.get("ORGANIZER") is not None), None)
    seen: dict[str, Attendee] = {}
    for comp in [master] + [c for c in items if c is not master]:
        for prop in comp.get_all("ATTENDEE"):
            attendee = _attendee(prop)
            seen.setdefault(attendee.address.lower(), attendee)
    summary = master.value("SUMMARY")
    return ITip(
        method=method,
        component=master.name,
        uid=master.value("UID").strip(),
        sequence=_sequence(master),
        organizer=address_of(organizer.value) if organizer is not None else None,
        organizer_name=(organizer.param("CN") or None) if organizer is not None else None,
        attendees=tuple(seen.values()),
        summary=unescape_text(summary) if summary is not None else None,
        recurrence_ids=tuple(c.value("RECURRENCE-ID") for c in items if c.get("RECURRENCE-ID") is not None),
        has_master=any(c.get("RECURRENCE-ID") is None for c in items),
    )


def _check_partstat(partstat: str) -> str:
    wanted = (partstat or "").strip().upper()
    if wanted not in PARTSTATS:
        raise InvalidData(f"not a participation status: {partstat!r}"[:80])
    return wanted


def _set_param(prop: Property, name: str, values: Optional[list[str]]) -> None:
    """Set (None: remove) a parameter where it stands, appending it when new, so the
    other parameters keep their order."""
    name = name.upper()
    out, done = [], False
    for key, old in prop.params:
        if key != name:
            out.append((key, old))
        elif not done and values is not None:
            out.append((key, list(values)))
            done = True
    if not done and values is not None:
        out.append((name, list(values)))
    prop.params = out


def _stamp(now: Optional[datetime]) -> str:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\n").replace("\n", "\\n"))


def apply_partstat(stored: bytes, attendee: str, partstat: str) -> bytes:
    """``stored`` (a calendar object or an iTIP message) with ``attendee``'s PARTSTAT
    set to ``partstat`` in every component listing them, every other property and
    parameter as it was. An attendee no component lists (invited through a list, say)
    is added to each component with that PARTSTAT, so the answer is recorded.

    Raises:
        InvalidData: unreadable data, or ``partstat`` is none of ``PARTSTATS``.
    """
    wanted = _check_partstat(partstat)
    if not address_of(attendee):
        raise InvalidData("no attendee address")
    cal = _calendar(stored)
    items = _items(cal)
    found = False
    for comp in items:
        for prop in comp.get_all("ATTENDEE"):
            if same_address(prop.value, attendee):
                _set_param(prop, "PARTSTAT", [wanted])
                found = True
    if not found:
        for comp in items:
            comp.properties.append(Property("ATTENDEE", f"mailto:{address_of(attendee)}",
                                            [("PARTSTAT", [wanted])]))
    return serialize(cal)


def calendar_object(message: bytes) -> bytes:
    """The calendar object resource an iTIP message describes: the message without its
    METHOD (RFC 4791 4.1 forbids it in stored objects), all else as it was.

    Raises:
        InvalidData: unreadable data.
    """
    cal = _calendar(message)
    _items(cal)
    cal.properties = [p for p in cal.properties if p.name != "METHOD"]
    return serialize(cal)


#: What a REPLY copies from each component it answers (RFC 5546 3.2.3 requires
#: ORGANIZER, UID, SEQUENCE, RECURRENCE-ID; the times and summary let the organizer's
#: client show the answer without looking the event up).
_REPLY_COPIES = ("UID", "RECURRENCE-ID", "SEQUENCE", "DTSTART", "DTEND", "DURATION", "DUE",
                 "SUMMARY", "ORGANIZER")


def reply(event: bytes, attendee: str, partstat: Optional[str], *, comment: Optional[str] = None,
          now: Optional[datetime] = None) -> bytes:
    """The METHOD:REPLY object (RFC 5546 3.2.3 / 3.4.3) in which ``attendee`` answers
    ``event`` (the REQUEST, or the stored event) with ``partstat``.

    One component per component of ``event`` that lists the attendee (all of them when
    none does), each with the UID, RECURRENCE-ID, SEQUENCE, ORGANIZER, times and summary
    of the original, a new DTSTAMP, and the attendee's own ATTENDEE property alone --
    with its parameters but RSVP, and PARTSTAT set (``partstat`` None: each component
    keeps the one it has, an answer per instance). The VTIMEZONEs are copied so the
    times stay readable. ``comment`` becomes a COMMENT.

    Raises:
        InvalidData: unreadable data, no ORGANIZER, no attendee address, or a
            ``partstat`` that is none of ``PARTSTATS``.
    """
    wanted = _check_partstat(partstat) if partstat is not None else None
    if not address_of(attendee):
        raise InvalidData("no attendee address")
    cal = _calendar(event)
    items = _items(cal)
    if not any(c.get("ORGANIZER") is not None for c in items):
        raise InvalidData("no ORGANIZER to reply to")
    listing = [c for c in items if any(same_address(p.value, attendee) for p in c.get_all("ATTENDEE"))]
    out = Component("VCALENDAR", [Property("PRODID", PRODID), Property("VERSION", "2.0"),
                                  Property("METHOD", REPLY)])
    out.components += [copy.deepcopy(c) for c in cal.components if c.name == "VTIMEZONE"]
    organizer = next(c.get("ORGANIZER") for c in items if c.get("ORGANIZER") is not None)
    stamp = _stamp(now)
    for comp in listing or items:
        answer = Component(comp.name)
        for name in _REPLY_COPIES:
            answer.properties += [copy.deepcopy(p) for p in comp.get_all(name)]
        if answer.get("ORGANIZER") is None:
            answer.properties.append(copy.deepcopy(organizer))
        answer.properties.append(Property("DTSTAMP", stamp))
        own = next((p for p in comp.get_all("ATTENDEE") if same_address(p.value, attendee)), None)
        own = copy.deepcopy(own) if own is not None else Property(
            "ATTENDEE", f"mailto:{address_of(attendee)}")
        _set_param(own, "RSVP", None)
        _set_param(own, "PARTSTAT", [wanted or (own.param("PARTSTAT") or "NEEDS-ACTION").upper()])
        answer.properties.append(own)
        if comment:
            answer.properties.append(Property("COMMENT", _escape(comment)))
        out.components.append(answer)
    return serialize(out)
