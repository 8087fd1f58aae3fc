"""EAS Notes (MS-ASNOTE) <-> the VJOURNAL a CalDAV store keeps (RFC 5545 3.6.3).

Subject is SUMMARY, Body DESCRIPTION, Categories CATEGORIES, LastModifiedDate
LAST-MODIFIED (DTSTAMP when there is none). MessageClass is IPM.StickyNote unless the
device set another one, which is kept in X-EAS-MESSAGECLASS. Editing follows ``pim``'s
merge rule: what EAS has no field for stays.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from smsync.formats.contentlines import serialize, unescape_text
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.eas import pim
from smsync.protocols.eas.convert import body_element, eas_date, parse_eas_date
from smsync.protocols.eas.wbxml import Element

CLASS = "Notes"
N = "Notes:"
STICKY_NOTE = "IPM.StickyNote"


def _view(cal, journal, version: str) -> dict:
    view: dict = {}
    summary = journal.get("SUMMARY")
    if summary is not None and summary.value:
        view["Subject"] = unescape_text(summary.value)
    descriptions = journal.get_all("DESCRIPTION")
    if descriptions and pim.body_supported(version):
        # A VJOURNAL may have several DESCRIPTIONs (RFC 5545 3.6.3); a note has one text.
        view["Body"] = "\n\n".join(unescape_text(d.value) for d in descriptions if d.value)
    categories = pim.categories_view(journal)
    if categories:
        view["Categories"] = categories
    stamp = journal.get("LAST-MODIFIED") or journal.get("DTSTAMP")
    if stamp is not None:
        view["LastModifiedDate"] = eas_date(_utc(stamp, zones_of(cal)))
    view["MessageClass"] = (journal.value("X-EAS-MESSAGECLASS") or STICKY_NOTE).strip() or STICKY_NOTE
    return view


def _utc(prop, zones) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=prop_time(prop, zones).epoch)


@pim.guarded
def to_application_data(data: bytes, version: str, truncation: Optional[int] = None) -> Element:
    """The stored VJOURNAL in ``data`` as an ``AirSync:ApplicationData`` of Notes fields
    (Body cut to ``truncation`` bytes). Raises ``ConversionError`` if ``data`` is not a
    calendar object with a VJOURNAL."""
    cal, journal = pim.load_calendar(data, "VJOURNAL")
    view = _view(cal, journal, version)
    out: list[Element] = []
    if "Body" in view:
        out.append(body_element(view["Body"], truncation))
    if "Subject" in view:
        out.append(pim.element(N, "Subject", view["Subject"]))
    out.append(pim.element(N, "MessageClass", view["MessageClass"]))
    if "LastModifiedDate" in view:
        out.append(pim.element(N, "LastModifiedDate", view["LastModifiedDate"]))
    if "Categories" in view:
        out.append(pim.list_element(N, "Categories", "Category", view["Categories"]))
    return Element(pim.AS, "ApplicationData", tuple(out))


@pim.guarded
def from_application_data(app: Element, version: str, existing: Optional[bytes] = None) -> bytes:
    """The iCalendar object to store for a device's Notes ``ApplicationData``.

    Without ``existing`` a new VCALENDAR (PRODID, VERSION) with one VJOURNAL (UID,
    DTSTAMP) is made. With it, only SUMMARY, DESCRIPTION, CATEGORIES and the
    modification time are rewritten, and only where the device's value differs;
    everything else of the stored VJOURNAL stays. A Body the device does not send
    keeps the stored DESCRIPTION. Raises ``ConversionError`` for bad input.
    """
    if existing is not None:
        cal, journal = pim.load_calendar(existing, "VJOURNAL")
    else:
        cal, journal = pim.new_calendar("VJOURNAL")
    old = _view(cal, journal, version)
    subject = pim.child_text(app, N, "Subject")
    if subject != old.get("Subject"):
        pim.replace_all(journal, "SUMMARY", pim.escape_text(subject) if subject is not None else None)
    body = pim.device_body(app) if pim.body_supported(version) else None
    if body is not None and body != old.get("Body"):
        pim.replace_all(journal, "DESCRIPTION", pim.escape_text(body) if body else None)
    pim.merge_categories(journal, old.get("Categories"), pim.child_list(app, N, "Categories", "Category"))
    message_class = (pim.child_text(app, N, "MessageClass") or STICKY_NOTE).strip()
    if message_class != old["MessageClass"]:
        pim.replace_all(journal, "X-EAS-MESSAGECLASS", None if message_class == STICKY_NOTE else message_class)
    modified = pim.child_text(app, N, "LastModifiedDate")
    pim.touch(journal)
    if modified is not None:
        journal.get("LAST-MODIFIED").value = pim.utc_stamp(parse_eas_date(modified.strip()))
    return serialize(cal)
