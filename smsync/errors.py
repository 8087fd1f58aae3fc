"""The one error hierarchy every store raises and every protocol maps to its replies.

Stores raise these (and only these) for conditions a client can cause; protocols
translate them into their own answers (IMAP NO, HTTP 404/409/412, EAS status codes...).
Anything else escaping a store is a bug and is logged as one.
"""


class SmsyncError(Exception):
    """Base of every error smsync raises on purpose."""


class NotFound(SmsyncError):
    """The account, folder, collection, item, message or device does not exist."""


class AlreadyExists(SmsyncError):
    """A folder, collection, account or item name that must be new is taken."""


class Conflict(SmsyncError):
    """The request contradicts the current state (e.g. deleting INBOX, renaming onto a child)."""


class PreconditionFailed(SmsyncError):
    """An If-Match / If-None-Match / UNCHANGEDSINCE condition did not hold.

    ``current_etag`` is the item's etag at the time of the check, or None if it did not exist.
    """

    def __init__(self, message="precondition failed", current_etag=None):
        super().__init__(message)
        self.current_etag = current_etag


class UidConflict(Conflict):
    """A collection already holds an item with this iCalendar/vCard UID under another name."""

    def __init__(self, uid, existing_name):
        super().__init__(f"UID {uid!r} already stored as {existing_name!r}")
        self.uid = uid
        self.existing_name = existing_name


class InvalidData(SmsyncError):
    """Content that does not parse or violates the format's rules (bad iCalendar, vCard, RFC 5322, URI)."""


class UnsupportedComponent(InvalidData):
    """A calendar object whose component type the collection does not accept."""


class QuotaExceeded(SmsyncError):
    """Storing this would exceed a size or count limit."""


class PermissionDenied(SmsyncError):
    """The authenticated user may not do this (e.g. touch another user's data, write a read-only store)."""


class SyncTokenInvalid(SmsyncError):
    """A sync token / revision / sync key the store cannot answer from (too old, or never issued)."""


class StorageUnavailable(SmsyncError):
    """The store cannot write now: its disk is full (``full``), read-only, or failing.
    Nothing was changed; reads may still work. Protocols answer "try again later"."""

    def __init__(self, message="storage unavailable", full: bool = False):
        super().__init__(message)
        self.full = full


class BadStoreURI(SmsyncError):
    """A store URI names no known backend or is malformed."""
