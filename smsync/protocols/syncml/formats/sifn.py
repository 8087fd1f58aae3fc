"""SIF-N (``text/x-s4j-sifn``): Outlook notes as Funambol's Outlook client sends them,
to and from the stored VJOURNAL (see ``notes``).

Subject is the note's title (SUMMARY; the text's first line when the client sends
none, as Outlook notes have no separate title), Body its text (DESCRIPTION),
Categories CATEGORIES; Color, Height, Width, Left and Top (where the sticky note sits)
are kept as ``X-SIF-`` properties. A Replace keeps the stored note's UID and whatever
else it has.
"""

from __future__ import annotations

from typing import Optional

from smsync.formats.contentlines import Property
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register, sif
from smsync.protocols.syncml.formats.calendars import new_calendar, to_canonical_calendar
from smsync.protocols.syncml.formats.notes import KIND, Note, from_plain_text, journal_of, stored_note
from smsync.protocols.syncml.formats.support import guarded

MIME = "text/x-s4j-sifn"
ROOT = "note"
_KNOWN = {"SIFVersion", "Subject", "Body", "Categories"}
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION", "CATEGORIES"})


def read_sifn(data: bytes):
    """A SIF-N note as a VCALENDAR with one VJOURNAL."""
    f = sif.read(data, ROOT)
    text = sif.body(f, "Body")
    title = sif.text(f, "Subject") or (from_plain_text(text).title if text else None)
    extra = []
    cats = sif.categories(sif.text(f, "Categories"))
    if cats:
        extra.append(Property("CATEGORIES", cats))
    extra += [sif.extra_property(tag, value) for tag, value in f.items()
              if tag not in _KNOWN and isinstance(value, str)]
    return new_calendar(journal_of(Note(title, text), extra))


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored note as SIF-N."""
    _, journal, note = stored_note(data)
    fields = [("Subject", note.title), ("Body", note.text if note.text is not None else note.title),
              ("Categories", sif.categories_field(journal))]
    return sif.write(ROOT, fields + sif.extra_fields(journal))


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A SIF-N note as the VJOURNAL to store (``calendars.to_canonical_calendar``)."""
    return to_canonical_calendar(read_sifn(data), KIND, previous, lambda stored: read_sifn(from_canonical(stored)),
                                 AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.NOTES, MIME, "1.1", to_canonical, from_canonical))
