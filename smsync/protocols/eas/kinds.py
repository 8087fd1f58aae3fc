"""Which EAS class and converter serve each kind of collection.

A collection kind maps to the converter module that turns its stored items (iCalendar
or vCard) into EAS ApplicationData and back, and to the iCalendar component an item
must hold to belong to that class: a CalDAV calendar may also hold tasks, and an EAS
Calendar folder shows only its events.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Optional

import attrs

from smsync.model import CollectionKind


@attrs.frozen
class Kind:
    #: The AirSync Class name (``Calendar``, ``Contacts``, ``Tasks``, ``Notes``).
    eas_class: str
    #: The converter module under ``smsync.protocols.eas``.
    module: str
    #: The iCalendar component an item must contain (None: vCard).
    component: Optional[bytes]


KINDS = {
    CollectionKind.CALENDAR: Kind("Calendar", "calendar", b"BEGIN:VEVENT"),
    CollectionKind.ADDRESSBOOK: Kind("Contacts", "contacts", None),
    CollectionKind.TASKS: Kind("Tasks", "tasks", b"BEGIN:VTODO"),
    CollectionKind.NOTES: Kind("Notes", "notes", b"BEGIN:VJOURNAL"),
}


def converter(kind: CollectionKind) -> Optional[ModuleType]:
    """The converter module of ``kind`` (None: none is installed)."""
    entry = KINDS.get(kind)
    if entry is None:
        return None
    try:
        return importlib.import_module(f"smsync.protocols.eas.{entry.module}")
    except ImportError:
        return None


def belongs(kind: CollectionKind, content: bytes) -> bool:
    """Whether an item of a ``kind`` collection is shown in its EAS folder."""
    entry = KINDS.get(kind)
    if entry is None:
        return False
    return entry.component is None or entry.component in content.upper()
