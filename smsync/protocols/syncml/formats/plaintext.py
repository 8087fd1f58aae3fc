"""Plain-text notes (``text/plain``), as SyncEvolution's memo database and many phones
send them: the first line is the note's title (SUMMARY), the whole text its body
(DESCRIPTION) of the stored VJOURNAL (see ``notes``). A Replace keeps the stored
note's UID, dates, categories and everything else a plain text cannot show.
"""

from __future__ import annotations

from typing import Optional

from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register
from smsync.protocols.syncml.formats.calendars import new_calendar, to_canonical_calendar
from smsync.protocols.syncml.formats.notes import KIND, from_plain_text, journal_of, plain_text, stored_note
from smsync.protocols.syncml.formats.support import device_text, guarded

MIME = "text/plain"
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION"})


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored note as UTF-8 text with CRLF line ends."""
    return plain_text(stored_note(data)[2]).replace("\n", "\r\n").encode("utf-8")


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A plain-text note as the VJOURNAL to store (see the module)."""
    titled = previous is not None and stored_note(previous)[2].titled

    def read(raw: bytes):
        return new_calendar(journal_of(from_plain_text(device_text(raw), titled)))

    return to_canonical_calendar(read(data), KIND, previous, lambda stored: read(from_canonical(stored)),
                                 AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.NOTES, MIME, "1.0", to_canonical, from_canonical))
