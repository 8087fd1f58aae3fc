"""The item formats SyncML devices send, each converted to and from the stored form.

The store keeps one canonical form per kind (``smsync.model.CollectionKind``): contacts as
vCard, events and tasks as iCalendar, notes as iCalendar VJOURNAL. A SyncML datastore
names the type its items travel in (the Meta Type of an item, the CTType of the device's
DevInf); ``lookup(kind, mime)`` gives the ``Format`` that converts that type for that kind.

A ``Format`` promises:

* ``to_canonical(data, previous)`` -- the device's item as stored bytes. ``previous`` is
  the stored item the device is replacing (``None`` for an add): a field the device's
  format cannot carry is taken from it, so an edit made through a poorer format never
  loses what another protocol stored. Raises ``smsync.errors.InvalidData`` for an item
  that cannot be read.
* ``from_canonical(data)`` -- the stored item in the device's format (bytes).

Items are bytes both ways (a ``str`` given to ``to_canonical`` is taken as UTF-8).

Each module of this package adds its formats with ``register``; this module registers the
types the store keeps as they are, and importing it registers every family:

=============  ==================================================  =====================
kind           types (DevInf order: the store's own first)          modules
=============  ==================================================  =====================
ADDRESSBOOK    ``text/vcard`` 3.0, ``text/x-s4j-sifc``,              ``vcard30``, ``sifc``,
               ``text/x-vcard`` 2.1                                 ``vcard21``
CALENDAR       ``text/calendar`` 2.0, ``text/x-vcalendar`` 1.0,      ``icalendar20``,
               ``text/x-s4j-sife``                                  ``vcalendar10``, ``sife``
TASKS          ``text/calendar`` 2.0, ``text/x-vcalendar`` 1.0,      ``icalendar20``,
               ``text/x-s4j-sift``                                  ``vcalendar10``, ``sift``
NOTES          ``text/calendar`` 2.0 (VJOURNAL), ``text/plain``,     ``icalendar20``,
               ``text/x-s4j-sifn``, ``text/x-vnote`` 1.1             ``plaintext``, ``sifn``,
                                                                    ``vnote``
=============  ==================================================  =====================

What they share: ``cards`` and ``calendars`` (the stored forms, adds and Replaces),
``merge`` (a device's edit merged into the stored item, so what its format cannot
carry stays), ``notes`` (a note's title and text), ``vcaltimes`` / ``vcalrules``
(vCalendar 1.0 times, zones and rules), ``sif`` / ``sifcal`` (Funambol's XML; SIF-E and
SIF-T go through vCalendar 1.0) and ``support``. Every ``to_canonical``
result has been through ``summarize_vcard`` / ``summarize_calendar``; an add without a
UID gets a new one, a Replace keeps the stored item's, and a Replace that changes
nothing returns ``previous`` itself.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs

from smsync.model import CollectionKind


@attrs.frozen
class Format:
    """One wire type for one kind of item.

    Attributes:
        kind: the ``CollectionKind`` the items belong to.
        mime: the content type as SyncML names it (``text/x-vcard``).
        version: the CTType's VerCT in DevInf (``2.1``), or ``""``.
        to_canonical: ``(data: bytes, previous: bytes | None) -> bytes`` (see the module).
        from_canonical: ``(data: bytes) -> bytes``.
    """

    kind: CollectionKind
    mime: str
    version: str
    to_canonical: Callable[[bytes, Optional[bytes]], bytes]
    from_canonical: Callable[[bytes], bytes]


_REGISTRY: dict[tuple[CollectionKind, str], Format] = {}


def register(fmt: Format) -> Format:
    """Make ``fmt`` the format of its (kind, mime); a later registration replaces it."""
    _REGISTRY[(fmt.kind, fmt.mime.lower())] = fmt
    return fmt


def lookup(kind: CollectionKind, mime: str) -> Optional[Format]:
    """The format for items of ``kind`` sent as ``mime`` (parameters ignored), or None."""
    return _REGISTRY.get((kind, mime.split(";", 1)[0].strip().lower()))


def formats_for(kind: CollectionKind) -> list[Format]:
    """Every format registered for ``kind``, in registration order (the DevInf lists them)."""
    return [fmt for (k, _), fmt in _REGISTRY.items() if k == kind]


def _as_is(data: bytes, previous: Optional[bytes] = None) -> bytes:
    return data


register(Format(CollectionKind.ADDRESSBOOK, "text/vcard", "3.0", _as_is, _as_is))
register(Format(CollectionKind.CALENDAR, "text/calendar", "2.0", _as_is, _as_is))
register(Format(CollectionKind.TASKS, "text/calendar", "2.0", _as_is, _as_is))



# Every family registers its formats on import (after the names above exist), in the
# order DevInf lists them: the store's own type first for each kind.
from smsync.protocols.syncml.formats import (  # noqa: E402 - needs register above
    icalendar20,
    plaintext,
    sifc,
    sife,
    sifn,
    sift,
    vcalendar10,
    vcard21,
    vcard30,
    vnote,
)

__all__ = ["Format", "register", "lookup", "formats_for", "icalendar20", "plaintext", "sifc", "sife",
           "sifn", "sift", "vcalendar10", "vcard21", "vcard30", "vnote"]
