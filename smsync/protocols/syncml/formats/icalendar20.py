"""iCalendar 2.0 (``text/calendar``): events, tasks and journal notes as SyncEvolution
and newer clients send them -- the store's own format, so passed through.

What a device sends is repaired as CalDAV repairs uploads (``repair_calendar``: METHOD
removed, near-miss times fixed), given a UID when it has none, and on a Replace given
the stored item's UID (a device may have made up its own). Sent to the device as
stored. A vCalendar 1.0 item sent under this type is read as 1.0.
"""

from __future__ import annotations

from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import serialize
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.repair import repair_calendar
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register, vcalendar10
from smsync.protocols.syncml.formats.calendars import load_calendar, master_of, set_uid
from smsync.protocols.syncml.formats.support import as_bytes, guarded, new_uid

MIME = "text/calendar"


def _format(kind: CollectionKind, component: str) -> Format:
    @guarded
    def from_canonical(data: bytes) -> bytes:
        master_of(load_calendar(data), component)
        return as_bytes(data)

    @guarded
    def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
        data = as_bytes(data)
        cal = load_calendar(data)
        if (cal.value("VERSION") or "").strip() == "1.0" and component in ("VEVENT", "VTODO"):
            return vcalendar10.FORMATS[component].to_canonical(data, previous)
        repaired = repair_calendar(data).content
        cal = load_calendar(repaired)
        item = master_of(cal, component)
        if previous is not None:
            uid = (master_of(load_calendar(previous), component).value("UID") or "").strip()
        else:
            uid = (item.value("UID") or "").strip()
        if uid and all((c.value("UID") or "").strip() == uid for c in cal.components if c.name != "VTIMEZONE"):
            out = repaired
        else:
            set_uid(cal, uid or new_uid())
            out = serialize(cal)
        summary = summarize_calendar(out)
        if summary.component != component:
            raise InvalidData(f"expected a {component}, not a {summary.component}")
        return out

    from_canonical.__doc__ = f"The stored {component} object as it is."
    to_canonical.__doc__ = f"An iCalendar {component} object as the object to store (see the module)."
    return register(Format(kind, MIME, "2.0", to_canonical, from_canonical))


EVENTS = _format(CollectionKind.CALENDAR, "VEVENT")
TASKS = _format(CollectionKind.TASKS, "VTODO")
NOTES = _format(CollectionKind.NOTES, "VJOURNAL")
