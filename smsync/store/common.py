"""Rules every backend applies the same way: names, etags, flags.

Backends (ours and third parties') call these so that validation is identical whatever
stores the data.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from datetime import datetime, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData, UnsupportedComponent
from smsync.interfaces import MAX_ANNOTATION, MAX_ANNOTATION_NAME, MAX_SETTING
from smsync.model import (
    DEFAULT_COMPONENTS,
    MAILBOX_SEPARATOR,
    PROP_COLOR,
    PROP_DESCRIPTION,
    PROP_DISPLAYNAME,
    PROP_ORDER,
    PROP_TIMEZONE,
    CollectionKind,
    Role,
    canonical_flag,
)

_ACCOUNT_RE = re.compile(r"^[a-z0-9!#$%&'*+\-/=?^_`{|}~.]+@[a-z0-9](?:[a-z0-9\-.]*[a-z0-9])?$")
_FLAG_RE = re.compile(r"^\\?[!#$&'+\-.0-9:;<=>?@A-Z^_`a-z|~\x80-\U0010ffff]+$")


def normalize_account(account: str) -> str:
    """Lower-case ``account`` and check it is ``user@domain``; ``InvalidData`` if not."""
    name = (account or "").strip().lower()
    if len(name) > 254 or not _ACCOUNT_RE.match(name):
        raise InvalidData(f"account names are user@domain, not {account!r}")
    return name


def normalize_mailbox_name(name: str) -> str:
    """Check a folder name; return it with INBOX (and INBOX/...) in canonical case."""
    if not name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidData(f"bad folder name {name!r}")
    parts = name.split(MAILBOX_SEPARATOR)
    if any(p == "" for p in parts):
        raise InvalidData(f"empty hierarchy level in folder name {name!r}")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return MAILBOX_SEPARATOR.join(parts)


def parent_names(name: str) -> list[str]:
    """The ancestors of a folder name, outermost first ('a/b/c' -> ['a', 'a/b'])."""
    parts = name.split(MAILBOX_SEPARATOR)
    return [MAILBOX_SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]


def as_role(role) -> Optional[Role]:
    """``role`` (a ``Role``, its value, or None) as a ``Role`` or None; ``InvalidData``
    for anything else."""
    if role is None:
        return None
    try:
        return Role(role)
    except ValueError:
        raise InvalidData(f"unknown folder role {role!r}") from None


def normalize_collection_name(name: str) -> str:
    if not name or "/" in name or name in (".", "..") or any(ord(c) < 0x20 for c in name):
        raise InvalidData(f"bad collection name {name!r}")
    return name


def normalize_item_name(name: str) -> str:
    if not name or "/" in name or name in (".", "..") or any(ord(c) < 0x20 for c in name):
        raise InvalidData(f"bad item name {name!r}")
    return name


def normalize_flags(flags) -> frozenset[str]:
    """Canonicalise system flags; reject flags that are not IMAP atoms. Keywords keep
    the case first given."""
    out = {}
    for flag in flags:
        if not isinstance(flag, str) or not _FLAG_RE.match(flag):
            raise InvalidData(f"bad flag {flag!r}")
        canon = canonical_flag(flag)
        out.setdefault(canon.lower(), canon)
    return frozenset(out.values())


def make_etag(content: bytes) -> str:
    """A strong etag derived from the content: equal content, equal etag."""
    return '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'


def new_id() -> str:
    """A fresh opaque id for a folder or collection."""
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------------------
# Collections: the same validation whatever stores the items.

#: Property names ``ICollection.set_properties`` takes besides Clark-notation dead ones.
KNOWN_PROPERTIES = frozenset(
    {PROP_DISPLAYNAME, PROP_COLOR, PROP_DESCRIPTION, PROP_TIMEZONE, PROP_ORDER}
)
#: VFREEBUSY too: RFC 4791 lets a calendar that names it in its component set hold
#: published free-busy objects (and 9.9 says how time ranges match them).
_CALENDAR_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"})


def internal_date_of(when: Optional[datetime], now: Optional[datetime] = None) -> datetime:
    """The internal date of a message being appended (of ``IMailbox.append``): ``when``,
    a naive time taken as UTC, or ``now`` (default: the current time) when None."""
    if when is None:
        return now if now is not None else datetime.now(timezone.utc)
    if not isinstance(when, datetime):
        raise InvalidData("internal_date must be a datetime")
    # A naive time is taken as UTC rather than refused: it is what a caller most likely meant.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def body_bytes(body) -> bytes:
    """The message bytes of ``body`` (of ``IMailbox.append``: bytes-like or a binary file
    object); ``InvalidData`` otherwise."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    read = getattr(body, "read", None)
    if read is None:
        raise InvalidData("a message body is bytes or a binary file object")
    # One read() to the end: the file object sizes its buffer once, so a large message
    # is copied into memory once (chunk-and-join would hold it twice).
    data = read()
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise InvalidData("a message body file must be opened in binary mode")
    return data


def check_range(offset, length) -> None:
    """Raise ``InvalidData`` unless ``offset``/``length`` make a readable range."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidData("offset must be a non-negative integer")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 0):
        raise InvalidData("length must be None or a non-negative integer")


def check_ranges(ranges) -> list[tuple[int, int, Optional[int]]]:
    """``ranges`` (of ``IMailboxRangeReads.read_ranges``) as a list of ``(uid, offset, length)``
    tuples; ``InvalidData`` if one is not of that shape or has a negative offset or
    length."""
    out = []
    for item in ranges:
        try:
            uid, offset, length = item
        except (TypeError, ValueError):
            raise InvalidData(f"a range is (uid, offset, length), not {item!r}") from None
        check_range(offset, length)
        out.append((uid, offset, length))
    return out


def check_uid_window(after, limit) -> tuple[int, int]:
    """``(after, limit)`` of ``IMailboxUIDWindow.uids_after`` with ``after`` clamped to the
    UID range (every UID is above a negative one, none above 2**32 - 1); ``InvalidData``
    unless both are ints and ``limit`` is positive. A bool is not a number here."""
    for name, value in (("after", after), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidData(f"{name} must be an integer, not {value!r}")
    if limit < 1:
        raise InvalidData(f"limit must be positive, not {limit!r}")
    return min(max(after, 0), (1 << 32) - 1), limit


def check_recent_uid(uid) -> int:
    """The ``uid`` of ``IMailboxRecent.claim_recent`` clamped to the UID range;
    ``InvalidData`` unless it is an int (a bool is not)."""
    if isinstance(uid, bool) or not isinstance(uid, int):
        raise InvalidData(f"uid must be an integer, not {uid!r}")
    return min(max(uid, 0), (1 << 32) - 1)


def check_change_limit(limit) -> None:
    """``InvalidData`` unless ``limit`` (of ``ICollection.changes_since``) is None or a
    positive integer; a bool is not a count."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidData(f"limit must be a positive integer, not {limit!r}")


def check_properties(changes) -> dict:
    """Validate a property dict (``set_properties`` / ``create_collection``); return a copy.

    Names are the ``smsync.model.PROP_*`` names or ``{namespace}local``; values are str,
    or None for "remove".
    """
    if changes is None:
        return {}
    if not isinstance(changes, dict):
        raise InvalidData("collection properties are a dict name -> str or None")
    out = {}
    for name, value in changes.items():
        clark = isinstance(name, str) and name.startswith("{") and "}" in name[1:-1]
        if not isinstance(name, str) or not (name in KNOWN_PROPERTIES or clark):
            raise InvalidData(f"unknown property {name!r} (use Clark notation for others)")
        if value is not None and not isinstance(value, str):
            raise InvalidData(f"property {name!r} takes a string value")
        out[name] = value
    return out


def collection_kind(kind) -> CollectionKind:
    try:
        return CollectionKind(kind)
    except ValueError:
        raise InvalidData(f"unknown collection kind {kind!r}") from None


def collection_components(kind: CollectionKind, components) -> frozenset[str]:
    """The component set a new collection of ``kind`` accepts (default or checked)."""
    if components is None:
        return DEFAULT_COMPONENTS[kind]
    if isinstance(components, str):
        components = [components]
    if not all(isinstance(c, str) for c in components):
        raise InvalidData("components are component names such as VEVENT")
    chosen = frozenset(c.upper() for c in components)
    allowed = {"VCARD"} if kind is CollectionKind.ADDRESSBOOK else _CALENDAR_COMPONENTS
    if not chosen or not chosen <= allowed:
        raise InvalidData(f"a {kind.value} collection takes components among {sorted(allowed)}")
    return chosen


def etag_matches(current: str | None, wanted: str) -> bool:
    """If-Match semantics: ``*`` matches any existing item; otherwise the opaque parts are
    compared, since clients echo etags with or without quotes (and some add ``W/``)."""
    if current is None:
        return False
    wanted = wanted.strip()
    if wanted == "*":
        return True
    return current.strip('"') == wanted.removeprefix("W/").strip('"')


@attrs.frozen
class ItemSummary:
    """What a store keeps about an item besides its content. ``spans`` and
    ``expanded_until`` as ``smsync.formats.icalendar.CalendarSummary`` has them (empty and
    None for vCards)."""

    uid: str
    component: str
    spans: tuple = ()
    expanded_until: Optional[int] = None


def summarize_item(content, components: frozenset[str] | None = None) -> ItemSummary:
    """Validate iCalendar or vCard ``content`` for a collection taking ``components``.

    Raises ``InvalidData`` for content that is not bytes or does not parse, and
    ``UnsupportedComponent`` when the collection does not take its component.
    """
    if isinstance(content, (bytearray, memoryview)):
        content = bytes(content)
    if not isinstance(content, bytes):
        raise InvalidData("item content is bytes")
    # The formats pull in vobject and dateutil, which a mail-only process need not load.
    from smsync.formats import icalendar, vcard

    head = content[:256].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    if head.startswith(b"BEGIN:VCARD"):
        card = vcard.summarize_vcard(content)
        summary = ItemSummary(card.uid, "VCARD")
    else:
        cal = icalendar.summarize_calendar(content)
        summary = ItemSummary(cal.uid, cal.component, tuple(cal.spans), cal.expanded_until)
    if components is not None and summary.component not in components:
        raise UnsupportedComponent(f"this collection does not take {summary.component}")
    return summary


def epoch_bounds(start, end) -> tuple[int, int]:
    """A time-range query's bounds in the epoch seconds spans use: open ends become
    ``SPAN_MIN``/``SPAN_MAX``, the start is floored and the end rounded up; naive datetimes
    are taken as UTC, as floating times are."""
    from smsync.formats.icalendar import SPAN_MAX, SPAN_MIN

    def seconds(moment):
        if not isinstance(moment, datetime):
            raise InvalidData("time-range bounds are datetimes")
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()

    lo = SPAN_MIN if start is None else math.floor(seconds(start))
    hi = SPAN_MAX if end is None else math.ceil(seconds(end))
    return lo, hi


def policy_subject(subject) -> str:
    """A protocol-policy rule's subject (``IProtocolPolicy``) as stores keep it:
    stripped and lower-case. ``InvalidData`` for an empty or non-text subject."""
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidData("a policy subject is a domain or user@domain")
    return subject.strip().lower()


def setting_key_value(key, value) -> tuple[str, Optional[bytes]]:
    """An ``IAccountSettings.set`` key and value as stores keep them; ``InvalidData``
    for a key that is not non-empty text of at most 200 characters, or a value that is
    not bytes (or None) or is larger than ``MAX_SETTING``."""
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidData("a setting key is non-empty text of at most 200 characters")
    if value is None:
        return key, None
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise InvalidData(f"setting {key!r} must be bytes or None")
    if len(value) > MAX_SETTING:
        raise InvalidData(f"setting {key!r} is larger than {MAX_SETTING} octets")
    return key, value


_RIGHTS_RE = re.compile(r"^[a-z0-9]{0,64}$")


def sharing_entry(identifier, rights) -> tuple[str, Optional[str]]:
    """An ``IFolderSharing.set`` identifier and rights as stores keep them (rights None
    for "remove the entry"); ``InvalidData`` for an identifier that is not non-empty
    text of at most 200 characters or rights that are not lower-case ASCII letters and
    digits."""
    if not isinstance(identifier, str) or not identifier or len(identifier) > 200:
        raise InvalidData("an identifier is non-empty text of at most 200 characters")
    if rights is None or rights == "":
        return identifier, None
    if not isinstance(rights, str) or not _RIGHTS_RE.match(rights):
        raise InvalidData(f"rights are lower-case ASCII letters and digits, not {rights!r}")
    return identifier, rights


def annotation_changes(folder_id, changes) -> dict[str, Optional[bytes]]:
    """``IAnnotations.set`` changes as stores keep them; ``InvalidData`` for a folder id
    that is not text, a name that is not non-empty text of at most
    ``MAX_ANNOTATION_NAME`` characters, or a value that is not bytes (or None) or is
    larger than ``MAX_ANNOTATION``."""
    if not isinstance(folder_id, str):
        raise InvalidData("a folder id is text")
    if not isinstance(changes, dict):
        raise InvalidData("annotation changes are a dict name -> bytes or None")
    out: dict[str, Optional[bytes]] = {}
    for name, value in changes.items():
        if not isinstance(name, str) or not name or len(name) > MAX_ANNOTATION_NAME:
            raise InvalidData(f"an annotation name is non-empty text of at most "
                              f"{MAX_ANNOTATION_NAME} characters")
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        if value is not None and not isinstance(value, bytes):
            raise InvalidData(f"annotation {name!r} must be bytes or None")
        if value is not None and len(value) > MAX_ANNOTATION:
            raise InvalidData(f"annotation {name!r} is larger than {MAX_ANNOTATION} octets")
        out[name] = value
    return out


def dav_path(path) -> str:
    """An ``IDavTree`` path, checked: ``InvalidData`` unless it is text of non-empty
    segments joined by ``/``, without NUL, of at most 4096 characters."""
    if (not isinstance(path, str) or not path or len(path) > 4096 or "\x00" in path
            or "" in path.split("/")):
        raise InvalidData(f"bad path {path!r}")
    return path


def dav_parent(path: str) -> Optional[str]:
    """The parent of ``IDavTree`` path ``path``; None for a node at the top."""
    return path.rsplit("/", 1)[0] if "/" in path else None


def dav_below(path: str, top: str) -> bool:
    """Whether ``path`` is ``top`` or a node below it."""
    return path == top or path.startswith(top + "/")


def dav_properties(current: dict, changes) -> dict:
    """``current`` dead properties with ``IDavTree.set_properties`` ``changes`` applied;
    ``InvalidData`` for a name or value that is not text."""
    if not isinstance(changes, dict):
        raise InvalidData("property changes are a dict")
    out = dict(current)
    for name, value in changes.items():
        if not isinstance(name, str) or not name or (value is not None and not isinstance(value, str)):
            raise InvalidData(f"bad property {name!r}")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


#: The largest page ``IAccountListing.page`` and ``IDeviceListing.across`` give.
MAX_PAGE = 1000


def check_page_limit(limit) -> int:
    """``limit`` of a page of accounts or devices; ``InvalidData`` out of 1..MAX_PAGE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidData(f"a page holds 1 to {MAX_PAGE} entries, not {limit!r}")
    return limit


def account_page_args(search, after, limit) -> tuple[str, Optional[str], int]:
    """``IAccountListing.page``'s arguments checked: ``(search lower-cased or "",
    after or None, limit)``; ``InvalidData`` otherwise."""
    if search is not None and not isinstance(search, str):
        raise InvalidData("a search is text")
    if after is not None and not isinstance(after, str):
        raise InvalidData("after is an account name")
    return (search or "").lower(), after or None, check_page_limit(limit)


def device_sort_time(when: Optional[datetime]) -> int:
    """A device's ``last_sync`` as the integer microseconds ``IDeviceListing`` orders
    by: -1 for never, so never-synced devices come first."""
    if when is None:
        return -1
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def device_listing_args(protocol, synced_before, limit) -> tuple[Optional[str], int, int]:
    """``IDeviceListing.across``'s filters checked: ``(protocol, the sort time below
    which a device is listed, limit)``; ``InvalidData`` otherwise."""
    if protocol is not None and not isinstance(protocol, str):
        raise InvalidData("a protocol is text")
    if synced_before is None:
        below = 2 ** 62
    elif not isinstance(synced_before, datetime) or synced_before.tzinfo is None:
        raise InvalidData("synced_before is a timezone-aware datetime")
    else:
        below = device_sort_time(synced_before)
    return protocol or None, below, check_page_limit(limit)


def encode_cursor(*parts) -> str:
    """An opaque page cursor holding ``parts`` (ints and text)."""
    import base64
    import json

    raw = json.dumps(list(parts), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor, *kinds) -> tuple:
    """The parts of a cursor ``encode_cursor`` made, each of the type in ``kinds``;
    ``InvalidData`` for anything else."""
    import base64
    import binascii
    import json

    if not isinstance(cursor, str) or len(cursor) > 2000:
        raise InvalidData("not a page cursor")
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidData("not a page cursor") from None
    if not isinstance(parts, list) or len(parts) != len(kinds) or not all(
            isinstance(p, k) and not isinstance(p, bool) for p, k in zip(parts, kinds)):
        raise InvalidData("not a page cursor")
    return tuple(parts)
