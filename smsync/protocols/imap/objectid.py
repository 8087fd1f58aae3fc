"""RFC 8474 OBJECTID: the MAILBOXID of a folder, the EMAILID and THREADID of a message.

* MAILBOXID is the store's folder id (``MailboxEntry.id``), which keeps across renames
  and is never given to another folder, behind an "F" (section 8.1 advises against ids
  that start with a digit, as a UUID's hex may); an id that is no ``objectid`` (a
  third-party store's) goes out as a digest of it.
* EMAILID is made from the digest of the message's bytes kept in its structure: a COPY
  or MOVE has the same bytes, so the same EMAILID, as section 5.1 requires of the two
  messages COPYUID pairs, and it can never change. Two APPENDs of identical bytes get
  the same one too, which the section allows.
* THREADID is made from the thread's first Message-ID as the message names it (the
  first References id, else In-Reply-To, else its own Message-ID): replies that carry
  References share their thread's, in every folder, and it too is fixed by the bytes.
  A message without any Message-ID is a thread of its own.

They are the same whoever looks (a folder shared between accounts shows one message
under one EMAILID, and a COPY out of it keeps it), and they carry a prefix each ("M",
"T"), so no value is both an EMAILID and a THREADID.
"""

from __future__ import annotations

import hashlib
import re
from typing import Optional

import attrs

from smsync.formats.headers import message_ids

_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}\Z")
#: Structures without a digest (stored before it was kept) are completed by reading the
#: message in pieces of this size.
_READ_CHUNK = 1 << 20


def is_objectid(value: str) -> bool:
    """Whether ``value`` is an RFC 8474 ``objectid``: 1*255(ALPHA / DIGIT / "_" / "-")."""
    return bool(_OBJECTID.match(value))


def mailbox_id(folder_id: str) -> str:
    """The MAILBOXID of the folder whose store id is ``folder_id``."""
    if is_objectid(folder_id) and len(folder_id) < 255:
        return "F" + folder_id
    return "F" + hashlib.blake2b(folder_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def email_id(structure) -> str:
    """The EMAILID of a message (its structure must carry its digest: see
    ``with_digests``)."""
    return "M" + structure.digest


def thread_root(structure) -> Optional[str]:
    """The first Message-ID of the message's thread as the message itself names it
    (``<...>``), or None when it has no Message-ID at all. Only ``<left@right>`` ids
    count: old mailers put phrases ("your message of Tuesday") in In-Reply-To, and a
    word of one would thread unrelated messages together."""
    for ids in (structure.references, message_ids(structure.in_reply_to), message_ids(structure.message_id)):
        for found in ids:
            if found.startswith("<") and "@" in found:
                return found
    return None


def thread_id(structure) -> str:
    """The THREADID of a message (a digest-carrying structure)."""
    root = thread_root(structure)
    if root is None:
        basis = b"message " + structure.digest.encode("ascii")
    else:
        basis = b"thread " + root.encode("utf-8", "surrogateescape")
    return "T" + hashlib.blake2b(basis, digest_size=16).hexdigest()


async def with_digests(mailbox, structures: dict) -> dict:
    """``structures`` (uid -> ``MessageStructure``) with the digest filled in where a
    store kept a structure from before digests were kept, by reading the message. A
    message gone meanwhile is left out."""
    from smsync.errors import NotFound
    from smsync.formats.message import content_digest

    missing = [uid for uid, st in structures.items() if st.digest is None]
    if not missing:
        return structures
    out = dict(structures)
    for uid in missing:
        st = out[uid]
        try:
            if st.size <= _READ_CHUNK:
                digest = content_digest(await mailbox.read_body(uid))
            else:
                digest = await _digest_in_pieces(mailbox, uid, st.size)
        except NotFound:
            del out[uid]
            continue
        out[uid] = attrs.evolve(st, digest=digest)
    return out


async def _digest_in_pieces(mailbox, uid: int, size: int) -> str:
    # The same digest as content_digest gives, without the message whole in memory.
    h = hashlib.blake2b(digest_size=16)
    for offset in range(0, size, _READ_CHUNK):
        h.update(await mailbox.read_body(uid, offset, _READ_CHUNK))
    return h.hexdigest()
