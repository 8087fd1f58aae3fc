"""EWS ResponseCodes (MS-OXWSCDATA 2.2.5.24) and the error a handler raises for one item.

``EWSError`` fails one item of a batch with its ResponseCode (the others go on);
``from_store`` maps the store's ``smsync.errors`` to the code an EWS client expects.
"""

from __future__ import annotations

from smsync.errors import (
    AlreadyExists,
    Conflict,
    InvalidData,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    QuotaExceeded,
    StorageUnavailable,
    SyncTokenInvalid,
)

NO_ERROR = "NoError"
ACCESS_DENIED = "ErrorAccessDenied"
FOLDER_NOT_FOUND = "ErrorFolderNotFound"
ITEM_NOT_FOUND = "ErrorItemNotFound"
INVALID_ID_MALFORMED = "ErrorInvalidIdMalformed"
INVALID_ID_EMPTY = "ErrorInvalidIdEmpty"
INVALID_REQUEST = "ErrorInvalidRequest"
INVALID_OPERATION = "ErrorInvalidOperation"
INVALID_PROPERTY_REQUEST = "ErrorInvalidPropertyRequest"
INVALID_PROPERTY_SET = "ErrorInvalidPropertySet"
INVALID_SYNC_STATE = "ErrorInvalidSyncStateData"
IRRESOLVABLE_CONFLICT = "ErrorIrresolvableConflict"
FOLDER_EXISTS = "ErrorFolderExists"
QUOTA_EXCEEDED = "ErrorQuotaExceeded"
SERVER_BUSY = "ErrorServerBusy"
INTERNAL = "ErrorInternalServerError"
SCHEMA_VALIDATION = "ErrorSchemaValidation"
NOT_SUPPORTED = "ErrorInvalidOperation"
MIME_CONTENT_INVALID = "ErrorMimeContentInvalid"
CANNOT_DELETE = "ErrorCannotDeleteObject"
MOVE_COPY_FAILED = "ErrorMoveCopyFailed"
INVALID_PAGING = "ErrorInvalidIndexedPagingParameters"
IMPERSONATION_DENIED = "ErrorImpersonateUserDenied"
DELETE_DISTINGUISHED = "ErrorDeleteDistinguishedFolder"


class EWSError(Exception):
    """One item (or a whole single-item operation) failed with ``code``."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def from_store(error: Exception, not_found: str = ITEM_NOT_FOUND) -> EWSError:
    """The ``EWSError`` for a store error (``not_found``: the code for ``NotFound``)."""
    text = str(error)[:300]
    if isinstance(error, EWSError):
        return error
    if isinstance(error, NotFound):
        return EWSError(not_found, text)
    if isinstance(error, AlreadyExists):
        return EWSError(FOLDER_EXISTS, text)
    if isinstance(error, PreconditionFailed):
        return EWSError(IRRESOLVABLE_CONFLICT, text)
    if isinstance(error, PermissionDenied):
        return EWSError(ACCESS_DENIED, text)
    if isinstance(error, QuotaExceeded):
        return EWSError(QUOTA_EXCEEDED, text)
    if isinstance(error, SyncTokenInvalid):
        return EWSError(INVALID_SYNC_STATE, text)
    if isinstance(error, InvalidData):
        return EWSError(INVALID_REQUEST, text)
    if isinstance(error, Conflict):
        return EWSError(INVALID_OPERATION, text)
    if isinstance(error, StorageUnavailable):
        return EWSError(SERVER_BUSY, text)
    return EWSError(INTERNAL, text)
