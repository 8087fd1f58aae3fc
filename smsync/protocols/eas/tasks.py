"""EAS Tasks (MS-ASTASK) <-> the VTODO a CalDAV store keeps (RFC 5545).

Subject is SUMMARY, Body DESCRIPTION, Importance PRIORITY (1-4 high, 5 normal, 6-9 low),
Sensitivity CLASS, Complete/DateCompleted STATUS:COMPLETED and COMPLETED, the start
and due dates DTSTART and DUE, the reminder the first VALARM, Recurrence the RRULE
where the rule is one EAS can express (else the RRULE is neither sent nor touched).

EAS gives every date twice, in UTC and in the device's local time written as if it
were UTC. A time the device sets is stored in UTC with the device's offset in an
``X-EAS-OFFSET`` parameter (seconds), so the local time it sees stays the one it set; a
date whose local time is midnight is stored as a DATE (a task due on a day). Regenerate
and DeadOccur, which iCalendar has no notion of, are X-EAS- properties.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.formats.contentlines import Component, Property, serialize, unescape_text
from smsync.formats.icaltime import Duration, parse_duration, prop_time, zone_for, zones_of
from smsync.protocols.eas import pim
from smsync.protocols.eas.convert import ConversionError, body_element, eas_date, parse_eas_date
from smsync.protocols.eas.wbxml import Element

CLASS = "Tasks"
T = "Tasks:"

_EPOCH = datetime(1970, 1, 1)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # EAS DayOfWeek bit i / FirstDayOfWeek i
_FREQ = {0: "DAILY", 1: "WEEKLY", 2: "MONTHLY", 3: "MONTHLY", 5: "YEARLY", 6: "YEARLY"}
_SENSITIVITY = {"PUBLIC": "0", "X-PERSONAL": "1", "PRIVATE": "2", "CONFIDENTIAL": "3"}
_CLASS_OF = {"0": "PUBLIC", "1": "X-PERSONAL", "2": "PRIVATE", "3": "CONFIDENTIAL"}
_MAX_OFFSET = 26 * 3600


def _naive(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _eas(when: Optional[datetime]) -> Optional[str]:
    return None if when is None else eas_date(when)


# -- reading a VTODO ----------------------------------------------------------------------


def _offset(prop: Property) -> int:
    text = (prop.param("X-EAS-OFFSET") or "0").strip()
    if re.fullmatch(r"[+-]?\d{1,6}", text) and abs(int(text)) <= _MAX_OFFSET:
        return int(text)
    return 0


def _pair(prop: Property, zones) -> tuple[datetime, datetime, bool]:
    """``(utc, local, is_date)`` of a DATE / DATE-TIME property, as naive datetimes."""
    time = prop_time(prop, zones)
    offset = timedelta(seconds=_offset(prop))
    if time.is_date:
        return time.local - offset, time.local, True
    if zone_for(prop, zones) is not None:
        return _EPOCH + timedelta(seconds=time.epoch), time.local, False
    if prop.value.strip().upper().endswith("Z"):
        return time.local, time.local + offset, False
    return time.local - offset, time.local, False


def _due_pair(todo: Component, zones, start) -> Optional[tuple[datetime, datetime, bool]]:
    due = todo.get("DUE")
    if due is not None:
        return _pair(due, zones)
    duration = todo.get("DURATION")
    if duration is not None and start is not None:
        length = parse_duration(duration.value)
        step = timedelta(days=length.days, seconds=length.seconds)
        return start[0] + step, start[1] + step, start[2] and not length.seconds
    return None


def _alarm_time(alarm: Component, todo: Component, zones, start, due) -> Optional[datetime]:
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return None
    if (trigger.param("VALUE") or "").upper() == "DATE-TIME":
        return _pair(trigger, zones)[0]
    base = due if (trigger.param("RELATED") or "").upper() == "END" else start
    if base is None:
        return None
    length: Duration = parse_duration(trigger.value)
    return base[0] + timedelta(days=length.days, seconds=length.seconds)


def _rule_parts(text: str) -> dict[str, str]:
    parts = {}
    for piece in text.strip().split(";"):
        key, eq, value = piece.partition("=")
        if not eq:
            raise ConversionError(f"bad RRULE part {piece[:30]!r}")
        parts[key.strip().upper()] = value.strip().upper()
    return parts


def _mask(days: list[str]) -> Optional[int]:
    mask = 0
    for day in days:
        if day not in _DAYS:
            return None
        mask |= 1 << _DAYS.index(day)
    return mask


def _ordinal_days(byday: str) -> tuple[Optional[int], list[str]]:
    """``BYDAY=2TU`` -> (2, [TU]); ``BYDAY=MO,TU`` -> (None, [MO, TU]); several
    different ordinals -> (0, [])."""
    ordinals, days = set(), []
    for item in byday.split(","):
        match = re.fullmatch(r"([+-]?\d{1,2})?([A-Z]{2})", item.strip())
        if match is None:
            return 0, []
        ordinals.add(int(match.group(1)) if match.group(1) else None)
        days.append(match.group(2))
    return (ordinals.pop(), days) if len(ordinals) == 1 else (0, [])


def _week(n: Optional[int]) -> Optional[str]:
    return "5" if n == -1 else str(n) if n is not None and 1 <= n <= 4 else None


def _recurrence_view(todo: Component, zones, start, version: str) -> Optional[dict]:
    """The EAS Recurrence of the VTODO's RRULE, or None when it has none EAS can say."""
    rrule = todo.get("RRULE")
    if rrule is None or start is None or len(todo.get_all("RRULE")) > 1:
        return None
    parts = _rule_parts(rrule.value)
    freq = parts.pop("FREQ", "")
    local = start[1]
    rec = {"Start": eas_date(datetime(local.year, local.month, local.day)),
           "Interval": parts.pop("INTERVAL", "1")}
    if not rec["Interval"].isdigit() or int(rec["Interval"]) < 1:
        return None
    if "COUNT" in parts:
        rec["Occurrences"] = parts.pop("COUNT")
    if "UNTIL" in parts:
        until = _pair(Property("UNTIL", parts.pop("UNTIL")), zones)
        rec["Until"] = eas_date(until[0] if not until[2] else until[1])
    wkst = parts.pop("WKST", "MO")
    byday, bymonthday, bymonth, bysetpos = (parts.pop(k, None) for k in ("BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS"))
    if parts or any(v is not None and "," in v for v in (bymonthday, bymonth, bysetpos)):
        return None
    ordinal, days = _ordinal_days(byday) if byday else (None, [])
    weekday = _DAYS[(local.weekday() + 1) % 7]
    if freq == "DAILY" and bymonthday is bymonth is bysetpos is None and ordinal is None:
        rec["Type"] = "0"
        if days:
            rec["DayOfWeek"] = str(_mask(days))
    elif freq == "WEEKLY" and bymonthday is bymonth is bysetpos is None and ordinal is None:
        rec.update(Type="1", DayOfWeek=str(_mask(days or [weekday])))
        if version not in ("2.5", "12.0", "12.1", "14.0") and wkst in _DAYS:
            rec["FirstDayOfWeek"] = str(_DAYS.index(wkst))
    elif freq in ("MONTHLY", "YEARLY") and byday is None and bysetpos is None:
        rec.update(Type="2" if freq == "MONTHLY" else "5", DayOfMonth=bymonthday or str(local.day))
        if freq == "YEARLY":
            rec["MonthOfYear"] = bymonth or str(local.month)
        elif bymonth is not None:
            return None
    elif freq in ("MONTHLY", "YEARLY") and byday and bymonthday is None:
        week = _week(ordinal) if bysetpos is None else _week(int(bysetpos)) if ordinal is None else None
        if week is None or not days:
            return None
        rec.update(Type="3" if freq == "MONTHLY" else "6", WeekOfMonth=week, DayOfWeek=str(_mask(days)))
        if freq == "YEARLY":
            rec["MonthOfYear"] = bymonth or str(local.month)
        elif bymonth is not None:
            return None
    else:
        return None
    if any(v == "None" or (k in ("DayOfMonth", "MonthOfYear") and not v.isdigit()) for k, v in rec.items()):
        return None
    rec["Regenerate"] = "1" if todo.value("X-EAS-REGENERATE") == "1" else "0"
    rec["DeadOccur"] = "1" if todo.value("X-EAS-DEADOCCUR") == "1" else "0"
    return rec


def _view(cal: Component, todo: Component, version: str) -> dict:
    zones = zones_of(cal)
    view: dict = {}
    summary = todo.get("SUMMARY")
    if summary is not None and summary.value:
        view["Subject"] = unescape_text(summary.value)
    priority = (todo.value("PRIORITY") or "0").strip()
    level = int(priority) if priority.isdigit() else 0
    view["Importance"] = "2" if 1 <= level <= 4 else "0" if level >= 6 else "1"
    start = _pair(todo.get("DTSTART"), zones) if todo.get("DTSTART") is not None else None
    due = _due_pair(todo, zones, start)
    view["start"] = start[:2] if start else None
    view["due"] = due[:2] if due else None
    status = (todo.value("STATUS") or "").strip().upper()
    done = status == "COMPLETED" or (not status and todo.get("COMPLETED") is not None)
    view["Complete"] = "1" if done else "0"
    if done:
        stamp = todo.get("COMPLETED") or todo.get("LAST-MODIFIED") or todo.get("DTSTAMP")
        if stamp is not None:
            view["DateCompleted"] = eas_date(_pair(stamp, zones)[0])
    cls = (todo.value("CLASS") or "PUBLIC").strip().upper()
    view["Sensitivity"] = _SENSITIVITY.get(cls, "2")
    for alarm in todo.components:
        # The phone's reminder is one it shows: not an EMAIL or PROCEDURE alarm.
        if alarm.name == "VALARM" and (alarm.value("ACTION") or "").strip().upper() in ("DISPLAY", "AUDIO"):
            when = _alarm_time(alarm, todo, zones, start, due)
            if when is not None:
                view["ReminderTime"] = eas_date(when)
                view["alarm"] = alarm
                break
    view["ReminderSet"] = "1" if "ReminderTime" in view else "0"
    categories = pim.categories_view(todo)
    if categories:
        view["Categories"] = categories
    recurrence = _recurrence_view(todo, zones, start, version)
    if recurrence is not None:
        view["Recurrence"] = recurrence
    description = todo.get("DESCRIPTION")
    if description is not None and description.value and pim.body_supported(version):
        view["Body"] = unescape_text(description.value)
    return view


_SIMPLE = ("Subject", "Importance", "Complete", "DateCompleted", "Sensitivity", "ReminderSet", "ReminderTime")
_REC_ORDER = ("Type", "Start", "Until", "Occurrences", "Interval", "DayOfWeek", "DayOfMonth", "WeekOfMonth",
              "MonthOfYear", "Regenerate", "DeadOccur", "FirstDayOfWeek")


@pim.guarded
def to_application_data(data: bytes, version: str, truncation: Optional[int] = None) -> Element:
    """The stored VTODO in ``data`` as an ``AirSync:ApplicationData`` of Tasks fields.

    Body (DESCRIPTION) is sent from EAS 12.0 on, cut to ``truncation`` bytes; the
    Recurrence only for rules EAS can express. Raises ``ConversionError`` if ``data``
    is not a calendar object with a VTODO.
    """
    cal, todo = pim.load_calendar(data, "VTODO")
    view = _view(cal, todo, version)
    out: list[Element] = []
    if "Body" in view:
        out.append(body_element(view["Body"], truncation))
    for tag in ("Subject", "Importance"):
        if tag in view:
            out.append(pim.element(T, tag, view[tag]))
    for key, tags in (("start", ("UtcStartDate", "StartDate")), ("due", ("UtcDueDate", "DueDate"))):
        if view[key] is not None:
            out += [pim.element(T, tag, eas_date(when)) for tag, when in zip(tags, view[key])]
    for tag in _SIMPLE[2:]:
        if tag in view:
            out.append(pim.element(T, tag, view[tag]))
    if "Categories" in view:
        out.append(pim.list_element(T, "Categories", "Category", view["Categories"]))
    if "Recurrence" in view:
        rec = view["Recurrence"]
        out.append(pim.element(T, "Recurrence", None,
                               *(pim.element(T, tag, rec[tag]) for tag in _REC_ORDER if tag in rec)))
    return Element(pim.AS, "ApplicationData", tuple(out))


# -- the device's side --------------------------------------------------------------------


def _date(app: Element, tag: str) -> Optional[datetime]:
    text = pim.child_text(app, T, tag)
    return None if text is None else _naive(parse_eas_date(text.strip()))


def _device_pair(app: Element, utc_tag: str, local_tag: str) -> Optional[tuple]:
    utc, local = _date(app, utc_tag), _date(app, local_tag)
    if utc is None and local is None:
        return None
    return (utc if utc is not None else local, local if local is not None else utc)


def _device_recurrence(app: Element, version: str, start: Optional[tuple]) -> Optional[dict]:
    node = app.find(T, "Recurrence")
    if node is None:
        return None

    def num(tag, low, high):
        return pim.number(pim.child_text(node, T, tag), low, high, f"Recurrence {tag}")

    kind = num("Type", 0, 6)
    if kind is None or kind == 4:
        raise ConversionError("Recurrence without a valid Type")
    first = _date(node, "Start")
    if first is None:
        if start is None:
            raise ConversionError("Recurrence without Start")
        first = start[1]
    first = datetime(first.year, first.month, first.day)
    rec = {"Type": str(kind), "Start": eas_date(first), "Interval": str(num("Interval", 1, 999) or 1)}
    occurrences, until = num("Occurrences", 1, 999), _date(node, "Until")
    if occurrences is not None:
        rec["Occurrences"] = str(occurrences)
    elif until is not None:
        rec["Until"] = eas_date(until)
    day_mask = num("DayOfWeek", 1, 127)
    if kind == 0 and day_mask is not None:
        rec["DayOfWeek"] = str(day_mask)
    if kind in (1, 3, 6):
        rec["DayOfWeek"] = str(day_mask or 1 << ((first.weekday() + 1) % 7))
    if kind == 1 and version not in ("2.5", "12.0", "12.1", "14.0"):
        rec["FirstDayOfWeek"] = str(num("FirstDayOfWeek", 0, 6) if node.find(T, "FirstDayOfWeek") else 1)
    if kind in (2, 5):
        rec["DayOfMonth"] = str(num("DayOfMonth", 1, 31) or first.day)
    if kind in (3, 6):
        week = num("WeekOfMonth", 1, 5)
        if week is None:
            raise ConversionError("Recurrence Type 3 or 6 without WeekOfMonth")
        rec["WeekOfMonth"] = str(week)
    if kind in (5, 6):
        rec["MonthOfYear"] = str(num("MonthOfYear", 1, 12) or first.month)
    rec["Regenerate"] = str(num("Regenerate", 0, 1) or 0)
    rec["DeadOccur"] = str(num("DeadOccur", 0, 1) or 0)
    return rec


def _device_view(app: Element, version: str) -> dict:
    view: dict = {}
    subject = pim.child_text(app, T, "Subject")
    if subject is not None:
        view["Subject"] = subject
    view["Importance"] = str(pim.number(pim.child_text(app, T, "Importance"), 0, 2, "Importance") or 0) \
        if app.find(T, "Importance") is not None else "1"
    view["start"] = _device_pair(app, "UtcStartDate", "StartDate")
    view["due"] = _device_pair(app, "UtcDueDate", "DueDate")
    view["Complete"] = str(pim.number(pim.child_text(app, T, "Complete"), 0, 1, "Complete") or 0)
    completed = _date(app, "DateCompleted")
    if view["Complete"] == "1" and completed is not None:
        view["DateCompleted"] = eas_date(completed)
    view["Sensitivity"] = str(pim.number(pim.child_text(app, T, "Sensitivity"), 0, 3, "Sensitivity") or 0)
    reminder_set = pim.number(pim.child_text(app, T, "ReminderSet"), 0, 1, "ReminderSet")
    reminder = _date(app, "ReminderTime")
    if reminder_set == 1 and reminder is not None:
        view["ReminderTime"] = eas_date(reminder)
    view["ReminderSet"] = "1" if "ReminderTime" in view else "0"
    categories = pim.child_list(app, T, "Categories", "Category")
    if categories:
        view["Categories"] = categories
    recurrence = _device_recurrence(app, version, view["start"] or view["due"])
    if recurrence is not None:
        view["Recurrence"] = recurrence
    if pim.body_supported(version):
        body = pim.device_body(app)
        if body is not None:
            view["Body"] = body
    return view


# -- writing into the VTODO ---------------------------------------------------------------


def _set_time(todo: Component, name: str, pair: tuple, as_date: bool) -> None:
    utc, local = pair
    prop = todo.get(name)
    if prop is None:
        prop = Property(name, "")
        todo.properties.append(prop)
    for param in ("TZID", "VALUE", "X-EAS-OFFSET"):
        prop.set_param(param, None)
    if as_date:
        prop.value = local.strftime("%Y%m%d")
        prop.set_param("VALUE", ["DATE"])
    else:
        prop.value = utc.strftime("%Y%m%dT%H%M%SZ")
    offset = int((local - utc).total_seconds())
    if offset and abs(offset) <= _MAX_OFFSET:
        prop.set_param("X-EAS-OFFSET", [str(offset)])


def _merge_times(todo: Component, old: dict, new: dict) -> None:
    if old["start"] == new["start"] and old["due"] == new["due"]:
        return
    pairs = {"DTSTART": new["start"], "DUE": new["due"]}
    changed = {"DTSTART": old["start"] != new["start"], "DUE": old["due"] != new["due"]}
    # DTSTART and DUE must both be DATEs or both DATE-TIMEs (RFC 5545 3.8.2.3).
    kept_times = [n for n in pairs if not changed[n] and pairs[n] is not None
                  and (todo.get(n) is None or (todo.get(n).param("VALUE") or "").upper() != "DATE")]
    midnight = all(p[1].time() == datetime.min.time() for p in pairs.values() if p is not None)
    as_date = midnight and not kept_times
    for name, pair in pairs.items():
        prop = todo.get(name)
        if pair is None:
            if prop is not None or name == "DUE":
                todo.properties = [p for p in todo.properties
                                   if p.name != name and not (name == "DUE" and p.name == "DURATION")]
            continue
        is_date = prop is not None and (prop.param("VALUE") or "").upper() == "DATE"
        if changed[name] or prop is None or is_date != as_date:
            if name == "DUE":
                todo.properties = [p for p in todo.properties if p.name != "DURATION"]
            _set_time(todo, name, pair, as_date)


def _merge_status(todo: Component, old: dict, new: dict) -> None:
    if old["Complete"] == new["Complete"] and old.get("DateCompleted") == new.get("DateCompleted"):
        return
    percent = todo.get("PERCENT-COMPLETE")
    if new["Complete"] == "1":
        pim.replace_all(todo, "STATUS", "COMPLETED")
        when = new.get("DateCompleted") or old.get("DateCompleted")
        stamp = pim.utc_stamp(parse_eas_date(when) if when else None)
        pim.replace_all(todo, "COMPLETED", stamp)
        todo.get("COMPLETED").params = []
        if percent is not None:
            percent.value = "100"
    else:
        if (todo.value("STATUS") or "").strip().upper() == "COMPLETED":
            pim.replace_all(todo, "STATUS", "NEEDS-ACTION")
        pim.replace_all(todo, "COMPLETED", None)
        if percent is not None and percent.value.strip() == "100":
            pim.replace_all(todo, "PERCENT-COMPLETE", None)


def _merge_alarm(todo: Component, old: dict, new: dict) -> None:
    if old.get("ReminderTime") == new.get("ReminderTime"):
        return
    alarm = old.get("alarm")
    when = new.get("ReminderTime")
    if when is None:
        todo.components = [c for c in todo.components if c is not alarm]
        return
    if alarm is None:
        alarm = Component("VALARM", [Property("ACTION", "DISPLAY"), Property("DESCRIPTION", "Reminder")])
        todo.components.insert(0, alarm)  # first, so that it is the one shown
    trigger = Property("TRIGGER", pim.utc_stamp(parse_eas_date(when)), [("VALUE", ["DATE-TIME"])])
    at = next((i for i, p in enumerate(alarm.properties) if p.name == "TRIGGER"), None)
    if at is None:
        alarm.properties.insert(0, trigger)
    else:
        alarm.properties[at] = trigger


def _rrule(rec: dict, dtstart: Property) -> str:
    kind = int(rec["Type"])
    parts = [f"FREQ={_FREQ[kind]}"]
    if rec["Interval"] != "1":
        parts.append(f"INTERVAL={rec['Interval']}")
    days = [d for i, d in enumerate(_DAYS) if int(rec.get("DayOfWeek", "0")) & (1 << i)]
    if kind in (0, 1) and "DayOfWeek" in rec:
        parts.append("BYDAY=" + ",".join(days))
    if kind in (5, 6):
        parts.append(f"BYMONTH={rec['MonthOfYear']}")
    if kind in (2, 5):
        parts.append(f"BYMONTHDAY={rec['DayOfMonth']}")
    if kind in (3, 6):
        week = "-1" if rec["WeekOfMonth"] == "5" else rec["WeekOfMonth"]
        parts.append(f"BYDAY={week}{days[0]}" if len(days) == 1 else f"BYDAY={','.join(days)};BYSETPOS={week}")
    if "Occurrences" in rec:
        parts.append(f"COUNT={rec['Occurrences']}")
    elif "Until" in rec:
        until = _naive(parse_eas_date(rec["Until"]))
        is_date = (dtstart.param("VALUE") or "").upper() == "DATE"
        parts.append("UNTIL=" + (until.strftime("%Y%m%d") if is_date else until.strftime("%Y%m%dT%H%M%SZ")))
    if rec.get("FirstDayOfWeek", "1") != "1":
        parts.append(f"WKST={_DAYS[int(rec['FirstDayOfWeek'])]}")
    return ";".join(parts)


def _merge_recurrence(todo: Component, old: dict, new: dict) -> None:
    before, after = old.get("Recurrence"), new.get("Recurrence")
    if before == after:
        return
    if after is None:
        for name in ("RRULE", "X-EAS-REGENERATE", "X-EAS-DEADOCCUR"):
            pim.replace_all(todo, name, None)
        return
    dtstart = todo.get("DTSTART")
    if dtstart is None:
        first = _naive(parse_eas_date(after["Start"]))
        _set_time(todo, "DTSTART", (first, first), True)
        dtstart = todo.get("DTSTART")
    pim.replace_all(todo, "RRULE", _rrule(after, dtstart))
    for tag in ("Regenerate", "DeadOccur"):
        pim.replace_all(todo, f"X-EAS-{tag.upper()}", "1" if after[tag] == "1" else None)


@pim.guarded
def from_application_data(app: Element, version: str, existing: Optional[bytes] = None) -> bytes:
    """The iCalendar object to store for a device's Tasks ``ApplicationData``.

    Without ``existing`` a new VCALENDAR (PRODID, VERSION) with one VTODO (UID,
    DTSTAMP) is made. With it, the stored VTODO is edited in place: only the
    properties of fields the device changed are rewritten, fields it no longer sends
    are removed, and everything EAS has no field for (other alarms, ATTENDEEs,
    RELATED-TO, X- properties, parameters, VTIMEZONEs) stays. A Body the device does
    not send keeps the stored DESCRIPTION. Raises ``ConversionError`` for bad input.
    """
    if existing is not None:
        cal, todo = pim.load_calendar(existing, "VTODO")
    else:
        cal, todo = pim.new_calendar("VTODO")
    old = _view(cal, todo, version)
    new = _device_view(app, version)
    if old.get("Subject") != new.get("Subject"):
        pim.replace_all(todo, "SUMMARY", pim.escape_text(new["Subject"]) if "Subject" in new else None)
    if old["Importance"] != new["Importance"]:
        pim.replace_all(todo, "PRIORITY", {"0": "9", "1": "5", "2": "1"}[new["Importance"]])
    if old["Sensitivity"] != new["Sensitivity"]:
        pim.replace_all(todo, "CLASS", _CLASS_OF[new["Sensitivity"]])
    _merge_times(todo, old, new)
    _merge_status(todo, old, new)
    _merge_alarm(todo, old, new)
    pim.merge_categories(todo, old.get("Categories"), new.get("Categories"))
    _merge_recurrence(todo, old, new)
    if "Body" in new and new["Body"] != old.get("Body"):
        pim.replace_all(todo, "DESCRIPTION", pim.escape_text(new["Body"]) if new["Body"] else None)
    pim.touch(todo)
    return serialize(cal)
