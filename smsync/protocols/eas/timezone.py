"""The EAS time-zone blob (MS-ASDTYPE 2.7, MS-ASCAL 2.2.2.42 Timezone) and iCalendar zones.

A device describes an event's zone as base64 of a Windows ``TIME_ZONE_INFORMATION``
(172 bytes): a bias, and for zones with daylight saving time the two yearly switches as
``SYSTEMTIME`` rules ("the 2nd Sunday of March at 02:00", week 5 meaning the last). That
is one year's rule only, so:

- ``blob_from_zone`` describes an IANA zone (or a VTIMEZONE) by its rule in a given year
  (the event's);
- ``device_zone`` / ``zone_from_blob`` turn a device's blob into a VTIMEZONE with the same
  rule, named after the IANA zone whose rule this year is the same when there is one (so
  CalDAV clients see a familiar TZID, and icaltime reads the event's times in that zone
  for every year), else after the blob's own standard name.

The rules themselves (``TimeZoneInfo``) and the zone arithmetic are
``smsync.formats.zonerules``, shared with SyncML's vCalendar 1.0.

Local times follow RFC 5545 3.3.5 as icaltime and zoneinfo (fold=0) do: a time in a DST
gap takes the offset before it, an ambiguous one the first occurrence.
"""

from __future__ import annotations

import base64
import binascii
import functools
import struct
from datetime import timedelta
from datetime import tzinfo as _tzinfo
from typing import Optional
from zoneinfo import ZoneInfo

import attrs

from smsync.errors import InvalidData
from smsync.formats import zonerules
from smsync.formats.contentlines import Component
from smsync.formats.zonerules import (
    COMMON_ZONES,
    UTC_INFO,
    VTIMEZONE_FROM_YEAR,
    Rule,
    RuleZone,
    TimeZoneInfo,
    ZoneLike,
    iana_name,
    vtimezone,
)
from smsync.protocols.eas.convert import ConversionError

__all__ = [
    "SIZE", "BlobZone", "DeviceZone", "parse_blob", "build_blob", "info_from_zone", "blob_from_zone",
    "device_zone", "zone_from_blob",
    # the rules, re-exported for EAS callers
    "COMMON_ZONES", "UTC_INFO", "VTIMEZONE_FROM_YEAR", "Rule", "RuleZone", "TimeZoneInfo", "ZoneLike",
    "iana_name", "vtimezone",
]

#: Bytes of a TIME_ZONE_INFORMATION.
SIZE = 172
_LAYOUT = struct.Struct("<i64s8Hi64s8Hi")
assert _LAYOUT.size == SIZE
_MINUTE = timedelta(minutes=1)

#: A blob's rule applied to every year (what a device does).
BlobZone = RuleZone

# -- the blob ---------------------------------------------------------------------------


def _systemtime(fields) -> Optional[Rule]:
    year, month, dow, day, hour, minute, second, _millis = fields
    if month == 0:
        return None
    if not (1 <= month <= 12 and 0 <= dow <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59
            and 0 <= second <= 59 and 1 <= day <= (31 if year else 5)):
        raise ConversionError("Timezone with an invalid switch date")
    return Rule(month, dow, day, hour, minute, second, year)


def _systemtime_fields(rule: Optional[Rule]) -> tuple:
    if rule is None:
        return (0,) * 8
    return (rule.year, rule.month, rule.day_of_week, rule.day, rule.hour, rule.minute, rule.second, 0)


def _name(raw: bytes) -> str:
    text = raw.decode("utf-16-le", "replace")
    return text.split("\0", 1)[0]


def parse_blob(b64: str) -> TimeZoneInfo:
    """Decode a device's Timezone value.

    Raises:
        ConversionError: not base64 of at least 172 bytes, or switch dates that are no
            dates. A blob with only one of the two switch dates has no DST.
    """
    try:
        raw = base64.b64decode("".join((b64 or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConversionError("Timezone is not base64") from None
    if len(raw) < SIZE:
        raise ConversionError(f"Timezone of {len(raw)} bytes, not {SIZE}")
    fields = _LAYOUT.unpack(raw[:SIZE])
    bias, std_name = fields[0], _name(fields[1])
    std_date, std_bias = _systemtime(fields[2:10]), fields[10]
    dst_name, dst_date, dst_bias = _name(fields[11]), _systemtime(fields[12:20]), fields[20]
    if abs(bias) > 24 * 60 or abs(std_bias) > 24 * 60 or abs(dst_bias) > 24 * 60:
        raise ConversionError("Timezone bias out of range")
    if std_date is None or dst_date is None:
        std_date = dst_date = None
    return TimeZoneInfo(bias, std_name, std_date, std_bias, dst_name, dst_date, dst_bias)


def _encode_name(name: str) -> bytes:
    return name.encode("utf-16-le")[:62].decode("utf-16-le", "ignore").encode("utf-16-le")


@functools.lru_cache(maxsize=256)
def build_blob(info: TimeZoneInfo) -> str:
    """The base64 Timezone value of ``info`` (names cut to 31 UTF-16 units)."""
    raw = _LAYOUT.pack(info.bias, _encode_name(info.standard_name),
                       *_systemtime_fields(info.standard_date), info.standard_bias,
                       _encode_name(info.daylight_name), *_systemtime_fields(info.daylight_date),
                       info.daylight_bias)
    return base64.b64encode(raw).decode("ascii")


def info_from_zone(zone: ZoneLike, year: int) -> TimeZoneInfo:
    """The TimeZoneInfo of ``zone`` in ``year`` (``zonerules.info_from_zone``): an IANA
    name or ZoneInfo, a VTIMEZONE component, an icaltime Zone, or a TimeZoneInfo.

    Raises:
        ConversionError: an unknown IANA name or an unreadable VTIMEZONE.
    """
    try:
        return zonerules.info_from_zone(zone, year)
    except InvalidData as e:
        raise ConversionError(str(e)) from None


def blob_from_zone(zone: ZoneLike, year: int) -> str:
    """The base64 Timezone value describing ``zone`` in ``year`` (see ``info_from_zone``).

    Raises:
        ConversionError: an unknown IANA name or an unreadable VTIMEZONE.
    """
    return build_blob(info_from_zone(zone, year))


# -- blobs to zones ---------------------------------------------------------------------


@attrs.frozen
class DeviceZone:
    """A device's zone: the TZID to write, its VTIMEZONE, the matching IANA zone (or
    None) and a ``tzinfo`` to turn UTC times into local ones -- the IANA zone when there
    is one, since that is how icaltime will read the TZID back."""

    tzid: str
    iana: Optional[str]
    vtimezone: Component = attrs.field(eq=False)
    tzinfo: _tzinfo = attrs.field(eq=False)
    info: TimeZoneInfo = attrs.field(eq=False)


def device_zone(b64: str, year: Optional[int] = None) -> DeviceZone:
    """The zone a device's Timezone value describes (see ``DeviceZone``).

    Raises:
        ConversionError: see ``parse_blob``.
    """
    info = parse_blob(b64)
    name = iana_name(info, year)
    tzid = name or zonerules.synthetic_tzid(info, "EAS")
    return DeviceZone(tzid, name, vtimezone(info, tzid), ZoneInfo(name) if name else BlobZone(info), info)


def zone_from_blob(b64: str) -> Component:
    """A VTIMEZONE for a device's Timezone value, its TZID the IANA zone of the same
    rule this year when there is one (see ``iana_name``).

    Raises:
        ConversionError: see ``parse_blob``.
    """
    return device_zone(b64).vtimezone
