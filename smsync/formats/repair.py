"""Repairs of the malformed-but-common iCalendar and vCard that real exports contain.

Apple, Google and Outlook (and the tools people copy their data with) write things
RFC 5545 and RFC 6350 do not allow, which ``smsync.formats`` rightly refuses: a
``DURATION:P1DT`` with nothing after the ``T``, an exported ``METHOD:PUBLISH`` in what
is meant as one event, ISO 8601 ``2026-03-01T10:00:00Z`` instead of ``20260301T100000Z``,
``TZOFFSETFROM:+01:00``, a vCard 3.0 without the UID CardDAV needs. Refusing them leaves
the user with a calendar that will not sync for a reason they cannot fix; these
functions rewrite what has one obvious meaning and say what they changed.

Pure functions over bytes: ``repair_calendar`` and ``repair_vcard`` return a
``Repair`` whose ``content`` is the repaired data (the input itself when nothing was
changed) and ``notes`` says what was done, for the log. Anything with no obvious
meaning (two masters, a date that does not exist) is left for the validator to refuse.
"""

from __future__ import annotations

import re
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, parse_components, serialize
from smsync.formats.contentlines import Property as _Prop


@attrs.frozen
class Repair:
    content: bytes
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.notes)


#: Properties whose value is one DATE or DATE-TIME (RFC 5545 3.8.2, 3.8.7).
_TIME_PROPS = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "DTSTAMP", "CREATED",
               "LAST-MODIFIED", "COMPLETED")
#: Properties whose value is a list of them (PERIODs are left alone).
_TIME_LIST_PROPS = ("EXDATE", "RDATE")
#: Of those, the ones that may simply be dropped when empty: nothing depends on them.
_DROPPABLE_WHEN_EMPTY = ("DTEND", "DUE", "DURATION", "DTSTAMP", "CREATED", "LAST-MODIFIED",
                         "COMPLETED", "EXDATE", "RDATE")

_DATE = re.compile(r"^\d{8}$")
_DATE_TIME = re.compile(r"^\d{8}T\d{6}Z?$")
#: ISO 8601 extended forms and other near misses: dashes and colons, fractional
#: seconds, no seconds, a lower-case ``t``/``z``, a ``+00:00`` offset meaning UTC.
_LOOSE_TIME = re.compile(
    r"^(\d{4})-?(\d{2})-?(\d{2})(?:[Tt](\d{2}):?(\d{2})(?::?(\d{2}))?(?:[.,]\d+)?([Zz]|[+-]00:?00)?)?$")


def _fix_time(text: str, want_date: bool) -> Optional[str]:
    """``text`` as RFC 5545 DATE (``want_date``) or DATE-TIME, or None if it is
    already right or cannot be read."""
    value = text.strip()
    if (_DATE if want_date else _DATE_TIME).match(value) and value == text:
        return None
    m = _LOOSE_TIME.match(value)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, zone = m.groups()
    if want_date or hh is None:
        # (A date alone where a DATE-TIME belongs stays a date: VALUE=DATE is what the
        # writer left out, and dates are read without it.)
        fixed = f"{y}{mo}{d}"
    else:
        fixed = f"{y}{mo}{d}T{hh}{mi}{ss or '00'}{'Z' if zone else ''}"
    return fixed if fixed != text else None


_DURATION_OK = re.compile(r"^[+-]?P(?:\d+W|(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$")
_DURATION_PART = re.compile(r"(\d+)([WDTHMS])|(T)")


def _fix_duration(text: str) -> Optional[str]:
    """``text`` as an RFC 5545 DURATION, or None if it is already right or cannot be
    read. ``P1DT`` (a ``T`` with no time after it) is ``P1D``; ``P``, ``PT`` are zero;
    ``P1H`` (no ``T``) is ``PT1H``; weeks beside days are days."""
    value = text.strip().upper()
    if _DURATION_OK.match(value) and value not in ("P", "+P", "-P") and value == text:
        return None
    m = re.match(r"^([+-]?)P((?:\d+[WDHMS]|T)*)$", value)
    if m is None:
        return None
    sign, body = m.groups()
    weeks = days = hours = minutes = seconds = 0
    in_time = False
    for number, unit, t in _DURATION_PART.findall(body):
        if t:
            in_time = True
            continue
        n = int(number)
        if unit == "W":
            weeks += n
        elif unit == "D":
            days += n
        elif unit == "H":
            hours += n
        elif unit == "S":
            seconds += n
        elif unit == "M":
            if not in_time and not (days or weeks or hours):
                return None  # months: no DURATION has them
            minutes += n
    if weeks and not (days or hours or minutes or seconds):
        fixed = f"{sign}P{weeks}W"
    else:
        days += weeks * 7
        time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
        if not days and not time:
            time = "0S"
        fixed = f"{sign}P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return fixed if fixed != text else None


_OFFSET_OK = re.compile(r"^[+-]\d{4}(?:\d{2})?$")
_LOOSE_OFFSET = re.compile(r"^([+-]?)(\d{1,2}):?(\d{2})?(?::?(\d{2}))?$")


def _fix_offset(text: str) -> Optional[str]:
    value = text.strip()
    if _OFFSET_OK.match(value) and value == text:
        return None
    m = _LOOSE_OFFSET.match(value)
    if m is None:
        return None
    sign, hh, mm, ss = m.groups()
    fixed = f"{sign or '+'}{int(hh):02d}{mm or '00'}{ss or ''}"
    return fixed if fixed != text else None


def _decode(data: bytes, notes: list[str]) -> bytes:
    """UTF-8 as RFC 5545 and 6350 require; Outlook's Windows-1252 otherwise."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        notes.append("text in Windows-1252 re-encoded as UTF-8")
        return data.decode("cp1252", "replace").encode("utf-8")


def _is_date(prop) -> bool:
    return (prop.param("VALUE") or "").upper() == "DATE"


def _repair_times(comp: Component, notes: list[str]) -> None:
    where = comp.name
    kept = []
    for prop in comp.properties:
        name = prop.name
        if name in _DROPPABLE_WHEN_EMPTY and not prop.value.strip():
            notes.append(f"empty {name} in {where} removed")
            continue
        if name in _TIME_PROPS:
            fixed = _fix_time(prop.value, _is_date(prop))
            if fixed is not None:
                notes.append(f"{name} {prop.value!r} in {where} read as {fixed}")
                prop.value = fixed
        elif name in _TIME_LIST_PROPS and (prop.param("VALUE") or "").upper() != "PERIOD":
            values = [v for v in prop.value.split(",") if v.strip()]
            fixed_values = [_fix_time(v, _is_date(prop)) or v for v in values]
            if fixed_values != prop.value.split(","):
                fixed = ",".join(fixed_values)
                notes.append(f"{name} {prop.value!r} in {where} read as {fixed}")
                prop.value = fixed
        elif name == "DURATION" or (name == "TRIGGER"
                                    and (prop.param("VALUE") or "").upper() != "DATE-TIME"):
            fixed = _fix_duration(prop.value)
            if fixed is not None:
                notes.append(f"{name} {prop.value!r} in {where} read as {fixed}")
                prop.value = fixed
        elif name == "RRULE":
            fixed = _fix_rrule(prop.value)
            if fixed is not None:
                notes.append(f"RRULE {prop.value!r} in {where} read as {fixed}")
                prop.value = fixed
        elif name in ("TZOFFSETFROM", "TZOFFSETTO"):
            fixed = _fix_offset(prop.value)
            if fixed is not None:
                notes.append(f"{name} {prop.value!r} in {where} read as {fixed}")
                prop.value = fixed
        kept.append(prop)
    comp.properties = kept
    if comp.name in ("VEVENT", "VTODO") and comp.get("DURATION") is not None:
        end = "DTEND" if comp.name == "VEVENT" else "DUE"
        if comp.get(end) is not None:
            # Both say when it ends (RFC 5545 forbids it); the explicit end wins.
            comp.properties = [p for p in comp.properties if p.name != "DURATION"]
            notes.append(f"DURATION beside {end} in {where} removed")
    if comp.name in ("STANDARD", "DAYLIGHT"):
        # An observance with one offset of the two: the other is the same one (a zone
        # without DST written by a tool that thought one was enough).
        frm, to = comp.get("TZOFFSETFROM"), comp.get("TZOFFSETTO")
        if (frm is None) != (to is None):
            present = frm or to
            missing = "TZOFFSETFROM" if frm is None else "TZOFFSETTO"
            comp.properties.append(_Prop(missing, present.value))
            notes.append(f"{missing} missing in {where}: taken as {present.value}")
    for sub in comp.components:
        _repair_times(sub, notes)


def _fix_rrule(text: str) -> Optional[str]:
    """An RRULE with its UNTIL in ISO 8601 form or its parts in lower case, rewritten."""
    parts = [p for p in text.strip().split(";") if p]
    out = []
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq:
            return None
        key = key.strip().upper()
        value = value.strip()
        if key == "UNTIL":
            value = _fix_time(value, len(value) == 8 or "T" not in value.upper()) or value
        elif key in ("FREQ", "BYDAY", "WKST"):
            value = value.upper().rstrip(",")
        out.append(f"{key}={value}")
    fixed = ";".join(out)
    return fixed if fixed != text else None


def repair_calendar(data: bytes, fallback_uid: Optional[str] = None) -> Repair:
    """Repair one calendar object resource (see the module docstring). Data that does
    not even parse into components comes back unchanged. ``fallback_uid`` is not used:
    RFC 5545 requires a UID, so an object without one is a client's bug to refuse (a
    UID made up here would match nothing the client has); the argument keeps the
    signature ``repair_vcard`` has."""
    notes: list[str] = []
    text = _decode(data, notes)
    try:
        roots = parse_components(text)
    except InvalidData:
        return Repair(text, tuple(notes)) if notes else Repair(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        return Repair(text, tuple(notes)) if notes else Repair(data)
    cal = roots[0]
    method = cal.get("METHOD")
    if method is not None:
        # Exports (Outlook, Google) say METHOD:PUBLISH; a calendar object resource has
        # no METHOD (RFC 4791 4.1), so what is stored is the object without it.
        cal.properties = [p for p in cal.properties if p.name != "METHOD"]
        notes.append(f"METHOD:{method.value} removed (RFC 4791 4.1)")
    if cal.get("VERSION") is None:
        cal.properties.insert(0, _Prop("VERSION", "2.0"))
        notes.append("VERSION:2.0 added")
    for comp in cal.components:
        _repair_times(comp, notes)
    if not notes:
        return Repair(data)
    return Repair(serialize(cal), tuple(notes))


def repair_vcard(data: bytes, fallback_uid: Optional[str] = None) -> Repair:
    """Repair one vCard: text re-encoded as UTF-8, a missing UID set to ``fallback_uid``
    (vCard 3.0 makes UID optional and exports from phones and Outlook often lack it,
    but CardDAV needs one, RFC 6352 5.1)."""
    notes: list[str] = []
    text = _decode(data, notes)
    try:
        roots = parse_components(text)
    except InvalidData:
        return Repair(text, tuple(notes)) if notes else Repair(data)
    if len(roots) != 1 or roots[0].name != "VCARD":
        return Repair(text, tuple(notes)) if notes else Repair(data)
    card = roots[0]
    if fallback_uid and not (card.value("UID") or "").strip():
        card.properties = [p for p in card.properties if p.name != "UID"]
        at = next((i + 1 for i, p in enumerate(card.properties) if p.name == "VERSION"), 0)
        card.properties.insert(at, _Prop("UID", fallback_uid))
        notes.append(f"UID missing: {fallback_uid} given")
    if not notes:
        return Repair(data)
    return Repair(serialize(card), tuple(notes))

