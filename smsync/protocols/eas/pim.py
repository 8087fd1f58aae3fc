"""What the contacts, tasks and notes converters share: vCard/iCalendar TEXT escaping,
list values, the device's Body and Categories, and the rule that turns any failure on
a device's or a store's data into ``ConversionError``.

The merge rule of all three (``from_application_data`` with ``existing``): each EAS
field has a *view* of the stored item (what ``to_application_data`` sends). A field
whose view equals what the device sent is left alone byte for byte; a field that
differs is written into the property it lives in, keeping that property's parameters
and group; a field the device no longer sends is removed only if the view had a value
for it. So whatever has no EAS field -- or a value EAS cannot show -- survives.
"""

from __future__ import annotations

import functools
import html
import re
import uuid
from datetime import datetime, timezone
from typing import Callable, Optional

from smsync.formats import contentlines
from smsync.formats.contentlines import Component, Property, parse_components
from smsync.protocols.eas.convert import BASE, HTML, PLAIN, ConversionError, body_text
from smsync.protocols.eas.wbxml import Element

AS = "AirSync:"

# The TEXT helpers live with the content lines; EAS modules reach them through pim.
escape_text = contentlines.escape_text
split_raw = contentlines.split_raw
text_list = contentlines.text_list


def guarded(fn: Callable) -> Callable:
    """Make ``fn`` raise only ``ConversionError``: a device's or a store's malformed data
    must come back as Sync Status 6, never as a server error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConversionError:
            raise
        except Exception as e:  # noqa: BLE001 - the promise is: one exception type
            raise ConversionError(f"{type(e).__name__}: {e}"[:200]) from e

    return wrapper


def element(namespace: str, tag: str, text: Optional[str] = None, *children: Element) -> Element:
    return Element(namespace, tag, children, text)


def child_text(app: Element, namespace: str, tag: str) -> Optional[str]:
    """The text of ``app``'s child ``namespace:tag`` (None when absent or empty)."""
    found = app.find(namespace, tag)
    return None if found is None else found.text


def child_list(app: Element, namespace: str, tag: str, item: str) -> Optional[list[str]]:
    """The item texts of a container such as ``Categories`` (None when absent or empty)."""
    found = app.find(namespace, tag)
    if found is None:
        return None
    values = [c.text for c in found.children if c.tag == item and c.text and c.text.strip()]
    return [v.strip() for v in values] or None


def list_element(namespace: str, tag: str, item: str, values: list[str]) -> Element:
    return Element(namespace, tag, tuple(Element(namespace, item, (), v) for v in values))


def number(text: Optional[str], low: int, high: int, what: str) -> Optional[int]:
    """A device's integer field, checked to lie in ``low..high``."""
    if text is None:
        return None
    text = text.strip()
    if not re.fullmatch(r"[+-]?\d{1,9}", text) or not low <= int(text) <= high:
        raise ConversionError(f"bad {what}: {text[:20]!r}")
    return int(text)


_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr)\b[^>]*>", re.I)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)


def device_body(app: Element) -> Optional[str]:
    """The plain text of a device's ``AirSyncBase:Body``: None when it sent none (the
    stored text stays) or sent one we cannot read as text (RTF, MIME); HTML is reduced
    to its text, since what we store (NOTE, DESCRIPTION) is plain text."""
    body = app.find(BASE, "Body")
    if body is None:
        return None
    kind = child_text(body, BASE, "Type")
    text = body_text(app)
    if kind in (None, str(PLAIN)):
        return text
    if kind == str(HTML):
        text = _SCRIPT.sub("", text or "")
        text = _BREAK.sub("\n", text)
        return html.unescape(_TAG.sub("", text)).strip("\n")
    return None


def body_supported(version: str) -> bool:
    """AirSyncBase (and so its Body) exists from EAS 12.0 on."""
    return version != "2.5"


def new_uid() -> str:
    return str(uuid.uuid4())


def utc_stamp(when: Optional[datetime] = None) -> str:
    """An iCalendar UTC DATE-TIME (``20261206T055944Z``), now by default."""
    when = when or datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def replace_all(comp: Component, name: str, value: Optional[str]) -> None:
    """Set the first property ``name`` of ``comp`` to the raw ``value`` (keeping its
    parameters) and drop the others of that name; None removes them all."""
    props = comp.get_all(name)
    if value is None:
        comp.properties = [p for p in comp.properties if p.name != name]
        return
    if not props:
        comp.properties.append(Property(name, value))
        return
    props[0].value = value
    comp.properties = [p for p in comp.properties if p.name != name or p is props[0]]


PRODID = "-//smsync//Exchange ActiveSync//EN"


def load_calendar(data: bytes, kind: str) -> tuple[Component, Component]:
    """The VCALENDAR of ``data`` and its master ``kind`` component (VTODO, VJOURNAL)."""
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise ConversionError("a calendar object is exactly one VCALENDAR")
    items = [c for c in roots[0].components if c.name == kind]
    master = next((c for c in items if c.get("RECURRENCE-ID") is None), None)
    if master is None:
        raise ConversionError(f"calendar object without a {kind}")
    return roots[0], master


def new_calendar(kind: str) -> tuple[Component, Component]:
    """A VCALENDAR holding one new ``kind`` component with a fresh UID and DTSTAMP."""
    item = Component(kind, [Property("UID", new_uid()), Property("DTSTAMP", utc_stamp())])
    calendar = Component("VCALENDAR", [Property("VERSION", "2.0"), Property("PRODID", PRODID)], [item])
    return calendar, item


def touch(item: Component) -> None:
    """Mark a component as just changed: DTSTAMP and LAST-MODIFIED become now."""
    stamp = utc_stamp()
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        prop = item.get(name)
        if prop is None:
            item.properties.append(Property(name, stamp))
        else:
            prop.value, prop.params = stamp, []


def categories_view(comp: Component) -> Optional[list[str]]:
    return text_list(comp.get_all("CATEGORIES")) or None


def merge_categories(comp: Component, old: Optional[list[str]], new: Optional[list[str]]) -> None:
    if old != new:
        replace_all(comp, "CATEGORIES", ",".join(escape_text(v) for v in new) if new else None)
