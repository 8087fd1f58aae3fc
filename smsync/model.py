"""Value types exchanged across smsync's interfaces.

Every type here is a frozen attrs class (or an enum) so that a store can hand the same
object to several protocols without fear of one of them changing it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Iterable, Iterator, Optional

import attrs

# ---------------------------------------------------------------------------------------
# Mail


class Role(str, enum.Enum):
    """Special-use roles of mail folders (RFC 6154 names, lower-cased)."""

    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    TRASH = "trash"
    JUNK = "junk"
    ARCHIVE = "archive"


#: Folders every new account starts with: name -> role.
DEFAULT_MAILBOXES = {
    "INBOX": Role.INBOX,
    "Sent": Role.SENT,
    "Drafts": Role.DRAFTS,
    "Trash": Role.TRASH,
    "Junk": Role.JUNK,
    "Archive": Role.ARCHIVE,
}

#: Hierarchy separator of mail folder names.
MAILBOX_SEPARATOR = "/"

#: System flags, in their canonical spelling. Stores canonicalise the case of these;
#: any other flag is a keyword and is kept as given (compared case-insensitively).
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")


def canonical_flag(flag: str) -> str:
    """Return the canonical spelling of a flag (system flags in their RFC case)."""
    lowered = flag.lower()
    for system in SYSTEM_FLAGS:
        if system.lower() == lowered:
            return system
    return flag


class FlagMode(str, enum.Enum):
    """How ``IMailbox.store_flags`` combines the given flags with the current ones."""

    SET = "set"
    ADD = "add"
    REMOVE = "remove"


@attrs.frozen
class UIDSet:
    """A set of UIDs as inclusive ranges; ``hi=None`` means "up to the highest UID" (IMAP ``*``).

    ``UIDSet.all()`` is ``1:*``. Ranges are normalised (lo <= hi, sorted, merged).
    """

    ranges: tuple[tuple[int, Optional[int]], ...]

    @classmethod
    def all(cls) -> "UIDSet":
        return cls(((1, None),))

    @classmethod
    def of(cls, uids: Iterable[int]) -> "UIDSet":
        """The set of exactly these UIDs."""
        out: list[list[int]] = []
        for uid in sorted(set(uids)):
            if out and out[-1][1] + 1 == uid:
                out[-1][1] = uid
            else:
                out.append([uid, uid])
        return cls(tuple((lo, hi) for lo, hi in out))

    @classmethod
    def range(cls, lo: int, hi: Optional[int]) -> "UIDSet":
        if hi is not None and hi < lo:
            lo, hi = hi, lo
        return cls(((lo, hi),))

    def __contains__(self, uid: int) -> bool:
        return any(lo <= uid and (hi is None or uid <= hi) for lo, hi in self.ranges)

    def bounded(self, highest: int) -> Iterator[tuple[int, int]]:
        """The ranges with ``*`` replaced by ``highest`` (RFC 3501: ``*`` is the highest UID)."""
        for lo, hi in self.ranges:
            if hi is None:
                # "n:*" with n > highest still means highest:n, i.e. the last message.
                yield (min(lo, highest), max(lo, highest))
            else:
                yield (lo, hi)


@attrs.frozen
class MailboxEntry:
    """A folder as the folder list shows it: cheap, no counts.

    ``id`` is stable for the folder's life, across renames (EAS and EWS use it as the
    folder's server id); a folder deleted and re-created under the same name gets a new
    id and a new UIDVALIDITY.
    """

    id: str
    name: str
    role: Optional[Role] = None
    subscribed: bool = True


@attrs.frozen
class MailboxInfo:
    """A folder's status: what SELECT and STATUS report."""

    id: str
    name: str
    role: Optional[Role]
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    exists: int
    unseen: int
    size: int
    #: Lowest UID without \\Seen, or None when all are seen.
    first_unseen_uid: Optional[int] = None
    #: The folder's recent mark (``IMailboxRecent``) as read with the rest, or None
    #: when the store does not say: a session that knows no UID above it has nothing
    #: to claim, and need not ask.
    recent_mark: Optional[int] = None


@attrs.frozen
class MessageInfo:
    """One message's metadata, without its body.

    ``internal_date`` is the date APPEND gave (else the delivery's), which a copy keeps;
    ``saved_date`` when the message was put in this folder -- appended, delivered,
    copied or moved here (IMAP SAVEDATE, RFC 8514).
    """

    uid: int
    flags: frozenset[str]
    internal_date: datetime
    saved_date: datetime
    size: int
    modseq: int


@attrs.frozen
class AppendResult:
    uidvalidity: int
    uid: int
    modseq: int


@attrs.frozen
class CopyResult:
    """UIDs of the source messages and of the copies made of them, in the same order."""

    uidvalidity: int
    source_uids: tuple[int, ...]
    dest_uids: tuple[int, ...]


@attrs.frozen
class StoreFlagsResult:
    """``changed``: messages whose flags (and modseq) changed, as they are now.

    ``modified``: UIDs left alone because their modseq was above UNCHANGEDSINCE.
    ``unchanged``: UIDs that matched but whose flags already were as asked (their modseq
    is not bumped; IMAP still reports their flags).
    """

    changed: tuple[MessageInfo, ...]
    modified: tuple[int, ...] = ()
    unchanged: tuple[MessageInfo, ...] = ()


@attrs.frozen
class MailboxChanges:
    """What changed in a folder since a MODSEQ: the answer to CONDSTORE/QRESYNC and EAS sync.

    ``changed`` holds every message (still present) whose modseq is above the one asked,
    sorted by UID; ``expunged`` the UIDs removed since then, sorted. ``highestmodseq`` is
    the folder's current value.
    """

    highestmodseq: int
    changed: tuple[MessageInfo, ...]
    expunged: tuple[int, ...]


# ---------------------------------------------------------------------------------------
# Collections (calendars, address books, task lists, note lists)


class CollectionKind(str, enum.Enum):
    CALENDAR = "calendar"
    ADDRESSBOOK = "addressbook"
    TASKS = "tasks"
    NOTES = "notes"
    #: RFC 6638 scheduling mailboxes: the iTIP messages an account was sent (inbox), and
    #: the collection a CalDAV client posts free-busy requests to (outbox, always
    #: empty). Made by ``smsync.scheduling`` when first needed; no calendar of any
    #: protocol but CalDAV's scheduling.
    SCHEDULE_INBOX = "schedule-inbox"
    SCHEDULE_OUTBOX = "schedule-outbox"


#: iCalendar component names each calendar-like kind accepts by default.
DEFAULT_COMPONENTS = {
    CollectionKind.CALENDAR: frozenset({"VEVENT", "VTODO"}),
    CollectionKind.TASKS: frozenset({"VTODO"}),
    CollectionKind.NOTES: frozenset({"VJOURNAL"}),
    CollectionKind.ADDRESSBOOK: frozenset({"VCARD"}),
    CollectionKind.SCHEDULE_INBOX: frozenset({"VEVENT", "VTODO"}),
    CollectionKind.SCHEDULE_OUTBOX: frozenset({"VEVENT", "VTODO"}),
}

#: Collections every new account starts with: name -> (kind, display name).
DEFAULT_COLLECTIONS = {
    "calendar": (CollectionKind.CALENDAR, "Calendar"),
    "contacts": (CollectionKind.ADDRESSBOOK, "Contacts"),
    "tasks": (CollectionKind.TASKS, "Tasks"),
    "notes": (CollectionKind.NOTES, "Notes"),
}

#: Well-known collection property names. Any other property is a "dead" property named
#: in Clark notation (``{namespace}local``) whose value is an XML fragment kept verbatim.
PROP_DISPLAYNAME = "displayname"
PROP_COLOR = "color"
PROP_DESCRIPTION = "description"
PROP_TIMEZONE = "timezone"
PROP_ORDER = "order"


@attrs.frozen
class CollectionInfo:
    """A collection and its state. ``revision`` is its change-log position (sync token)."""

    id: str
    name: str
    kind: CollectionKind
    components: frozenset[str]
    properties: dict = attrs.field(factory=dict, hash=False)
    revision: int = 0
    count: int = 0


@attrs.frozen
class ItemInfo:
    """An item without its content. ``component`` is VEVENT/VTODO/VJOURNAL/VCARD."""

    name: str
    uid: str
    etag: str
    revision: int
    size: int
    component: str


@attrs.frozen
class Item:
    info: ItemInfo
    content: bytes


@attrs.frozen
class DavNode:
    """A plain WebDAV resource or collection (``IDavTree``), without its content.

    ``path`` is its place in the account's tree (segments joined by ``/``); ``etag``
    changes whenever the content does; ``content_type`` is what the client said it
    stored (None: nothing said); ``properties`` its dead properties, Clark name ->
    text kept verbatim. A collection has size 0 and no content type."""

    path: str
    collection: bool
    etag: str
    size: int
    content_type: Optional[str]
    modified: datetime
    properties: dict = attrs.field(factory=dict, hash=False)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@attrs.frozen
class CollectionChanges:
    """What changed in a collection since a revision.

    ``changed``: items added or modified since, as they are now, sorted by revision then
    name; ``deleted``: names removed since (from tombstones). ``revision`` is the token to
    ask from next time: the collection's current revision, or, when ``truncated`` (a
    limit cut the answer), the revision up to which this answer is complete.
    """

    revision: int
    changed: tuple[ItemInfo, ...]
    deleted: tuple[str, ...]
    truncated: bool = False


# ---------------------------------------------------------------------------------------
# Devices and change notification


class ConflictPolicy(str, enum.Enum):
    SERVER_WINS = "server-wins"
    CLIENT_WINS = "client-wins"
    KEEP_BOTH = "keep-both"


@attrs.frozen
class Device:
    """One entry of a user's Synchronized Devices list."""

    account: str
    device_id: str
    name: str
    protocol: str
    user_agent: Optional[str]
    first_seen: datetime
    last_sync: Optional[datetime]
    conflict_policy: ConflictPolicy = ConflictPolicy.SERVER_WINS


@attrs.frozen
class FolderGrant:
    """One entry of a folder's access control list (``IFolderSharing.granted``):
    ``identifier`` has ``rights`` on folder ``folder_id`` of account ``owner``."""

    owner: str
    folder_id: str
    identifier: str
    rights: str


@attrs.frozen
class DeviceLogEntry:
    time: datetime
    message: str


class ChangeKind(str, enum.Enum):
    MAIL = "mail"
    COLLECTION = "collection"
    #: Folder or collection created, deleted or renamed.
    HIERARCHY = "hierarchy"
    #: The notifier lost track (e.g. a dropped database connection): subscribers must
    #: re-read whatever state they care about.
    RESYNC = "resync"


@attrs.frozen
class ChangeEvent:
    """Something changed in ``account``. ``name`` is the folder/collection name (None for
    HIERARCHY/RESYNC); ``revision`` its new revision (MODSEQ), when known."""

    account: str
    kind: ChangeKind
    name: Optional[str] = None
    revision: Optional[int] = None
    folder_id: Optional[str] = None
