"""The state-based sync engine EAS, EWS and SyncML share (``ISyncAdapter``).

Protocols import the value types and ``SyncAdapter`` from here.
"""

from smsync.sync.adapter import SyncAdapter
from smsync.sync.types import (
    ADD,
    CHANGE,
    COLLECTION,
    DELETE,
    MAIL,
    ChangeResult,
    ClientChange,
    ServerChange,
    SourceRef,
    SyncResult,
    SyncStatus,
)

__all__ = [
    "ADD",
    "CHANGE",
    "COLLECTION",
    "DELETE",
    "MAIL",
    "ChangeResult",
    "ClientChange",
    "ServerChange",
    "SourceRef",
    "SyncAdapter",
    "SyncResult",
    "SyncStatus",
]
