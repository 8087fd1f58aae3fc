"""Time zones as EWS carries them: the TimeZoneDefinition GetServerTimeZones answers
(periods and the yearly transitions between them) and the SerializableTimeZone a
client sends with GetUserAvailability (a bias and two yearly switches), over the core's
``smsync.formats.windowszones``. Pure functions over lxml elements."""

from __future__ import annotations

import functools
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component
from smsync.formats.windowszones import (
    IANA_TO_WINDOWS,
    WINDOWS_TO_IANA,
    RuleZone,
    Switch,
    YearlyRule,
    iana_zone,
    yearly_rule,
)
from smsync.formats.zonerules import iana_info, vtimezone
from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.soap import t

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def xs_duration(delta: timedelta) -> str:
    """``delta`` as an xs:duration of hours and minutes (``-PT1H``, ``PT5H30M``)."""
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}PT{hours}H{rest}M" if rest else f"{sign}PT{hours}H"


def display_name(windows_id: str, rule: YearlyRule) -> str:
    minutes = int(rule.standard.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"(UTC{sign}{hours:02d}:{rest:02d}) {windows_id}"


def definition_element(windows_id: str, year: int, full: bool = True):
    """The ``<t:TimeZoneDefinition>`` of a Windows zone by its rule in ``year`` (None
    for a zone not known); without ``full``, its id and name only."""
    zone = iana_zone(windows_id)
    if zone is None:
        return None
    rule = yearly_rule(zone, year)
    node = etree.Element(t("TimeZoneDefinition"), Id=windows_id, Name=display_name(windows_id, rule))
    if not full:
        return node
    base = f"trule:Microsoft/Registry/{windows_id}/{year}"
    periods = etree.SubElement(node, t("Periods"))
    etree.SubElement(periods, t("Period"), Bias=xs_duration(-rule.standard), Name="Standard",
                     Id=f"{base}-Standard")
    if rule.daylight is not None:
        etree.SubElement(periods, t("Period"), Bias=xs_duration(-rule.daylight), Name="Daylight",
                         Id=f"{base}-Daylight")
    groups = etree.SubElement(node, t("TransitionsGroups"))
    group = etree.SubElement(groups, t("TransitionsGroup"), Id="0")
    if rule.daylight is None:
        only = etree.SubElement(group, t("Transition"))
        etree.SubElement(only, t("To"), Kind="Period").text = f"{base}-Standard"
    else:
        for switch, period in ((rule.to_daylight, "Daylight"), (rule.to_standard, "Standard")):
            node_t = etree.SubElement(group, t("RecurringDayTransition"))
            etree.SubElement(node_t, t("To"), Kind="Period").text = f"{base}-{period}"
            at = timedelta(hours=switch.at.hour, minutes=switch.at.minute)
            etree.SubElement(node_t, t("TimeOffset")).text = xs_duration(at)
            etree.SubElement(node_t, t("Month")).text = str(switch.month)
            etree.SubElement(node_t, t("DayOfWeek")).text = WEEKDAYS[switch.weekday]
            etree.SubElement(node_t, t("Occurrence")).text = "-1" if switch.occurrence >= 5 else str(switch.occurrence)
    transitions = etree.SubElement(node, t("Transitions"))
    first = etree.SubElement(transitions, t("Transition"))
    etree.SubElement(first, t("To"), Kind="Group").text = "0"
    return node


def _int(node, tag: str, default: Optional[int] = None) -> int:
    value = node.findtext(t(tag)) if node is not None else None
    if value is None or not value.strip():
        if default is not None:
            return default
        raise EWSError(SCHEMA_VALIDATION, f"the time zone has no {tag}")
    try:
        return int(value.strip())
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, f"the time zone's {tag} is not a number") from None


def _switch(node) -> Optional[Switch]:
    month = _int(node, "Month", 0)
    if not 1 <= month <= 12:
        return None
    day = (node.findtext(t("DayOfWeek")) or "").strip()
    if day not in WEEKDAYS:
        raise EWSError(SCHEMA_VALIDATION, f"DayOfWeek {day[:20]!r}")
    order = _int(node, "DayOrder", 1)
    if not 1 <= order <= 5:
        raise EWSError(SCHEMA_VALIDATION, f"DayOrder {order}")
    try:
        at = time.fromisoformat((node.findtext(t("Time")) or "00:00:00").strip())
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, "the switch's Time is not a time") from None
    return Switch(month, WEEKDAYS.index(day), order, at)


def serializable_zone(node) -> tzinfo:
    """The ``tzinfo`` of a ``<t:TimeZone>`` (SerializableTimeZone): local time is UTC
    minus Bias minus the standard or daylight Bias (minutes); no element: UTC."""
    if node is None:
        return timezone.utc
    bias = _int(node, "Bias")
    standard, daylight = node.find(t("StandardTime")), node.find(t("DaylightTime"))
    std_bias = _int(standard, "Bias", 0) if standard is not None else 0
    dst_bias = _int(daylight, "Bias", 0) if daylight is not None else 0
    if not (-1440 < bias < 1440 and -1440 < std_bias < 1440 and -1440 < dst_bias < 1440):
        raise EWSError(SCHEMA_VALIDATION, "a time zone bias of a day or more")
    to_standard = _switch(standard) if standard is not None else None
    to_daylight = _switch(daylight) if daylight is not None else None
    std_offset = timedelta(minutes=-(bias + std_bias))
    if to_standard is None or to_daylight is None or std_bias == dst_bias:
        return RuleZone(std_offset)
    return RuleZone(std_offset, timedelta(minutes=-(bias + dst_bias)), to_daylight, to_standard)


def parse_datetime(value: Optional[str], zone: tzinfo) -> datetime:
    """An xs:dateTime: with an offset or Z as given, without one in ``zone``."""
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, f"{text[:40]!r} is not a dateTime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(timezone.utc)


def local_text(when: datetime, zone: tzinfo) -> str:
    """``when`` as the local time in ``zone``, as EWS writes availability times."""
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


# -- the zone of a calendar item (StartTimeZone, EndTimeZone, MeetingTimeZone) ---------
#
# An event keeps its zone as the IANA TZID of its DTSTART (and DTEND), with a VTIMEZONE,
# as CalDAV clients expect; EWS names zones by their Windows ids. A Windows id becomes
# the IANA zone CLDR maps it to; an IANA zone with no Windows id of its own is named by
# the Windows zone with the same rule (Europe/Amsterdam is "W. Europe Standard Time").

_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_INDEX_NAMES = {1: "First", 2: "Second", 3: "Third", 4: "Fourth", 5: "Last"}
#: Names of UTC itself: an event in one of these is stored in UTC (``Z``), not with a TZID.
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Etc/Zulu", "Z"})


def iana_of(zone_id: Optional[str]) -> Optional[str]:
    """The IANA name of a zone EWS names (a Windows id, or an IANA name as some
    clients send); None for one not known."""
    name = (zone_id or "").strip()
    if not name:
        return None
    mapped = WINDOWS_TO_IANA.get(name)
    if mapped is not None:
        return mapped
    if "/" in name or name in UTC_NAMES:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return None
        return name
    return None


def is_utc(iana: str) -> bool:
    return iana in UTC_NAMES


@functools.lru_cache(maxsize=256)
def windows_of(iana: str, year: int = 2026) -> Optional[str]:
    """The Windows id of an IANA zone: its own, else the one with the same rule (one
    of the same region first); None when none has it."""
    if iana in UTC_NAMES:
        return "UTC"
    own = IANA_TO_WINDOWS.get(iana)
    if own is not None:
        return own
    try:
        key = iana_info(iana, year).rule_key()
    except InvalidData:
        return None
    region = iana.split("/")[0] + "/"
    found = None
    for windows_id, name in WINDOWS_TO_IANA.items():
        try:
            if iana_info(name, year).rule_key() != key:
                continue
        except InvalidData:
            continue
        if name.startswith(region):
            return windows_id
        found = found or windows_id
    return found


def element_zone(node) -> Optional[str]:
    """The IANA zone an item's ``<t:StartTimeZone>``/``<t:EndTimeZone>`` (a
    TimeZoneDefinition: its Id, else its Name) or ``<t:MeetingTimeZone>`` (its
    TimeZoneName) names; None when absent or not known (the times then stay in UTC)."""
    if node is None:
        return None
    for attribute in ("Id", "TimeZoneName", "Name"):
        found = iana_of(node.get(attribute))
        if found is not None:
            return found
    return None


def vtimezone_for(iana: str, year: int) -> Component:
    """The VTIMEZONE of an IANA zone (its rule in ``year``), TZID the IANA name."""
    return vtimezone(iana_info(iana, year), iana)


def definition(tag: str, iana: str, year: int):
    """``<t:StartTimeZone>`` (or EndTimeZone: a TimeZoneDefinitionType) with the
    Windows Id and Name of an IANA zone; None when no Windows zone has its rule."""
    windows_id = windows_of(iana)
    zone = iana_zone(windows_id) if windows_id else None
    if zone is None:
        return None
    return etree.Element(t(tag), Id=windows_id, Name=display_name(windows_id, yearly_rule(zone, year)))


def zone_text(iana: str, year: int) -> Optional[str]:
    """The display name of a zone, for ``<t:TimeZone>``."""
    windows_id = windows_of(iana)
    zone = iana_zone(windows_id) if windows_id else None
    return display_name(windows_id, yearly_rule(zone, year)) if zone is not None else None


def _change(parent, tag: str, offset: timedelta, switch: Switch, name: str) -> None:
    node = etree.SubElement(parent, t(tag), TimeZoneName=name)
    etree.SubElement(node, t("Offset")).text = xs_duration(offset)
    rule = etree.SubElement(node, t("RelativeYearlyRecurrence"))
    etree.SubElement(rule, t("DaysOfWeek")).text = WEEKDAYS[switch.weekday]
    etree.SubElement(rule, t("DayOfWeekIndex")).text = _INDEX_NAMES[min(switch.occurrence, 5)]
    etree.SubElement(rule, t("Month")).text = _MONTH_NAMES[switch.month - 1]
    etree.SubElement(node, t("Time")).text = switch.at.strftime("%H:%M:%S")


def meeting_zone(iana: str, year: int):
    """The Exchange 2007 ``<t:MeetingTimeZone>`` (TimeZoneType) of an IANA zone: its
    Windows name, base offset and yearly switches (None when no Windows zone has it)."""
    windows_id = windows_of(iana)
    zone = iana_zone(windows_id) if windows_id else None
    if zone is None:
        return None
    rule = yearly_rule(zone, year)
    node = etree.Element(t("MeetingTimeZone"), TimeZoneName=windows_id)
    etree.SubElement(node, t("BaseOffset")).text = xs_duration(-rule.standard)
    if rule.daylight is not None and rule.to_daylight is not None and rule.to_standard is not None:
        _change(node, "Standard", timedelta(0), rule.to_standard, "Standard")
        _change(node, "Daylight", rule.standard - rule.daylight, rule.to_daylight, "Daylight")
    return node
