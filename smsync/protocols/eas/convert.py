"""What the EAS data converters (email, calendar, contacts, tasks, notes) share: their
error, the two MS-ASDTYPE date forms, and the AirSyncBase Body of an item.

A converter module offers ``to_application_data(data, version, truncation=None)`` (the
stored item -> ``AirSync:ApplicationData``) and ``from_application_data(app, version,
existing=None)`` (a device's ``ApplicationData`` -> the bytes to store; with
``existing``, what EAS has no field for is kept from it). Both are pure functions.
"""

from __future__ import annotations

import re

import attrs
from datetime import datetime, timezone
from typing import Optional

from smsync.protocols.eas.wbxml import Element

AS = "AirSync:"
BASE = "AirSyncBase:"

#: AirSyncBase body types.
PLAIN, HTML, RTF, MIME = 1, 2, 3, 4


class ConversionError(ValueError):
    """The device's item cannot be stored (answered with Sync Status 6)."""


def eas_date(when: datetime) -> str:
    """MS-ASDTYPE dateTime, long form: ``2026-12-06T05:59:44.000Z``."""
    # Formatted by hand: strftime costs a Sync window of mail ~4% of its CPU, and
    # writes years before 1000 without their leading zeros on glibc.
    w = _utc(when)
    return f"{w.year:04d}-{w.month:02d}-{w.day:02d}T{w.hour:02d}:{w.minute:02d}:{w.second:02d}.000Z"


def eas_compact_date(when: datetime) -> str:
    """MS-ASDTYPE dateTime, compact form (Calendar times): ``20261206T055944Z``."""
    w = _utc(when)
    return f"{w.year:04d}{w.month:02d}{w.day:02d}T{w.hour:02d}{w.minute:02d}{w.second:02d}Z"


def _utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


_LONG = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?$")


def parse_eas_date(text: Optional[str]) -> datetime:
    """A device's date in either MS-ASDTYPE form, as an aware UTC datetime.

    Raises:
        ConversionError: not a date in either form.
    """
    match = _LONG.match(text or "") or _COMPACT.match(text or "")
    if match is None:
        raise ConversionError(f"not an EAS date: {text!r}"[:80])
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=timezone.utc)
    except ValueError as e:
        raise ConversionError(f"not an EAS date: {text!r}"[:80]) from e


def body_element(text: str, truncation: Optional[int] = None, body_type: int = PLAIN) -> Element:
    """``AirSyncBase:Body`` holding ``text``, cut to ``truncation`` UTF-8 bytes."""
    data = text.encode("utf-8")
    truncated = truncation is not None and len(data) > truncation
    if truncated:
        text = data[:truncation].decode("utf-8", "ignore")
    children = [Element(BASE, "Type", (), str(body_type)),
                Element(BASE, "EstimatedDataSize", (), str(len(data))),
                Element(BASE, "Truncated", (), "1" if truncated else "0")]
    if text:
        children.append(Element(BASE, "Data", (), text))
    return Element(BASE, "Body", tuple(children))


def body_text(app: Element) -> Optional[str]:
    """The text of a device's ``AirSyncBase:Body`` (None: the device sent no body, so
    the stored one stays)."""
    body = app.find(BASE, "Body")
    if body is None:
        return None
    data = body.find(BASE, "Data")
    return data.text or "" if data is not None else ""


@attrs.frozen
class BodyOptions:
    """What a device asked for in a Sync or ItemOperations ``Options``.

    Attributes:
        type: the preferred AirSyncBase body type (PLAIN, HTML, RTF or MIME).
        truncation: bytes of body to send at most (None: the server's default).
        all_or_none: send the body only if it fits ``truncation`` whole.
        mime_support: Email MIMESupport: 0 never MIME, 1 for S/MIME only, 2 always.
        preview: AirSyncBase Preview: characters of plain-text preview (0: none).
        filter_type: AirSync FilterType (0: everything; 1-7 past-date windows).
    """

    type: int = PLAIN
    truncation: Optional[int] = None
    all_or_none: bool = False
    mime_support: int = 0
    preview: int = 0
    filter_type: int = 0


def _number(element: Optional[Element], default):
    if element is None or element.text is None or not element.text.isdigit():
        return default
    return int(element.text)


def parse_options(options: Optional[Element]) -> BodyOptions:
    """The ``BodyOptions`` of an ``AirSync:Options`` (or ``ItemOperations:Options``)
    element; unknown or malformed values fall back to the defaults. Of several
    BodyPreference elements the first whose type is served wins."""
    if options is None:
        return BodyOptions()
    chosen = None
    for child in options.children:
        if child.tag == "BodyPreference" and child.namespace == BASE:
            kind = _number(child.find(BASE, "Type"), PLAIN)
            if kind in (PLAIN, HTML, MIME):
                chosen = child
                break
    kind = truncation = preview = None
    all_or_none = False
    if chosen is not None:
        kind = _number(chosen.find(BASE, "Type"), PLAIN)
        truncation = _number(chosen.find(BASE, "TruncationSize"), None)
        all_or_none = _number(chosen.find(BASE, "AllOrNone"), 0) == 1
        preview = _number(chosen.find(BASE, "Preview"), 0)
    mime = _number(options.find(AS, "MIMESupport"), 0)
    filter_type = _number(options.find(AS, "FilterType"), 0)
    return BodyOptions(kind or PLAIN, truncation, all_or_none, min(mime, 2),
                       min(preview or 0, 255), filter_type if filter_type <= 8 else 0)
