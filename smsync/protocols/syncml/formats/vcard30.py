"""vCard 3.0 (``text/vcard``), as SyncEvolution and newer clients send contacts.

The store's own format, so mostly passed through: a stored 4.0 card is sent as 3.0
(``smsync.formats.vcard.to_version``, as CardDAV does for a 3.0 client) and a device's
Replace of it is stored back as 4.0, merged so that what 3.0 could not show stays. A
device's 2.1 card sent under this type is read as 2.1. Adds without a UID get one.
"""

from __future__ import annotations

from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import serialize
from smsync.formats.vcard import summarize_vcard
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register
from smsync.protocols.syncml.formats.cards import as_v3, to_canonical_card
from smsync.protocols.syncml.formats.support import guarded

MIME = "text/vcard"
#: The properties a DevInf CTCap for this type can list (any vCard 3.0 property is kept).
CTCAP = ("BEGIN", "END", "VERSION", "UID", "N", "FN", "NICKNAME", "TEL", "EMAIL", "ADR", "LABEL", "ORG",
         "TITLE", "ROLE", "NOTE", "BDAY", "URL", "PHOTO", "LOGO", "CATEGORIES", "CLASS", "REV", "GEO", "TZ",
         "IMPP", "KEY", "SOUND", "MAILER", "SORT-STRING", "PRODID")


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored contact as vCard 3.0 (unchanged when it is 3.0)."""
    card = as_v3(data)
    if card.value("VERSION") == "3.0" and b"VERSION:3.0" in data:
        return bytes(data)
    return serialize(card)


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A vCard 3.0 contact as the vCard to store (see ``cards.to_canonical_card``): an
    add that is already a valid 3.0 or 4.0 card with a UID is stored as sent."""
    if previous is None:
        try:
            if summarize_vcard(data).version in ("3.0", "4.0"):
                return bytes(data)
        except InvalidData:
            pass
    return to_canonical_card(as_v3(data), previous, lambda stored: as_v3(from_canonical(stored)))


FORMAT = register(Format(CollectionKind.ADDRESSBOOK, MIME, "3.0", to_canonical, from_canonical))
