"""SIF-T (``text/x-s4j-sift``): tasks as Funambol's Outlook client sends them, to and
from the stored VTODO.

Subject, Body, Categories are SUMMARY, DESCRIPTION, CATEGORIES; StartDate and DueDate
DTSTART and DUE (dates, as Outlook's tasks have, or date-times); Complete,
DateCompleted and Status (0 not started, 1 in progress, 2 complete, 3 waiting, 4
deferred) are STATUS and COMPLETED (waiting and deferred kept in X-SIF-STATUS beside
NEEDS-ACTION); PercentComplete is PERCENT-COMPLETE; Importance PRIORITY; Sensitivity
CLASS; ``ReminderSet``/``ReminderTime`` the first alarm; the recurrence pattern goes
through vCalendar 1.0 (``sifcal``). Other fields are kept as ``X-SIF-`` properties. A
Replace is merged into the stored task.
"""

from __future__ import annotations

from typing import Optional

from smsync.formats.contentlines import Property
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register, sif, sifcal
from smsync.protocols.syncml.formats.calendars import (
    load_calendar,
    master_of,
    stored_zone,
    to_canonical_calendar,
)
from smsync.protocols.syncml.formats.sifcal import alarm_text as _alarm_text
from smsync.protocols.syncml.formats.support import guarded
from smsync.protocols.syncml.formats.vcalendar10 import read_vcalendar, write_vcalendar

MIME = "text/x-s4j-sift"
ROOT = "task"
KIND = "VTODO"
_KNOWN = {"SIFVersion", "Subject", "Body", "Categories", "Sensitivity", "Importance", "StartDate", "DueDate",
          "Complete", "DateCompleted", "Status", "PercentComplete", "ReminderSet", "ReminderTime",
          "IsRecurring", "RecurrenceType", "Interval", "DayOfWeekMask", "DayOfMonth", "Instance",
          "MonthOfYear", "PatternStartDate", "PatternEndDate", "NoEndDate", "Occurrences", "Exceptions",
          "Timezone"}
_DEFAULTS = {"Importance": "1", "TeamTask": "0", "ActualWork": "0", "TotalWork": "0"}
_STATUS = {"0": "NEEDS ACTION", "1": "ACCEPTED", "2": "COMPLETED", "3": "NEEDS ACTION", "4": "NEEDS ACTION"}
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION", "CATEGORIES", "CLASS", "DTSTART", "DUE", "STATUS",
                           "COMPLETED", "PERCENT-COMPLETE", "PRIORITY", "RRULE", "EXDATE", "X-SIF-STATUS"})


def _date(value: Optional[str]) -> Optional[str]:
    text = sifcal.time_text(value)
    if text is None or text.startswith("4501"):  # Outlook's "none" date
        return None
    return text


def read_sift(data: bytes, zone=None):
    """A SIF-T task as a VCALENDAR with one VTODO."""
    f = sif.read(data, ROOT)
    vcal = sifcal.VCal(KIND)
    sifcal.add_timezone(vcal, f)
    start, due = _date(sif.text(f, "StartDate")), _date(sif.text(f, "DueDate"))
    vcal.add("DTSTART", start)
    vcal.add("DUE", due)
    vcal.add("SUMMARY", sif.body(f, "Subject"))
    vcal.add("DESCRIPTION", sif.body(f, "Body"))
    vcal.add("CATEGORIES", sifcal.vcal_categories(sif.text(f, "Categories")))
    vcal.add("CLASS", sif.sensitivity_class(sif.text(f, "Sensitivity")))
    vcal.add("PRIORITY", {"2": "1", "0": "3"}.get(sif.text(f, "Importance") or ""))
    status = sif.text(f, "Status") or ("2" if sif.flag(f, "Complete") else None)
    if sif.flag(f, "Complete"):
        status = "2"
    vcal.add("STATUS", _STATUS.get(status or ""))
    if status in ("3", "4"):
        vcal.add("X-SIF-STATUS", status, ["X-TAG=Status"])
    completed = _date(sif.text(f, "DateCompleted"))
    if status == "2" and completed:
        vcal.add("COMPLETED", completed if "T" in completed else completed + "T000000")
    sifcal.add_recurrence(vcal, f, start or due, False)
    reminder = _date(sif.text(f, "ReminderTime"))
    if sif.flag(f, "ReminderSet") and reminder:
        vcal.add("AALARM", f"{reminder};;0;")
        vcal.add("DALARM", f"{reminder};;0;{_alarm_text(sif.body(f, 'Subject'))}")
    for tag, value in f.items():
        if tag not in _KNOWN and isinstance(value, str) and _DEFAULTS.get(tag) != value.strip():
            prop = sif.extra_property(tag, value)
            vcal.add(prop.name, value, [f"X-TAG={tag}"])
    cal = read_vcalendar(vcal.bytes(), KIND, zone)
    percent = sif.text(f, "PercentComplete")
    if percent and percent.isdigit() and 0 < int(percent) <= 100:
        master_of(cal, KIND).properties.append(Property("PERCENT-COMPLETE", str(int(percent))))
    return cal


def _sif_time(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    return sifcal.sif_date(text) if len(text) == 8 else text


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored task as SIF-T."""
    head, item = sifcal.parse_vcal(write_vcalendar(data, KIND))
    todo = master_of(load_calendar(data), KIND)
    start, due = item.value("DTSTART"), item.value("DUE")
    status = (item.value("STATUS") or "").upper()
    sif_status = {"NEEDS ACTION": "0", "ACCEPTED": "1", "COMPLETED": "2"}.get(status, "0")
    if status == "NEEDS ACTION" and (item.value("X-SIF-STATUS") or "") in ("3", "4"):
        sif_status = item.value("X-SIF-STATUS")
    fields: list = [
        ("Subject", item.value("SUMMARY")),
        ("Body", item.value("DESCRIPTION")),
        ("Categories", sifcal.sif_categories(item)),
        ("StartDate", _sif_time(start)),
        ("DueDate", _sif_time(due)),
        ("Complete", "1" if sif_status == "2" else "0"),
        ("DateCompleted", item.value("COMPLETED") if sif_status == "2" else None),
        ("Status", sif_status),
        ("PercentComplete", (todo.value("PERCENT-COMPLETE") or "").strip() or None),
        ("Importance", {"1": "2", "3": "0"}.get(item.value("PRIORITY") or "", "1")),
        ("Sensitivity", {"X-PERSONAL": "1", "PRIVATE": "2", "CONFIDENTIAL": "3"}.get(
            (item.value("CLASS") or "").upper(), "0")),
    ]
    reminder = sifcal.alarm_time(item)
    fields.append(("ReminderSet", "1" if reminder else "0"))
    fields.append(("ReminderTime", reminder))
    fields += sifcal.recurrence_fields(item, start or due, False)
    fields.append(("Timezone", sifcal.timezone_field(head)))
    for prop in item.properties:
        if prop.name.startswith(sif.EXTRA) and prop.name != "X-SIF-STATUS":
            fields.append((prop.param("X-TAG") or prop.name[len(sif.EXTRA):].title(), prop.value))
    return sif.write(ROOT, fields)


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A SIF-T task as the iCalendar object to store (``calendars.to_canonical_calendar``)."""
    zone = None
    if previous is not None:
        cal = load_calendar(previous)
        zone = stored_zone(cal, master_of(cal, KIND))
    return to_canonical_calendar(read_sift(data, zone), KIND, previous,
                                 lambda stored: read_sift(from_canonical(stored), zone), AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.TASKS, MIME, "1.1", to_canonical, from_canonical))
