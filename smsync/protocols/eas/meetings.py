"""Meeting messages as EAS shows them (MS-ASEMAIL 2.2.2.48 MeetingRequest): the
MessageClass of a message carrying an iTIP object, its ``Email:MeetingRequest``
element, and the GlobalObjId (MS-ASEMAIL 2.2.2.37, MS-OXOCAL PidLidGlobalObjectId)
that ties the message to the calendar item the device keeps under the same UID.

The iTIP object is read by ``smsync.scheduling``; the event fields are shown as the
Calendar converter shows them (same BusyStatus, Sensitivity, Reminder and Recurrence
rules), in the Email namespace's forms: long dates, a reminder in seconds.
"""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import datetime, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, parse_components
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.eas import calendar as cal
from smsync.protocols.eas.convert import BASE, ConversionError, eas_date, parse_eas_date
from smsync.protocols.eas.timezone import blob_from_zone
from smsync.protocols.eas.wbxml import Element
from smsync.scheduling import itip

EMAIL, EMAIL2 = "Email:", "Email2:"

REQUEST_CLASS = "IPM.Schedule.Meeting.Request"
CANCELED_CLASS = "IPM.Schedule.Meeting.Canceled"
#: The class of a reply, by the replying attendee's PARTSTAT.
RESPONSE_CLASS = {"ACCEPTED": "IPM.Schedule.Meeting.Resp.Pos",
                  "TENTATIVE": "IPM.Schedule.Meeting.Resp.Tent",
                  "DECLINED": "IPM.Schedule.Meeting.Resp.Neg"}

#: InstanceType (MS-ASEMAIL 2.2.2.39).
SINGLE, RECURRING_MASTER, EXCEPTION = "0", "1", "3"
#: MeetingMessageType (MS-ASEMAIL 2.2.2.49, 14.1 and later).
INITIAL_REQUEST, FULL_UPDATE = "1", "2"

#: The PidLidGlobalObjectId class id every GlobalObjId starts with.
CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")
_VCAL = b"vCal-Uid" + struct.pack("<I", 1)


def global_obj_id(uid: str, instance: Optional[datetime] = None) -> bytes:
    """The GlobalObjId bytes of ``uid`` (base64 them for the element).

    A UID Outlook wrote (the hex of a PidLidGlobalObjectId, MS-OXCICAL 2.1.3.1.1.20.26)
    is its own bytes; any other UID travels whole as a ``vCal-Uid`` id, which devices
    turn back into the UID (MS-ASEMAIL 3.1.4.7). ``instance`` names one occurrence (its
    date goes in the instance bytes). The creation time is left zero: the id must be the
    same each time the message is shown.
    """
    date = b"\0\0\0\0" if instance is None else struct.pack(">HBB", instance.year, instance.month, instance.day)
    text = uid.strip()
    if len(text) >= 80 and text[:32].upper() == CLASS_ID.hex().upper():
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) >= 40 and len(raw) == 40 + struct.unpack("<I", raw[36:40])[0]:
            return raw[:16] + date + raw[20:]
    data = _VCAL + text.encode("utf-8") + b"\0"
    return CLASS_ID + date + bytes(8) + bytes(8) + struct.pack("<I", len(data)) + data


def uid_of_global_obj_id(raw: bytes) -> str:
    """The UID a device derives from GlobalObjId bytes (MS-ASEMAIL 3.1.4.7): the
    ``vCal-Uid`` text, else the hex of the id with its instance date zeroed.

    Raises:
        ValueError: not a GlobalObjId.
    """
    if len(raw) < 40 or raw[:16] != CLASS_ID:
        raise ValueError("not a GlobalObjId")
    size = struct.unpack("<I", raw[36:40])[0]
    data = raw[40:40 + size]
    if len(data) != size:
        raise ValueError("a GlobalObjId cut short")
    if data.startswith(_VCAL) and data.endswith(b"\0"):
        return data[len(_VCAL):-1].decode("utf-8")
    return (raw[:16] + bytes(4) + raw[20:40 + size]).hex().upper()


def message_class(method: str, ics: Optional[bytes], account: Optional[str]) -> Optional[str]:
    """The MessageClass of a message whose iTIP part has METHOD ``method`` (None: not a
    meeting message)."""
    method = (method or "").upper()
    if method == itip.REQUEST:
        return REQUEST_CLASS
    if method == itip.CANCEL:
        return CANCELED_CLASS
    if method == itip.REPLY and ics is not None:
        try:
            attendees = itip.parse_itip(ics).attendees
        except InvalidData:
            return None
        if attendees:
            return RESPONSE_CLASS.get(attendees[0].partstat)
    return None


def _version(version: Optional[str]) -> tuple[int, int]:
    return cal._version(version or "16.1")


def _organizer(comp: Component) -> Optional[str]:
    prop = comp.get("ORGANIZER")
    if prop is None:
        return None
    address = itip.address_of(prop.value)
    name = (prop.param("CN") or "").strip()
    return f'"{name}" <{address}>' if name else address


def _long(epoch: int) -> str:
    return eas_date(datetime.fromtimestamp(epoch, timezone.utc))


def _recurrences(comp: Component, start, zones, ver) -> Optional[Element]:
    """``Email:Recurrences`` of the master's RRULE where the Calendar converter can
    express it; the Email schema's order, FirstDayOfWeek in Email2 (14.1+)."""
    shown = cal._recurrence(comp, start, zones, ver)
    if shown is None:
        return None
    fields = {c.tag: c.text for c in shown.children}
    order = ("Type", "Interval", "Until", "Occurrences", "WeekOfMonth", "DayOfMonth", "DayOfWeek", "MonthOfYear")
    children = [Element(EMAIL, tag, (), fields[tag]) for tag in order if tag in fields]
    if "Until" in fields:  # the Email namespace writes it in the long form
        try:
            children = [Element(EMAIL, "Until", (), eas_date(parse_eas_date(fields["Until"])))
                        if c.tag == "Until" else c for c in children]
        except ConversionError:
            pass
    if "FirstDayOfWeek" in fields and ver >= (14, 1):
        children.append(Element(EMAIL2, "FirstDayOfWeek", (), fields["FirstDayOfWeek"]))
    return Element(EMAIL, "Recurrences", (Element(EMAIL, "Recurrence", tuple(children)),))


def meeting_request(ics: bytes, version: Optional[str] = None, account: Optional[str] = None,
                    now: Optional[datetime] = None) -> Element:
    """The ``Email:MeetingRequest`` of a message carrying ``ics`` (its iTIP REQUEST or
    CANCEL), for a device speaking ``version``; ``account`` is the attendee it is shown
    to (whose RSVP says ResponseRequested).

    Raises:
        ConversionError: ``ics`` holds no readable VEVENT.
    """
    try:
        return _meeting_request(ics, _version(version), account, now)
    except InvalidData as e:
        raise ConversionError(f"unreadable invitation: {e}"[:120]) from None
    except (ValueError, OverflowError) as e:
        if isinstance(e, ConversionError):
            raise
        raise ConversionError(f"unreadable invitation times: {e}"[:120]) from None


def _meeting_request(ics: bytes, ver, account, now) -> Element:
    roots = parse_components(ics)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise ConversionError("not one VCALENDAR")
    calendar = roots[0]
    events = [c for c in calendar.components if c.name == "VEVENT"]
    if not events:
        raise ConversionError("no VEVENT")
    zones = zones_of(calendar)
    master = cal._master(events)
    start, s, e = cal._times(master, zones)
    rid = master.get("RECURRENCE-ID")
    recurring = master.get("RRULE") is not None or master.get("RDATE") is not None
    out = [Element(EMAIL, "AllDayEvent", (), "1" if start.is_date else "0"),
           Element(EMAIL, "StartTime", (), _long(s))]
    stamp = master.get("DTSTAMP")
    try:
        stamped = prop_time(stamp, zones).epoch if stamp is not None else None
    except InvalidData:
        stamped = None
    out.append(Element(EMAIL, "DtStamp", (), _long(stamped) if stamped is not None
                       else eas_date(now or datetime.now(timezone.utc))))
    out.append(Element(EMAIL, "EndTime", (), _long(e)))
    out.append(Element(EMAIL, "InstanceType", (), EXCEPTION if rid is not None
                       else RECURRING_MASTER if recurring else SINGLE))
    location = cal._text(master, "LOCATION")
    if location:
        if ver >= (16, 0):
            out.append(Element(BASE, "Location", (Element(BASE, "DisplayName", (), location),)))
        else:
            out.append(Element(EMAIL, "Location", (), location))
    organizer = _organizer(master)
    if organizer:
        out.append(Element(EMAIL, "Organizer", (), organizer))
    instance = None
    if rid is not None:
        instance_time = prop_time(rid, zones)
        instance = datetime.fromtimestamp(instance_time.epoch, timezone.utc)
        out.append(Element(EMAIL, "RecurrenceId", (), _long(instance_time.epoch)))
    reminder = cal._reminder(master, start, e, zones)
    if reminder is not None:
        out.append(Element(EMAIL, "Reminder", (), str(int(reminder) * 60)))
    out.append(Element(EMAIL, "ResponseRequested", (), "1" if _rsvp(master, account) else "0"))
    if recurring and rid is None:
        recurrences = _recurrences(master, start, zones, ver)
        if recurrences is not None:
            out.append(recurrences)
    out.append(Element(EMAIL, "Sensitivity", (), cal._sensitivity(master)))
    out.append(Element(EMAIL, "BusyStatus", (), _intended_busy(master)))
    info = cal._zone_info(calendar, master.get("DTSTART"), zones, start.local.year)
    out.append(Element(EMAIL, "TimeZone", (), blob_from_zone(info, start.local.year)))
    uid = cal._text(master, "UID") or ""
    out.append(Element(EMAIL, "GlobalObjId", (), base64.b64encode(global_obj_id(uid, instance)).decode("ascii")))
    if ver >= (14, 0):
        disallow = (master.value("X-MICROSOFT-DISALLOW-COUNTER") or "").strip().upper() == "TRUE"
        out.append(Element(EMAIL, "DisallowNewTimeProposal", (), "1" if disallow else "0"))
    if ver >= (14, 1):
        first = (master.value("SEQUENCE") or "0").strip() in ("", "0")
        out.append(Element(EMAIL2, "MeetingMessageType", (), INITIAL_REQUEST if first else FULL_UPDATE))
    return Element(EMAIL, "MeetingRequest", tuple(out))


def _rsvp(comp: Component, account: Optional[str]) -> bool:
    """Whether the organizer asks ``account`` (else anyone) to answer."""
    attendees = comp.get_all("ATTENDEE")
    own = [a for a in attendees if account and itip.same_address(a.value, account)]
    return any((a.param("RSVP") or "").upper() == "TRUE" for a in (own or attendees))


def _intended_busy(comp: Component) -> str:
    intended = (comp.value("X-MICROSOFT-CDO-INTENDEDSTATUS") or "").strip().upper()
    return cal._BUSY.get(intended) or cal._busy(comp)


def decode_global_obj_id(text: str) -> Optional[str]:
    """The UID of a base64 GlobalObjId, or None when it is not one."""
    try:
        return uid_of_global_obj_id(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
