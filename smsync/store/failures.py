"""Storage that cannot take a write (disk full, read-only, I/O errors), told apart from
bugs: stores turn such errors into ``smsync.errors.StorageUnavailable`` so that every
protocol answers with its own "try again later" (IMAP ``NO [UNAVAILABLE]``, HTTP 507,
LMTP/SMTP 452, POP3 ``-ERR [SYS/TEMP]``) instead of an internal error, and the
administrator gets one log line a minute saying what is wrong, not a traceback per
client.
"""

from __future__ import annotations

import errno
import time

from twisted.logger import Logger
from twisted.python.failure import Failure

from smsync.errors import StorageUnavailable

log = Logger(namespace="smsync.store")

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DOWN_ERRNOS = {errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}

#: Seconds between two log lines about the same kind of storage failure.
LOG_INTERVAL = 60.0

_last_logged: dict = {}


def storage_error(exc: BaseException):
    """The ``StorageUnavailable`` ``exc`` stands for, or None when it is something else."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS | _DOWN_ERRNOS:
        full = exc.errno in _FULL_ERRNOS
        return StorageUnavailable(f"{'storage full' if full else 'storage unavailable'}: "
                                  f"{exc.strerror or exc}", full=full)
    text = str(exc).lower()
    kind = type(exc).__name__
    if kind in ("OperationalError", "DatabaseError", "DiskFull") or "psycopg" in type(exc).__module__:
        if "disk is full" in text or "no space left" in text or kind == "DiskFull":
            return StorageUnavailable(f"storage full: {' '.join(str(exc).split())}", full=True)
        if "readonly" in text or "read-only" in text or "disk i/o error" in text:
            return StorageUnavailable(f"storage unavailable: {' '.join(str(exc).split())}")
    return None


def translated(failure: Failure) -> Failure:
    """``failure`` as a ``StorageUnavailable`` failure where it is one (logged, at most
    once a minute per kind), else unchanged."""
    mapped = storage_error(failure.value)
    if mapped is None:
        return failure
    if mapped is not failure.value:
        key = (mapped.full, type(failure.value).__name__)
        now = time.monotonic()
        if now - _last_logged.get(key, -LOG_INTERVAL) >= LOG_INTERVAL:
            _last_logged[key] = now
            log.critical("smsync: store: writes fail: {why} (reads go on; clients are told "
                         "to try again later)", why=str(mapped))
    return Failure(mapped)
