"""vCalendar 1.0 (``text/x-vcalendar``): events and tasks as phones and Funambol's
device clients send them, to and from the iCalendar 2.0 VEVENT / VTODO the store keeps.

What 1.0 differs in, and how it is read and written:

* Times are UTC (``Z``) or local. The zone is described by ``TZ`` (standard offset) and
  one ``DAYLIGHT`` line per year (``TRUE;+02;start;end;CET;CEST``). Reading, a stored
  event's zone is kept when the device's TZ/DAYLIGHT agree with it (so a CalDAV event in
  Europe/Berlin edited on a phone stays in Europe/Berlin); otherwise the IANA zone with
  the device's rule this year (else a VTIMEZONE of that rule) is used, so a weekly
  meeting keeps its wall-clock time across DST; with no TZ, UTC times stay UTC and
  local ones floating. Writing, zoned times go out in UTC with TZ and DAYLIGHT for the
  years the event covers (up to ``DAYLIGHT_YEARS``).
* All-day events are written as Funambol does (local ``T000000`` to ``T235900`` of the
  last day, ``X-FUNAMBOL-ALLDAY:1``) and read from that, from date-only values, or from
  midnight-to-23:59 local times.
* Recurrence rules have their own syntax (``W1 MO WE #10``, ``D1 20261231T000000Z``,
  ``MD1 15 #0``, ``MP1 2+ TU #0``, ``YM1 6 #0``, ``YM1 3 MP1 1- SU``, ``YD1 100``); a rule
  without a duration repeats twice (the specification's ``#2``). 2.0 rules 1.0 cannot
  say are not sent (the device sees one instance; the rule is kept on its Replace).
* EXDATE/RDATE, CATEGORIES and RESOURCES lists are separated by ``;``.
* Alarms are properties: ``AALARM`` (sound) and ``DALARM`` (display), ``run time;
  snooze;repeat;text``; each VALARM is written as an AALARM (and a DALARM when it
  displays) at its absolute time and read back relative to the start (or due time).
* ATTENDEE has ROLE (ORGANIZER, ATTENDEE, OWNER, DELEGATE), STATUS, EXPECT and RSVP
  instead of ORGANIZER, PARTSTAT, ROLE and RSVP=TRUE; the address is ``Name <a@b>``.
* STATUS has other values (``NEEDS ACTION``, ``DECLINED``...), PRIORITY is 1 (high) to
  3 (low), TRANSP is a number, DCREATED is CREATED.
* Values with line breaks or non-ASCII text are quoted-printable.

Times and zones are ``vcaltimes``, rules ``vcalrules``. A Replace is merged into the
stored item (``calendars.to_canonical_calendar``): what 1.0 cannot carry -- overrides,
VTIMEZONE details, attendee parameters, alarm attachments, X- properties the phone
drops -- stays.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from smsync.errors import InvalidData
from smsync.formats.contentlines import (
    Component,
    Property,
    escape_text,
    parse_components,
    split_raw,
    unescape_text,
)
from smsync.formats.icaltime import Time, parse_duration, parse_time, prop_time, prop_times, zones_of
from smsync.formats.zonerules import info_from_zone
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register
from smsync.protocols.syncml.formats.calendars import (
    StoredZone,
    format_duration,
    load_calendar,
    master_of,
    new_calendar,
    stored_zone,
    to_canonical_calendar,
)
from smsync.protocols.syncml.formats.support import (
    decode_value,
    escape_legacy,
    device_text,
    guarded,
    join_soft_breaks,
    needs_qp,
    qp_encode,
    split_legacy,
    unescape_legacy,
)
from smsync.protocols.syncml.formats.vcalrules import read_rule, write_rule
from smsync.protocols.syncml.formats.vcaltimes import Frame, Moment, epoch_of, frame_for, moment, write_offset

MIME = "text/x-vcalendar"
#: The properties a DevInf CTCap for this type can list (what is read and written).
CTCAP = ("BEGIN", "END", "VERSION", "TZ", "DAYLIGHT", "UID", "SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART",
         "DTEND", "DUE", "COMPLETED", "RRULE", "EXDATE", "RDATE", "AALARM", "DALARM", "CATEGORIES", "RESOURCES",
         "CLASS", "STATUS", "PRIORITY", "TRANSP", "ATTENDEE", "URL", "SEQUENCE", "DCREATED", "LAST-MODIFIED",
         "X-FUNAMBOL-ALLDAY")
PRODID = "-//smsync//SyncML vCalendar 1.0//EN"
#: Most DAYLIGHT lines written for one item (one per year it covers).
DAYLIGHT_YEARS = 3

_EPOCH = datetime(1970, 1, 1)
_TEXT = ("SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "CONTACT")
_LISTS = ("CATEGORIES", "RESOURCES")
#: Properties read and written as they are.
_RAW = ("UID", "URL", "SEQUENCE", "RELATED-TO", "CLASS")
#: What a 1.0 device sends back whenever the item has it (see ``merge``).
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART", "DTEND", "DUE",
                           "COMPLETED", "RRULE", "EXDATE", "CLASS", "CATEGORIES", "STATUS",
                           "PRIORITY"})
_EVENT_STATUS = {"TENTATIVE": "TENTATIVE", "CONFIRMED": "CONFIRMED", "CANCELLED": "DECLINED"}
_EVENT_STATUS_BACK = {"TENTATIVE": "TENTATIVE", "CONFIRMED": "CONFIRMED", "DECLINED": "CANCELLED",
                      "ACCEPTED": "CONFIRMED"}
_TODO_STATUS = {"NEEDS-ACTION": "NEEDS ACTION", "COMPLETED": "COMPLETED", "IN-PROCESS": "ACCEPTED",
                "CANCELLED": "DECLINED"}
_TODO_STATUS_BACK = {"NEEDS ACTION": "NEEDS-ACTION", "NEEDS-ACTION": "NEEDS-ACTION", "COMPLETED": "COMPLETED",
                     "ACCEPTED": "IN-PROCESS", "IN-PROCESS": "IN-PROCESS", "DECLINED": "CANCELLED",
                     "SENT": "NEEDS-ACTION", "TENTATIVE": "NEEDS-ACTION", "CONFIRMED": "NEEDS-ACTION",
                     "DELEGATED": "NEEDS-ACTION"}
_PARTSTAT = {"ACCEPTED": "ACCEPTED", "DECLINED": "DECLINED", "TENTATIVE": "TENTATIVE",
             "DELEGATED": "DELEGATED", "NEEDS-ACTION": "NEEDS ACTION", "COMPLETED": "COMPLETED"}
_PARTSTAT_BACK = {"ACCEPTED": "ACCEPTED", "DECLINED": "DECLINED", "TENTATIVE": "TENTATIVE",
                  "DELEGATED": "DELEGATED", "NEEDS ACTION": "NEEDS-ACTION", "SENT": "NEEDS-ACTION",
                  "CONFIRMED": "ACCEPTED", "COMPLETED": "COMPLETED"}
_EXPECT = {"REQ-PARTICIPANT": "REQUIRE", "OPT-PARTICIPANT": "REQUEST", "NON-PARTICIPANT": "FYI"}
_EXPECT_BACK = {v: k for k, v in _EXPECT.items()} | {"IMMEDIATE": "REQ-PARTICIPANT"}


# -- reading ------------------------------------------------------------------------------


def _text(value: str) -> str:
    return escape_text(unescape_legacy(value))


def _list(value: str) -> str:
    return ",".join(escape_text(v) for v in split_legacy(value))


def _attendee(prop: Property, value: str) -> Property:
    text = value.strip()
    m = re.match(r"^(.*?)\s*<([^<>]*)>\s*$", text)
    name, address = (m.group(1).strip().strip('"'), m.group(2).strip()) if m else ("", text)
    if address.lower().startswith("mailto:"):
        address = address[7:]
    role = (prop.param("ROLE") or "ATTENDEE").upper()
    params = []
    if name:
        params.append(("CN", [name]))
    if role == "ORGANIZER":
        return Property("ORGANIZER", f"mailto:{address}", params)
    expect = (prop.param("EXPECT") or "").upper()
    if expect in _EXPECT_BACK:
        params.append(("ROLE", [_EXPECT_BACK[expect]]))
    status = (prop.param("STATUS") or "").upper()
    if status in _PARTSTAT_BACK:
        params.append(("PARTSTAT", [_PARTSTAT_BACK[status]]))
    if (prop.param("RSVP") or "").upper() in ("YES", "TRUE"):
        params.append(("RSVP", ["TRUE"]))
    return Property("ATTENDEE", f"mailto:{address}", params)


def _alarms(item: Component, frame: Frame, alarms: list[tuple[str, list[str]]], anchor) -> list[Component]:
    """VALARMs for the item's AALARM/DALARM values (display and sound alarms at the same
    time are one alarm)."""
    out: dict[object, Component] = {}
    for name, parts in alarms:
        parts = parts + [""] * 4
        if not parts[0].strip():
            continue
        run = moment(parts[0])
        props = []
        if anchor is not None and not (run.kind == "instant" and not anchor[2]):
            related, base, _ = anchor
            trigger = Property("TRIGGER", format_duration(epoch_of(frame, run) - base),
                               [("RELATED", ["END"])] if related == "END" else [])
        else:
            # No start, or a UTC alarm time for a start in no zone: the alarm's instant
            # is all that can be told.
            trigger = Property("TRIGGER", frame.utc(run), [("VALUE", ["DATE-TIME"])])
        key = (trigger.value, str(trigger.params))
        alarm = out.get(key)
        if alarm is None:
            alarm = out[key] = Component("VALARM", [Property("ACTION", "AUDIO"), trigger])
            snooze, repeat = parts[1].strip(), parts[2].strip()
            if repeat.isdigit() and int(repeat) > 0 and snooze:
                try:
                    parse_duration(snooze)
                    props += [Property("REPEAT", str(int(repeat))), Property("DURATION", snooze.upper())]
                except InvalidData:
                    pass
            alarm.properties += props
        if name == "DALARM":
            alarm.properties[0].value = "DISPLAY"
            text = parts[3].strip() or unescape_text(item.value("SUMMARY") or "") or "Reminder"
            alarm.properties = [p for p in alarm.properties if p.name != "DESCRIPTION"]
            alarm.properties.append(Property("DESCRIPTION", _text(text)))
    return list(out.values())


def _all_day(item: Component, values: dict) -> bool:
    start, end = values.get("DTSTART"), values.get("DTEND")
    flag = (values.get("X-FUNAMBOL-ALLDAY") or "").strip().upper() in ("1", "TRUE", "YES")
    if start is None:
        return False
    if start.kind == "date":
        return True
    if start.kind != "floating" or start.local.time() != datetime.min.time():
        return flag and start.local.time() == datetime.min.time()
    if flag or (values.get("X-EPOCAGENDAENTRYTYPE") or "").strip().upper() in ("EVENT", "ANNIVERSARY"):
        return True
    return end is not None and end.kind == "floating" and end.local.strftime("%H%M") in ("2359",)


def read_vcalendar(data: bytes, kind: str, stored: Optional[StoredZone] = None) -> Component:
    """A vCalendar 1.0 item as a VCALENDAR (2.0) with one ``kind`` (VEVENT or VTODO) and
    the VTIMEZONE its times use. ``stored`` is the zone of the item it replaces (kept
    when the device's zone agrees). Items already in 2.0 are returned as they are."""
    text = join_soft_breaks(device_text(data))
    roots = parse_components(text.encode("utf-8"))
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("a vCalendar item is exactly one VCALENDAR")
    vcal = roots[0]
    if (vcal.value("VERSION") or "1.0").strip() == "2.0":
        return vcal
    items = [c for c in vcal.components if c.name in ("VEVENT", "VTODO")]
    if len(items) != 1:
        raise InvalidData("a vCalendar item holds exactly one VEVENT or VTODO")
    (device,) = items
    if device.name != kind:
        raise InvalidData(f"expected a {kind}, not a {device.name}")
    frame = frame_for(vcal, device, stored)
    values: dict[str, Optional[Moment]] = {}
    raw: dict[str, str] = {}
    decoded = []
    for prop in device.properties:
        value = decode_value(prop)
        decoded.append((prop, value))
        raw.setdefault(prop.name, value)
        if prop.name in ("DTSTART", "DTEND", "DUE") and value.strip():
            values[prop.name] = moment(value)
    values["X-FUNAMBOL-ALLDAY"] = raw.get("X-FUNAMBOL-ALLDAY")
    values["X-EPOCAGENDAENTRYTYPE"] = raw.get("X-EPOCAGENDAENTRYTYPE")
    all_day = kind == "VEVENT" and _all_day(device, values)
    head = values.get("DTSTART") or values.get("DUE")
    if all_day:
        shape = "date"
    elif head is not None:
        shape = frame.shape(head)
    else:
        shape = "zone" if frame.target is not None else "utc"
    item = Component(kind)
    alarms = []
    start_local = head.local if head is not None else datetime(2000, 1, 1)
    for prop, value in decoded:
        name = prop.name
        if name in ("DTSTART", "DTEND", "DUE"):
            if not value.strip():
                continue
            m = values[name]
            if all_day:
                if name == "DTEND":
                    day = m.local.date()
                    if m.kind == "date" or m.local.time() != datetime.min.time() or day <= values["DTSTART"].local.date():
                        day += timedelta(days=1)
                    m = Moment("date", datetime.combine(day, datetime.min.time()))
                item.properties.append(Property(name, m.local.strftime("%Y%m%d"), [("VALUE", ["DATE"])]))
                continue
            own = "date" if m.kind == "date" and (name == "DUE" or shape == "date") else shape
            if own == "date" and m.kind != "date":
                own = frame.shape(m)
            v, params = frame.value(m, own)
            item.properties.append(Property(name, v, params))
        elif name in ("EXDATE", "RDATE"):
            moments = [moment(v) for v in re.split(r"[;,]", value) if v.strip()]
            if not moments:
                continue
            values_out, params = [], []
            for m in moments:
                v, params = frame.value(m, shape)
                values_out.append(v)
            item.properties.append(Property(name, ",".join(values_out), params))
        elif name in ("COMPLETED", "LAST-MODIFIED", "DCREATED", "CREATED"):
            if value.strip():
                m = moment(value)
                if m.kind == "date":
                    m = Moment("floating", m.local)
                item.properties.append(Property("CREATED" if name == "DCREATED" else name, frame.utc(m)))
        elif name == "RRULE":
            if not value.strip():
                continue
            rule, end = read_rule(value, start_local)
            if end is not None:
                if shape == "date":
                    until = end.local.strftime("%Y%m%d")
                elif shape == "floating":
                    until = end.local.strftime("%Y%m%dT%H%M%S")
                else:
                    if end.kind != "instant" and end.local.time() == datetime.min.time():
                        # A last day given as a date or its local midnight: up to its end.
                        end = Moment("floating", end.local + timedelta(days=1, seconds=-1))
                    until = frame.utc(end)
                rule += f";UNTIL={until}"
            item.properties.append(Property("RRULE", rule))
        elif name in ("AALARM", "DALARM"):
            alarms.append((name, split_raw(value, ";")))
        elif name in _TEXT:
            item.properties.append(Property(name, _text(value)))
        elif name in _LISTS:
            if value.strip():
                item.properties.append(Property(name, _list(value)))
        elif name in _RAW:
            if value.strip():
                item.properties.append(Property(name, value.strip().upper() if name == "CLASS" else value.strip()))
        elif name == "STATUS":
            table = _EVENT_STATUS_BACK if kind == "VEVENT" else _TODO_STATUS_BACK
            status = table.get(value.strip().upper())
            if status:
                item.properties.append(Property("STATUS", status))
        elif name == "PRIORITY":
            if value.strip().isdigit():
                n = int(value.strip())
                item.properties.append(Property("PRIORITY", {0: "0", 1: "1", 2: "5"}.get(n, "9")))
        elif name == "TRANSP":
            v = value.strip().upper()
            item.properties.append(Property("TRANSP", "OPAQUE" if v in ("0", "OPAQUE") else "TRANSPARENT"))
        elif name == "ATTENDEE":
            if value.strip():
                item.properties.append(_attendee(prop, value))
        elif name.startswith("X-") and name not in ("X-FUNAMBOL-ALLDAY", "X-EPOCAGENDAENTRYTYPE", "X-IRMC-LUID"):
            item.properties.append(Property(name, _text(value), [p for p in prop.params if p[0] != "TYPE"]))
    if alarms:
        anchor = None
        for related, prop_name in (("START", "DTSTART"), ("END", "DUE")):
            if item.get(prop_name) is not None:
                when = values[prop_name]
                if when.kind == "date":
                    when = Moment("floating", when.local)
                anchor = (related, epoch_of(frame, when), frame.instant(when) is not None)
                break
        item.components = _alarms(item, frame, alarms, anchor)
    zones = frame.vtimezones if any(p.param("TZID") for p in item.properties) else []
    return new_calendar(item, zones)


# -- writing ------------------------------------------------------------------------------


def _line(name: str, value: str, params: list[str] = ()) -> str:
    head = ";".join([name, *params])
    if needs_qp(value) or len(head) + len(value) > 74:
        return f"{head};ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:{qp_encode(value)}\r\n"
    return f"{head}:{value}\r\n"


def _when(t: Time, prop: Property) -> str:
    if t.is_date:
        return t.local.strftime("%Y%m%d")
    if prop.param("TZID") is None and not prop.value.strip().upper().endswith("Z"):
        return t.local.strftime("%Y%m%dT%H%M%S")
    return (_EPOCH + timedelta(seconds=t.epoch)).strftime("%Y%m%dT%H%M%SZ")


def _years(item: Component, zones) -> list[int]:
    start = item.get("DTSTART") or item.get("DUE")
    first = prop_time(start, zones).local.year
    last = first
    rule = item.value("RRULE")
    if rule is not None:
        parts = dict(p.partition("=")[::2] for p in rule.upper().split(";") if p)
        if "UNTIL" in parts:
            try:
                last = parse_time(parts["UNTIL"], None).local.year
            except InvalidData:
                last = first
        elif "COUNT" not in parts:
            last = max(first, datetime.now(timezone.utc).year) + DAYLIGHT_YEARS
    return list(range(first, min(last, first + DAYLIGHT_YEARS - 1) + 1)) if last >= first else [first]


def _zone_lines(cal: Component, item: Component, zones) -> list[str]:
    zone = stored_zone(cal, item)
    if zone is None:
        return []
    source = zone.vtimezone if zone.vtimezone is not None else zone.tzid
    lines = []
    std_written = False
    for year in _years(item, zones):
        try:
            info = info_from_zone(source, year)
        except InvalidData:
            info = info_from_zone(ZoneInfo("UTC"), year)
        if not std_written:
            lines.append(f"TZ:{write_offset(info.standard_offset)}\r\n")
            std_written = True
        if info.has_dst:
            begin = info.daylight_date.local(year).strftime("%Y%m%dT%H%M%S")
            end = info.standard_date.local(year).strftime("%Y%m%dT%H%M%S")
            names = ";".join(n.replace(";", " ") for n in (info.standard_name, info.daylight_name))
            lines.append(f"DAYLIGHT:TRUE;{write_offset(info.daylight_offset)};{begin};{end};{names}\r\n")
    if len(lines) == 1:
        lines.append("DAYLIGHT:FALSE\r\n")
    return lines


def _write_alarm(alarm: Component, item: Component, zones) -> list[str]:
    action = (alarm.value("ACTION") or "").strip().upper()
    if action not in ("AUDIO", "DISPLAY"):
        return []
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return []
    if (trigger.param("VALUE") or "").upper() == "DATE-TIME":
        when = trigger.value.strip()
    else:
        related = (trigger.param("RELATED") or "START").upper()
        anchor_prop = item.get("DTSTART") if related == "START" else (item.get("DTEND") or item.get("DUE"))
        if anchor_prop is None:
            anchor_prop = item.get("DTSTART") or item.get("DUE")
        if anchor_prop is None:
            return []
        anchor = prop_time(anchor_prop, zones)
        shift = timedelta(seconds=parse_duration(trigger.value).total)
        floating = anchor.is_date or (anchor_prop.param("TZID") is None and not anchor_prop.value.strip().upper().endswith("Z"))
        if floating:
            when = (anchor.local + shift).strftime("%Y%m%dT%H%M%S")
        else:
            when = (_EPOCH + timedelta(seconds=anchor.epoch) + shift).strftime("%Y%m%dT%H%M%SZ")
    snooze = repeat = ""
    if (alarm.value("REPEAT") or "").strip().isdigit() and alarm.get("DURATION") is not None:
        snooze, repeat = alarm.value("DURATION").strip(), str(int(alarm.value("REPEAT")))
    out = [_line("AALARM", f"{when};{snooze};{repeat or '0'};")]
    if action == "DISPLAY":
        text = escape_legacy(unescape_text(alarm.value("DESCRIPTION") or ""), ";")
        out.append(_line("DALARM", f"{when};{snooze};{repeat or '0'};{text}"))
    return out


def _write_attendee(prop: Property) -> str:
    address = unescape_text(prop.value).strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    name = prop.param("CN")
    value = f"{name} <{address}>" if name else address
    if prop.name == "ORGANIZER":
        return _line("ATTENDEE", value, ["ROLE=ORGANIZER"])
    params = ["ROLE=ATTENDEE"]
    status = _PARTSTAT.get((prop.param("PARTSTAT") or "NEEDS-ACTION").upper())
    if status:
        params.append(f"STATUS={status}")
    expect = _EXPECT.get((prop.param("ROLE") or "REQ-PARTICIPANT").upper())
    if expect:
        params.append(f"EXPECT={expect}")
    if (prop.param("RSVP") or "").upper() == "TRUE":
        params.append("RSVP=YES")
    return _line("ATTENDEE", value, params)


def write_vcalendar(data: bytes, kind: str) -> bytes:
    """The stored object's master ``kind`` as vCalendar 1.0 bytes."""
    cal = load_calendar(data)
    item = master_of(cal, kind)
    zones = zones_of(cal)
    head = item.get("DTSTART") or item.get("DUE")
    lines = ["BEGIN:VCALENDAR\r\n", "VERSION:1.0\r\n", f"PRODID:{PRODID}\r\n"]
    if head is not None:
        lines += _zone_lines(cal, item, zones)
    lines.append(f"BEGIN:{kind}\r\n")
    start_prop = item.get("DTSTART")
    start = prop_time(start_prop, zones) if start_prop is not None else None
    all_day = kind == "VEVENT" and start is not None and start.is_date
    for prop in item.properties:
        name = prop.name
        if name in ("DTSTART", "DTEND", "DUE"):
            t = prop_time(prop, zones)
            if all_day and name == "DTSTART":
                lines.append(f"DTSTART:{t.local:%Y%m%d}T000000\r\n")
            elif all_day and name == "DTEND":
                last = max(t.local - timedelta(days=1), start.local)
                lines.append(f"DTEND:{last:%Y%m%d}T235900\r\n")
            else:
                lines.append(f"{name}:{_when(t, prop)}\r\n")
        elif name == "DURATION" and kind == "VEVENT" and start is not None and item.get("DTEND") is None:
            d = parse_duration(prop.value)
            if all_day:
                last = start.local + timedelta(days=max(d.days, 1) - 1)
                lines.append(f"DTEND:{last:%Y%m%d}T235900\r\n")
            else:
                end = Time(start.local + timedelta(days=d.days, seconds=d.seconds), start.zone)
                lines.append(f"DTEND:{_when(end, start_prop)}\r\n")
        elif name in ("EXDATE", "RDATE"):
            if (prop.param("VALUE") or "").upper() == "PERIOD":
                continue
            times = [t for t, _ in prop_times(prop, zones)]
            if all_day:
                text = ";".join(f"{t.local:%Y%m%d}T000000" for t in times)
            else:
                text = ";".join(_when(t, prop) for t in times)
            if text:
                lines.append(f"{name}:{text}\r\n")
        elif name in ("COMPLETED", "LAST-MODIFIED", "CREATED"):
            t = prop_time(prop, zones)
            out_name = "DCREATED" if name == "CREATED" else name
            lines.append(f"{out_name}:{(_EPOCH + timedelta(seconds=t.epoch)):%Y%m%dT%H%M%SZ}\r\n")
        elif name == "RRULE" and start is not None:
            written = write_rule(prop.value, start.local)
            if written is None:
                continue
            text, until = written
            if until is not None:
                try:
                    u = parse_time(until, None)
                except InvalidData:
                    continue
                if u.is_date:
                    until_text = f"{u.local:%Y%m%d}T000000" if all_day else f"{u.local:%Y%m%d}T235959"
                else:
                    until_text = until if until.endswith("Z") else f"{u.local:%Y%m%dT%H%M%S}"
                text = f"{text} {until_text}"
            lines.append(f"RRULE:{text}\r\n")
        elif name in _TEXT:
            lines.append(_line(name, escape_legacy(unescape_text(prop.value))))
        elif name in _LISTS:
            items = [unescape_text(v).strip() for v in split_raw(prop.value, ",")]
            lines.append(_line(name, ";".join(escape_legacy(v, ",;") for v in items if v)))
        elif name in _RAW:
            lines.append(_line(name, prop.value if name != "UID" else unescape_text(prop.value)))
        elif name == "STATUS":
            table = _EVENT_STATUS if kind == "VEVENT" else _TODO_STATUS
            status = table.get(prop.value.strip().upper())
            if status:
                lines.append(f"STATUS:{status}\r\n")
        elif name == "PRIORITY":
            v = prop.value.strip()
            if v.isdigit() and 1 <= int(v) <= 9:
                lines.append(f"PRIORITY:{1 if int(v) <= 4 else 2 if int(v) == 5 else 3}\r\n")
        elif name == "TRANSP":
            lines.append(f"TRANSP:{1 if prop.value.strip().upper() == 'TRANSPARENT' else 0}\r\n")
        elif name in ("ATTENDEE", "ORGANIZER"):
            lines.append(_write_attendee(prop))
        elif name.startswith("X-"):
            params = [f"{k}={','.join(v)}" for k, v in prop.params if k.startswith("X-")]
            lines.append(_line(name, escape_legacy(unescape_text(prop.value)), params))
    if all_day:
        lines.append("X-FUNAMBOL-ALLDAY:1\r\n")
    for alarm in item.components:
        if alarm.name == "VALARM":
            lines += _write_alarm(alarm, item, zones)
    lines += [f"END:{kind}\r\n", "END:VCALENDAR\r\n"]
    return "".join(lines).encode("utf-8")


def _stored_zone_of(previous: Optional[bytes], kind: str) -> Optional[StoredZone]:
    if previous is None:
        return None
    cal = load_calendar(previous)
    return stored_zone(cal, master_of(cal, kind))


def _format(kind: CollectionKind, component: str) -> Format:
    @guarded
    def from_canonical(data: bytes) -> bytes:
        return write_vcalendar(data, component)

    @guarded
    def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
        zone = _stored_zone_of(previous, component)
        sent = read_vcalendar(data, component, zone)
        return to_canonical_calendar(
            sent, component, previous,
            lambda stored: read_vcalendar(write_vcalendar(stored, component), component, zone),
            AUTHORITATIVE)

    from_canonical.__doc__ = f"The stored {component} as vCalendar 1.0."
    to_canonical.__doc__ = (f"A vCalendar 1.0 {component} as the iCalendar object to store "
                            "(see ``calendars.to_canonical_calendar``).")
    return register(Format(kind, MIME, "1.0", to_canonical, from_canonical))


EVENTS = _format(CollectionKind.CALENDAR, "VEVENT")
TASKS = _format(CollectionKind.TASKS, "VTODO")
FORMATS = {"VEVENT": EVENTS, "VTODO": TASKS}

