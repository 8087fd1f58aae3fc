"""Value types of the sync engine: what protocols hand to ``ISyncAdapter.sync`` and get back.

Every type is a frozen attrs class so that an answer kept for an idempotent retry cannot
be changed by the protocol that first received it.
"""

from __future__ import annotations

import enum
from typing import Optional

import attrs

from smsync.model import Item, MessageInfo

#: ``SourceRef.kind`` of a mail folder (``id`` is its ``MailboxEntry.id``).
MAIL = "mail"
#: ``SourceRef.kind`` of a collection (``id`` is its ``CollectionInfo.id``).
COLLECTION = "collection"

ADD = "add"
CHANGE = "change"
DELETE = "delete"

_KINDS = (MAIL, COLLECTION)
_OPS = (ADD, CHANGE, DELETE)


def _one_of(choices):
    def check(instance, attribute, value):
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {choices}, not {value!r}")

    return check


def _frozen_flags(value):
    return None if value is None else frozenset(value)


@attrs.frozen
class SourceRef:
    """A folder or collection named by its stable id, so a rename does not break sync."""

    kind: str = attrs.field(validator=_one_of(_KINDS))
    id: str = attrs.field(validator=attrs.validators.instance_of(str))


@attrs.frozen
class ClientChange:
    """One change the device made since its last sync.

    Attributes:
        op: ``"add"``, ``"change"`` or ``"delete"``.
        client_id: the device's own id of an added item (echoed in its ``ChangeResult``
            so the protocol can send the client id -> server id map).
        server_id: the item a change or delete is about (a UID as a string for mail,
            an item name for collections).
        content: the item's new content: RFC 5322 bytes for a mail add, iCalendar or
            vCard bytes for a collection add or change. None for mail flag changes; a
            mail change with content (a draft edited on a device) replaces the message,
            which then has a new UID: the device is sent the old one's deletion and the
            new one as an add.
        flags: mail only. For an add, the new message's flags. For a change, flags to
            *add* to the message: phones report "read" or "flagged", not the whole flag
            set, so a change never clears a flag the device did not mention.
        flags_removed: mail changes only: flags to clear (e.g. ``\\Seen`` for "unread").
        origin: a digest of the change as the device sent it. When given, it (not
            ``content``) tells a resent batch from a new one, so a lost answer is
            recognised even when converting the device's item is not deterministic
            (a fresh UID or DTSTAMP each time).
    """

    op: str = attrs.field(validator=_one_of(_OPS))
    client_id: Optional[str] = None
    server_id: Optional[str] = None
    content: Optional[bytes] = None
    flags: Optional[frozenset] = attrs.field(default=None, converter=_frozen_flags)
    flags_removed: Optional[frozenset] = attrs.field(default=None, converter=_frozen_flags)
    origin: Optional[str] = None


@attrs.frozen
class ServerChange:
    """One change the device has not seen yet.

    For mail sources ``message`` holds the message's metadata (flags, size, dates); the
    protocol reads the body itself with ``IMailbox.read_body`` so that it can truncate a
    large message. For collections ``item`` holds the item's info and content. Both are
    None for deletes.
    """

    op: str = attrs.field(validator=_one_of(_OPS))
    server_id: str
    message: Optional[MessageInfo] = None
    item: Optional[Item] = None


class SyncStatus(str, enum.Enum):
    """What became of one client change. Protocols map these to their own codes."""

    #: Applied (or, for a delete of an item already gone, nothing left to do).
    OK = "ok"
    #: The server changed the item after the device last saw it and the device's change
    #: was dropped; the server's version is (or will be, see ``more_available``) sent.
    CONFLICT_SERVER_WON = "conflict-server-won"
    #: Same conflict, but the device's change was applied over the server's.
    CONFLICT_CLIENT_WON = "conflict-client-won"
    #: Same conflict; the server's version stays under ``server_id`` and the device's
    #: version was stored as a new item (``ChangeResult.copy_server_id``), both sent.
    CONFLICT_BOTH_KEPT = "conflict-both-kept"
    #: The item (server id) does not exist, or the device never had it.
    NOT_FOUND = "not-found"
    #: The content does not parse, lacks a UID, or the source does not take it.
    INVALID = "invalid"
    #: An add whose UID is already used by another item (``server_id`` names it).
    ALREADY_EXISTS = "already-exists"
    QUOTA_EXCEEDED = "quota-exceeded"
    DENIED = "denied"
    #: Any other condition the store reported (logged in the device log).
    ERROR = "error"


@attrs.frozen
class ChangeResult:
    """The outcome of one ``ClientChange``, in the order the changes were given."""

    status: SyncStatus = attrs.field(converter=SyncStatus)
    client_id: Optional[str] = None
    server_id: Optional[str] = None
    #: For ``CONFLICT_BOTH_KEPT``: the new item holding the device's version.
    copy_server_id: Optional[str] = None


@attrs.frozen
class SyncResult:
    """The answer to one sync round.

    Attributes:
        sync_key: the key to present next time.
        results: one ``ChangeResult`` per client change, in order.
        changes: server changes the device has not seen (at most ``window``).
        more_available: more server changes are waiting; sync again with ``sync_key``.
    """

    sync_key: str
    results: tuple[ChangeResult, ...] = attrs.field(converter=tuple, default=())
    changes: tuple[ServerChange, ...] = attrs.field(converter=tuple, default=())
    more_available: bool = False
