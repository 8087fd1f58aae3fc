"""Windows time zones (the ids Exchange, Outlook and EWS name zones by) and IANA zones,
and the one-year rule Windows describes a zone by: pure functions over ``zoneinfo``.

``WINDOWS_TO_IANA`` follows CLDR's windowsZones (the "001" territory of each Windows
zone). ``yearly_rule`` reads a zone's offsets and its two yearly switches in a given
year ("the last Sunday of March at 02:00") from the tz database; ``RuleZone`` is the
``tzinfo`` of such a rule, for zones a client describes by bias and switches alone.
"""

from __future__ import annotations

import calendar
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

WINDOWS_TO_IANA = {
    "Dateline Standard Time": "Etc/GMT+12",
    "UTC-11": "Etc/GMT+11",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time (Mexico)": "America/Tijuana",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time": "America/New_York",
    "Eastern Standard Time (Mexico)": "America/Cancun",
    "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "Venezuela Standard Time": "America/Caracas",
    "Atlantic Standard Time": "America/Halifax",
    "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "SA Eastern Standard Time": "America/Cayenne",
    "Greenland Standard Time": "America/Nuuk",
    "UTC-02": "Etc/GMT+2",
    "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "UTC": "Etc/UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "Jordan Standard Time": "Asia/Amman",
    "GTB Standard Time": "Europe/Bucharest",
    "Middle East Standard Time": "Asia/Beirut",
    "Egypt Standard Time": "Africa/Cairo",
    "E. Europe Standard Time": "Europe/Chisinau",
    "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kyiv",
    "Israel Standard Time": "Asia/Jerusalem",
    "Arabic Standard Time": "Asia/Baghdad",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arab Standard Time": "Asia/Riyadh",
    "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai",
    "Afghanistan Standard Time": "Asia/Kabul",
    "Pakistan Standard Time": "Asia/Karachi",
    "West Asia Standard Time": "Asia/Tashkent",
    "India Standard Time": "Asia/Kolkata",
    "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Kathmandu",
    "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "Myanmar Standard Time": "Asia/Yangon",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "West Pacific Standard Time": "Pacific/Port_Moresby",
    "Tasmania Standard Time": "Australia/Hobart",
    "Central Pacific Standard Time": "Pacific/Guadalcanal",
    "New Zealand Standard Time": "Pacific/Auckland",
    "UTC+12": "Etc/GMT-12",
    "Fiji Standard Time": "Pacific/Fiji",
    "Tonga Standard Time": "Pacific/Tongatapu",
    "Samoa Standard Time": "Pacific/Apia",
    "Line Islands Standard Time": "Pacific/Kiritimati",
}

#: IANA names (and common aliases) -> the Windows id.
IANA_TO_WINDOWS = {iana: win for win, iana in WINDOWS_TO_IANA.items()}
IANA_TO_WINDOWS.update({"UTC": "UTC", "Etc/GMT": "UTC", "GMT": "UTC", "Europe/Kiev": "FLE Standard Time",
                        "Asia/Calcutta": "India Standard Time", "America/Buenos_Aires":
                        "Argentina Standard Time", "America/Godthab": "Greenland Standard Time"})


def iana_zone(windows_id: str) -> Optional[ZoneInfo]:
    """The IANA zone of a Windows zone id (None for one not known)."""
    name = WINDOWS_TO_IANA.get((windows_id or "").strip())
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return None


@attrs.frozen
class Switch:
    """A yearly switch: in ``month``, the ``occurrence``-th (1-4, or 5 for the last)
    ``weekday`` (0 Monday .. 6 Sunday) at local ``at`` (before the switch)."""

    month: int
    weekday: int
    occurrence: int
    at: time

    def in_year(self, year: int) -> datetime:
        """The local wall time of the switch in ``year`` (naive)."""
        days = [d for d in calendar.Calendar().itermonthdates(year, self.month)
                if d.month == self.month and d.weekday() == self.weekday]
        day = days[-1] if self.occurrence >= 5 else days[min(self.occurrence, len(days)) - 1]
        return datetime.combine(day, self.at)


@attrs.frozen
class YearlyRule:
    """A zone as Windows sees it for one year: the standard offset, and for a zone with
    daylight saving time its offset and the switches to daylight and back."""

    standard: timedelta
    daylight: Optional[timedelta] = None
    to_daylight: Optional[Switch] = None
    to_standard: Optional[Switch] = None


def _switch(local_before: datetime) -> Switch:
    day = local_before.date()
    nth = (day.day - 1) // 7 + 1
    last = (day + timedelta(days=7)).month != day.month
    return Switch(day.month, day.weekday(), 5 if last else nth,
                  local_before.time().replace(microsecond=0))


def yearly_rule(zone: tzinfo, year: int) -> YearlyRule:
    """``zone``'s rule in ``year``: its offsets and, when it switches twice that year,
    the two switches (at the local time before each)."""
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    changes = []
    previous = start.astimezone(zone).utcoffset()
    at = start
    # Day by day, then hour by hour around a change: switches are on the hour or half.
    while at.year == year:
        nxt = at + timedelta(days=1)
        offset = nxt.astimezone(zone).utcoffset()
        if offset != previous:
            probe = at
            while probe.astimezone(zone).utcoffset() == previous:
                probe += timedelta(minutes=15)
            changes.append((probe, previous, offset))
            previous = offset
        at = nxt
    if len(changes) != 2:
        # No daylight saving time (or a zone that changed its offset for good): the
        # offset most of the year is its standard one.
        mid = datetime(year, 7, 1, tzinfo=timezone.utc).astimezone(zone).utcoffset()
        end = datetime(year, 12, 31, tzinfo=timezone.utc).astimezone(zone).utcoffset()
        return YearlyRule(end if not changes else mid if len(changes) > 2 else end)
    (first, before1, after1), (second, before2, after2) = changes
    if after1 > before1:  # northern: daylight first
        standard, daylight = before1, after1
        to_daylight = _switch((first + before1).replace(tzinfo=None))
        to_standard = _switch((second + before2).replace(tzinfo=None))
    else:  # southern: back to standard first
        standard, daylight = after1, before1
        to_standard = _switch((first + before1).replace(tzinfo=None))
        to_daylight = _switch((second + before2).replace(tzinfo=None))
    return YearlyRule(standard, daylight, to_daylight, to_standard)


class RuleZone(tzinfo):
    """The ``tzinfo`` of a zone given by its standard offset and, optionally, a daylight
    offset with its yearly switches (how Windows and EWS's SerializableTimeZone describe
    one). A wall time in the gap or the overlap takes the offset before the switch."""

    def __init__(self, standard: timedelta, daylight: Optional[timedelta] = None,
                 to_daylight: Optional[Switch] = None, to_standard: Optional[Switch] = None,
                 name: str = ""):
        self.standard = standard
        self.daylight = daylight if to_daylight is not None and to_standard is not None else None
        self.to_daylight, self.to_standard = to_daylight, to_standard
        self.name = name

    def _in_daylight(self, local: datetime) -> bool:
        if self.daylight is None:
            return False
        naive = local.replace(tzinfo=None, fold=0)
        on = self.to_daylight.in_year(naive.year)
        off = self.to_standard.in_year(naive.year)
        # The hour repeated when daylight time ends: the second time (fold=1) is standard.
        if local.fold and off - (self.daylight - self.standard) <= naive < off:
            return False
        if on < off:
            return on <= naive < off
        return not (off <= naive < on)

    def utcoffset(self, dt):
        if dt is None:
            return self.standard
        return self.daylight if self._in_daylight(dt) else self.standard

    def dst(self, dt):
        if dt is None or self.daylight is None:
            return timedelta(0)
        return self.daylight - self.standard if self._in_daylight(dt) else timedelta(0)

    def tzname(self, dt):
        return self.name or None

    def fromutc(self, dt):
        utc = dt.replace(tzinfo=None)
        offset = self.standard
        if self.daylight is not None:
            # The switches in UTC: to daylight at its standard wall time, back at its
            # daylight one.
            on = self.to_daylight.in_year(utc.year) - self.standard
            off = self.to_standard.in_year(utc.year) - self.daylight
            daylight = on <= utc < off if on < off else not (off <= utc < on)
            offset = self.daylight if daylight else self.standard
        local = utc + offset
        if self.daylight is not None and offset == self.standard:
            # A standard time that reads like the daylight hour before it is the
            # repeated hour's second time.
            off = self.to_standard.in_year(utc.year)
            if off - (self.daylight - self.standard) <= local < off:
                return local.replace(tzinfo=self, fold=1)
        return local.replace(tzinfo=self)
