"""SIF-E (``text/x-s4j-sife``): appointments as Funambol's Outlook client sends them, to
and from the stored VEVENT.

Subject, Body, Location, Categories are SUMMARY, DESCRIPTION, LOCATION, CATEGORIES;
Start and End are UTC (``20261206T080000Z``), or dates with ``AllDayEvent`` 1 (End the
last day); Sensitivity is CLASS, BusyStatus TRANSP (with Microsoft's
X-MICROSOFT-CDO-BUSYSTATUS for tentative and out of office), Importance PRIORITY;
``ReminderSet``/``ReminderMinutesBeforeStart`` the first alarm; the recurrence pattern,
its Exceptions and the ``Timezone`` block go through vCalendar 1.0 (``sifcal``), so
times, zones and rules are read and kept exactly as for a phone. Other fields are kept
as ``X-SIF-`` properties. A Replace is merged into the stored event: attendees,
overrides and alarm details stay.
"""

from __future__ import annotations

from typing import Optional

from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register, sif, sifcal
from smsync.protocols.syncml.formats.calendars import load_calendar, master_of, stored_zone, to_canonical_calendar
from smsync.protocols.syncml.formats.sifcal import alarm_text as _alarm_text
from smsync.protocols.syncml.formats.support import guarded
from smsync.protocols.syncml.formats.vcalendar10 import read_vcalendar, write_vcalendar

MIME = "text/x-s4j-sife"
ROOT = "appointment"
KIND = "VEVENT"
_KNOWN = {"SIFVersion", "Subject", "Body", "Location", "Categories", "Sensitivity", "BusyStatus", "Importance",
          "Start", "End", "AllDayEvent", "ReminderSet", "ReminderMinutesBeforeStart", "IsRecurring",
          "RecurrenceType", "Interval", "DayOfWeekMask", "DayOfMonth", "Instance", "MonthOfYear",
          "PatternStartDate", "PatternEndDate", "NoEndDate", "Occurrences", "Exceptions", "Timezone",
          "Duration"}
_DEFAULTS = {"Importance": "1", "MeetingStatus": "0", "ReminderOptions": "0"}
_BUSY = {"0": None, "1": "TENTATIVE", "2": None, "3": "OOF"}
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "CATEGORIES", "CLASS", "DTSTART", "DTEND",
                           "RRULE", "EXDATE", "TRANSP", "PRIORITY"})


def sife_to_vcal(data: bytes) -> bytes:
    """The vCalendar 1.0 item a SIF-E appointment stands for."""
    f = sif.read(data, ROOT)
    vcal = sifcal.VCal(KIND)
    sifcal.add_timezone(vcal, f)
    all_day = sif.flag(f, "AllDayEvent")
    start = sifcal.time_text(sif.text(f, "Start"))
    end = sifcal.time_text(sif.text(f, "End"))
    if all_day and start:
        start = start[:8] + "T000000"
        end = (end or start)[:8] + "T235900"
        vcal.add("X-FUNAMBOL-ALLDAY", "1")
    vcal.add("DTSTART", start)
    vcal.add("DTEND", end)
    vcal.add("SUMMARY", sif.body(f, "Subject"))
    vcal.add("DESCRIPTION", sif.body(f, "Body"))
    vcal.add("LOCATION", sif.body(f, "Location"))
    vcal.add("CATEGORIES", sifcal.vcal_categories(sif.text(f, "Categories")))
    vcal.add("CLASS", sif.sensitivity_class(sif.text(f, "Sensitivity")))
    busy = sif.text(f, "BusyStatus")
    if busy is not None:
        vcal.add("TRANSP", "1" if busy == "0" else "0")
        vcal.add("X-MICROSOFT-CDO-BUSYSTATUS", _BUSY.get(busy))
    importance = sif.text(f, "Importance")
    vcal.add("PRIORITY", {"2": "1", "0": "3"}.get(importance or ""))
    sifcal.add_recurrence(vcal, f, start, all_day)
    minutes = sif.text(f, "ReminderMinutesBeforeStart")
    if sif.flag(f, "ReminderSet") and start and minutes and minutes.lstrip("-").isdigit():
        when = sifcal.alarm_at(start, int(minutes))
        vcal.add("AALARM", f"{when};;0;")
        vcal.add("DALARM", f"{when};;0;{_alarm_text(sif.body(f, 'Subject'))}")
    for tag, value in f.items():
        if tag not in _KNOWN and isinstance(value, str) and _DEFAULTS.get(tag) != value.strip():
            prop = sif.extra_property(tag, value)
            vcal.add(prop.name, value, [f"X-TAG={tag}"])
    return vcal.bytes()


def vcal_to_sife(data: bytes) -> bytes:
    """SIF-E for a vCalendar 1.0 event written by ``write_vcalendar``."""
    head, item = sifcal.parse_vcal(data)
    all_day = (item.value("X-FUNAMBOL-ALLDAY") or "") == "1"
    start, end = item.value("DTSTART"), item.value("DTEND")
    fields: list = []
    fields.append(("Subject", item.value("SUMMARY")))
    fields.append(("Body", item.value("DESCRIPTION")))
    fields.append(("Location", item.value("LOCATION")))
    fields.append(("Categories", sifcal.sif_categories(item)))
    fields.append(("AllDayEvent", "1" if all_day else "0"))
    if all_day:
        fields += [("Start", sifcal.sif_date(start)), ("End", sifcal.sif_date(end or start))]
    else:
        fields += [("Start", start), ("End", end)]
    klass = (item.value("CLASS") or "").upper()
    fields.append(("Sensitivity", {"X-PERSONAL": "1", "PRIVATE": "2", "CONFIDENTIAL": "3"}.get(klass, "0")))
    busy = (item.value("X-MICROSOFT-CDO-BUSYSTATUS") or "").upper()
    transparent = (item.value("TRANSP") or "0") != "0"
    fields.append(("BusyStatus", "0" if transparent else {"TENTATIVE": "1", "OOF": "3"}.get(busy, "2")))
    fields.append(("Importance", {"1": "2", "3": "0"}.get(item.value("PRIORITY") or "", "1")))
    minutes = sifcal.reminder_minutes(item, start)
    fields.append(("ReminderSet", "1" if minutes is not None else "0"))
    if minutes is not None:
        fields.append(("ReminderMinutesBeforeStart", str(minutes)))
    fields += sifcal.recurrence_fields(item, start, all_day)
    fields.append(("Timezone", sifcal.timezone_field(head)))
    for prop in item.properties:
        if prop.name.startswith(sif.EXTRA):
            fields.append((prop.param("X-TAG") or prop.name[len(sif.EXTRA):].title(), prop.value))
    return sif.write(ROOT, fields)


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored event as SIF-E."""
    return vcal_to_sife(write_vcalendar(data, KIND))


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A SIF-E appointment as the iCalendar object to store
    (``calendars.to_canonical_calendar``)."""
    zone = None
    if previous is not None:
        cal = load_calendar(previous)
        zone = stored_zone(cal, master_of(cal, KIND))
    sent = read_vcalendar(sife_to_vcal(data), KIND, zone)
    return to_canonical_calendar(sent, KIND, previous,
                                 lambda stored: read_vcalendar(sife_to_vcal(from_canonical(stored)), KIND, zone),
                                 AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.CALENDAR, MIME, "1.1", to_canonical, from_canonical))
