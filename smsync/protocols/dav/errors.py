"""HTTP errors of the WebDAV layer and the mapping of ``smsync.errors`` onto them."""

from __future__ import annotations

from typing import Optional

from smsync import errors


class DavError(Exception):
    """An answer other than success: an HTTP ``status``, optionally a precondition or
    postcondition element (Clark name, RFC 4918 16) for the ``DAV:error`` body, and any
    extra child elements of that precondition (e.g. the href of a conflicting item)."""

    def __init__(self, status: int, condition: Optional[str] = None, message: str = "",
                 children=(), headers: Optional[dict] = None):
        super().__init__(message or (condition or str(status)))
        self.status = status
        self.condition = condition
        self.message = message
        self.children = tuple(children)
        self.headers = dict(headers or {})


def from_store_error(exc: errors.SmsyncError, *, invalid_condition: Optional[str] = None,
                     invalid_status: int = 403) -> DavError:
    """The HTTP answer to a store error raised while serving a request."""
    text = str(exc)
    if isinstance(exc, errors.NotFound):
        return DavError(404, message=text)
    if isinstance(exc, errors.PreconditionFailed):
        return DavError(412, message=text)
    if isinstance(exc, errors.AlreadyExists):
        return DavError(405, message=text)
    if isinstance(exc, errors.PermissionDenied):
        return DavError(403, "{DAV:}need-privileges", text)
    if isinstance(exc, errors.QuotaExceeded):
        return DavError(507, "{DAV:}quota-not-exceeded", text)
    if isinstance(exc, errors.StorageUnavailable):
        # RFC 4918 11.5: 507 when the server is out of space; 503 when it cannot write.
        if exc.full:
            return DavError(507, message="the server is out of storage; try again later")
        return DavError(503, message="the server cannot store now; try again later",
                        headers={"Retry-After": "60"})
    if isinstance(exc, errors.SyncTokenInvalid):
        return DavError(403, "{DAV:}valid-sync-token", text)
    if isinstance(exc, errors.InvalidData):
        return DavError(invalid_status, invalid_condition, text)
    if isinstance(exc, errors.Conflict):
        return DavError(409, message=text)
    return DavError(500, message=text)
