"""Time zones as EWS carries them: the TimeZoneDefinition GetServerTimeZones answers
(periods and the yearly transitions between them) and the SerializableTimeZone a
client sends with GetUserAvailability (a bias and two yearly switches), over the core's
``smsync.formats.windowszones``. Pure functions over lxml elements."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Optional

from lxml import etree

from smsync.formats.windowszones import RuleZone, Switch, YearlyRule, iana_zone, yearly_rule
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
