"""The grammar of the IMAP ACL commands (RFC 4314 7): SETACL, DELETEACL, GETACL,
LISTRIGHTS and MYRIGHTS. Pure functions of a ``Reader``, registered in ``parser``."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.protocols.imap.reader import Reader


@attrs.frozen
class AclArgs:
    """A mailbox and, for the commands taking them, an identifier and rights (raw)."""

    mailbox: bytes
    identifier: Optional[bytes] = None
    rights: Optional[bytes] = None


def getacl(r: Reader, uid: bool) -> AclArgs:
    """``getacl = "GETACL" SP mailbox``; MYRIGHTS alike."""
    r.sp()
    return AclArgs(r.astring())


def deleteacl(r: Reader, uid: bool) -> AclArgs:
    """``deleteacl = "DELETEACL" SP mailbox SP identifier``; LISTRIGHTS alike."""
    r.sp()
    mailbox = r.astring()
    r.sp()
    return AclArgs(mailbox, r.astring())


def setacl(r: Reader, uid: bool) -> AclArgs:
    """``setacl = "SETACL" SP mailbox SP identifier SP mod-rights``."""
    r.sp()
    mailbox = r.astring()
    r.sp()
    identifier = r.astring()
    r.sp()
    return AclArgs(mailbox, identifier, r.astring())


COMMANDS = {
    "SETACL": setacl,
    "DELETEACL": deleteacl,
    "GETACL": getacl,
    "LISTRIGHTS": deleteacl,
    "MYRIGHTS": getacl,
}
