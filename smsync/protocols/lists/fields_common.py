"""What the three list converters (``fields_events``, ``fields_contacts``,
``fields_tasks``) share: the field definitions GetList publishes, and the text forms of
list values.

A row is ``dict[str, str]``: internal field names without ``ows_``, values as the Lists
web service writes them. Dates go out as ISO 8601 UTC (``2026-12-06T15:00:00Z``, what
Outlook asks for with ``DateInUtc``); both that and SharePoint's ``yyyy-MM-dd HH:mm:ss``
(taken as UTC: the site's zone is UTC here) are read. Booleans go out as ``1``/``0``.

Every converter merges the same way: a field the row leaves out, or sends with the value
the stored item shows, leaves the stored item as it is -- byte for byte -- so that only
what Outlook changed is rewritten, and everything a list cannot carry survives.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, unescape_text

#: Longest value a converter accepts for one field (a Note field included): larger is
#: not something Outlook sends, and it would be stored as is.
MAX_FIELD_CHARS = 1_000_000
#: Years a date may have: SharePoint's DateTime range is 1900-8900.
MIN_YEAR, MAX_YEAR = 1900, 8900


@attrs.frozen
class Field:
    """One field of a list as GetList publishes it (``<Field Name= Type= DisplayName=>``).

    ``type`` is the SharePoint field type (Text, Note, DateTime, Boolean, Number,
    Choice, Recurrence, Integer, Guid, Counter, URL, User, AllDayEvent, CrossProjectLink,
    ContentTypeId...); ``choices`` the values of a Choice field; ``read_only`` fields
    are computed by the server (the converter ignores them in ``from_row``)."""

    name: str
    type: str
    display_name: str
    choices: tuple[str, ...] = ()
    required: bool = False
    read_only: bool = False
    #: Format attribute of a DateTime field ("DateOnly" or "DateTime").
    format: Optional[str] = None


def field_names(fields) -> frozenset:
    return frozenset(f.name for f in fields)


# -- values ---------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def check_size(fields: dict) -> None:
    """``InvalidData`` for a row that is not ``str`` to ``str`` or holds a huge value."""
    if not isinstance(fields, dict):
        raise InvalidData("a list row is a mapping of field names to text")
    for key, value in fields.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidData(f"list field {key!r} is not text")
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidData(f"list field {key} longer than {MAX_FIELD_CHARS} characters")


def parse_datetime(text: str, field: str = "date") -> datetime:
    """A list date as an aware UTC datetime: ``yyyy-MM-ddTHH:mm:ssZ``, with an offset,
    ``yyyy-MM-dd HH:mm:ss`` or a bare date (both without zone taken as UTC)."""
    m = _ISO.match(text.strip())
    if not m:
        raise InvalidData(f"bad {field} {text[:40]!r}")
    y, mo, d, hh, mi, ss, zone = m.groups()
    try:
        value = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                         tzinfo=timezone.utc)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    except (ValueError, OverflowError):
        raise InvalidData(f"bad {field} {text[:40]!r}") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidData(f"{field} {text[:40]!r} out of range")
    return value


def format_datetime(value: datetime) -> str:
    """An aware (or naive UTC) datetime as the ISO UTC text the service writes."""
    if value.tzinfo is not None and value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    if value.year < 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # as strftime writes such years
    # strftime's text, formatted without it (a full sync writes tens of thousands).
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (value.year, value.month, value.day, value.hour,
                                               value.minute, value.second)


def local_form(text: str) -> str:
    """A row's ISO UTC date as the Lists service writes dates without ``DateInUtc``
    (``yyyy-MM-dd HH:mm:ss``, the site's zone, UTC here); other text as it is."""
    m = _ISO.match(text.strip()) if text else None
    if m is None or text.strip()[-1:] != "Z":
        return text
    return text.strip()[:-1].replace("T", " ")


def format_date(value: date) -> str:
    """A DATE as a list DateTime at midnight (all-day events, date-only tasks)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00Z"


def parse_bool(text: str, field: str) -> bool:
    value = text.strip().upper()
    if value in ("1", "TRUE", "YES", "-1", "ON"):
        return True
    if value in ("0", "FALSE", "NO", "", "OFF"):
        return False
    raise InvalidData(f"bad {field} {text[:20]!r}")


def format_bool(value: bool) -> str:
    return "1" if value else "0"


def parse_int(text: str, field: str, lo: int, hi: int) -> int:
    try:
        value = int(float(text.strip())) if "." in text else int(text.strip())
    except (ValueError, OverflowError):
        raise InvalidData(f"bad {field} {text[:20]!r}") from None
    if not lo <= value <= hi:
        raise InvalidData(f"{field} {value} out of range")
    return value


def text_of(value: Optional[str]) -> str:
    """A TEXT property's raw value as list text ("" for none)."""
    return "" if value is None else unescape_text(value)


def ical_text(text: str) -> str:
    """List text as an escaped TEXT value (line ends as Outlook sends them normalised)."""
    return escape_text(text.replace("\r\n", "\n"))


def differs(fields: dict, shown: dict, name: str) -> bool:
    """Whether the row changes ``name``: sent, and not as the stored item shows it."""
    if name not in fields:
        return False
    return _norm(fields[name]) != _norm(shown.get(name, ""))


def _norm(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
