"""EWS FolderId and ItemId values, and ChangeKeys: pure functions.

An id names the account, the source (a mail folder's ``MailboxEntry.id``, a
collection's ``CollectionInfo.id``, or one of the folders EWS has and the store does
not: the root, the message folder root, the outbox) and, for an item, the message's UID
or the collection item's name. Those are all stable for the life of what they name, so
ids are stable across restarts and processes. An id is base64 of a version byte, a kind
letter, length-prefixed UTF-8 fields and a checksum: a damaged or made-up id fails the
checksum or the layout and is ``ErrorInvalidIdMalformed``; a well-formed id of another
account is refused by the caller (``ErrorAccessDenied``) before anything is read.

A ChangeKey is the item's (or folder's) revision in the change log -- a message's
MODSEQ, a collection item's revision -- so it changes whenever the item does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Optional

import attrs

_VERSION = 1
_CHECK = 4

#: Kind letters.
MAIL_FOLDER, COLLECTION, VIRTUAL = "F", "C", "V"
MESSAGE, ITEM = "M", "I"
#: An attachment of a message: its part's section path (``"2"``, ``"2.1"``).
ATTACHMENT = "A"

#: Folders EWS has that the store does not.
ROOT, MSGFOLDERROOT, OUTBOX = "root", "msgfolderroot", "outbox"
#: Exchange's "dumpster": a soft delete here removes, so they stay empty.
RECOVERABLE_ROOT, RECOVERABLE_DELETIONS = "recoverableitemsroot", "recoverableitemsdeletions"
VIRTUAL_FOLDERS = (ROOT, MSGFOLDERROOT, OUTBOX, RECOVERABLE_ROOT, RECOVERABLE_DELETIONS)


class MalformedId(ValueError):
    """Not an id this server made (ErrorInvalidIdMalformed)."""


@attrs.frozen
class FolderRef:
    """A folder: ``kind`` MAIL_FOLDER, COLLECTION or VIRTUAL; ``source`` the store's
    id of it (or the virtual folder's name)."""

    account: str
    kind: str
    source: str


@attrs.frozen
class ItemRef:
    """An item: a message (``kind`` MESSAGE, ``key`` its UID as text) of a mail
    folder, or a collection item (``kind`` ITEM, ``key`` its name)."""

    account: str
    kind: str
    source: str
    key: str

    @property
    def folder(self) -> FolderRef:
        return FolderRef(self.account, MAIL_FOLDER if self.kind == MESSAGE else COLLECTION,
                         self.source)

    @property
    def uid(self) -> int:
        return int(self.key)


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_CHECK, person=b"smsync-ews-id").digest()


def _pack(kind: str, *fields: str) -> str:
    out = bytearray([_VERSION]) + kind.encode("ascii")
    for value in fields:
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise ValueError("an id field longer than 65535 bytes")
        out += len(raw).to_bytes(2, "big") + raw
    out += _checksum(bytes(out))
    return base64.b64encode(bytes(out)).decode("ascii")


def _unpack(text: str) -> tuple[str, list[str]]:
    if not isinstance(text, str) or not text or len(text) > 4096:
        raise MalformedId("no id")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedId("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text.strip():
        raise MalformedId("not an id of this server")  # stray bits: not one we wrote
    if len(raw) < 2 + _CHECK or raw[0] != _VERSION:
        raise MalformedId("not an id of this server")
    body, check = raw[:-_CHECK], raw[-_CHECK:]
    if _checksum(body) != check:
        raise MalformedId("the id is damaged")
    kind = chr(body[1])
    fields, at = [], 2
    while at < len(body):
        if at + 2 > len(body):
            raise MalformedId("truncated id")
        size = int.from_bytes(body[at:at + 2], "big")
        at += 2
        if at + size > len(body):
            raise MalformedId("truncated id")
        try:
            fields.append(body[at:at + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedId("the id is not UTF-8") from None
        at += size
    return kind, fields


def folder_id(ref: FolderRef) -> str:
    """The FolderId text of ``ref``."""
    return _pack(ref.kind, ref.account, ref.source)


def item_id(ref: ItemRef) -> str:
    """The ItemId text of ``ref``."""
    return _pack(ref.kind, ref.account, ref.source, ref.key)


def parse_folder_id(text: str) -> FolderRef:
    """The folder ``text`` names; ``MalformedId`` if it names none (an item's id
    included)."""
    kind, fields = _unpack(text)
    if kind not in (MAIL_FOLDER, COLLECTION, VIRTUAL) or len(fields) != 2:
        raise MalformedId("not a folder id")
    if kind == VIRTUAL and fields[1] not in VIRTUAL_FOLDERS:
        raise MalformedId("not a folder id")
    return FolderRef(fields[0], kind, fields[1])


def parse_item_id(text: str) -> ItemRef:
    """The item ``text`` names; ``MalformedId`` if it names none."""
    kind, fields = _unpack(text)
    if kind not in (MESSAGE, ITEM) or len(fields) != 3:
        raise MalformedId("not an item id")
    if kind == MESSAGE and not (fields[2].isascii() and fields[2].isdigit()
                                and 0 < int(fields[2]) < 2 ** 32):
        raise MalformedId("not an item id")
    return ItemRef(fields[0], kind, fields[1], fields[2])


def attachment_id(ref: ItemRef, path: str) -> str:
    """The AttachmentId text of part ``path`` of the message ``ref``, or of attachment
    ``path`` (``i`` and 16 hex digits, ``item_attachments``) of collection item ``ref``."""
    return _pack(ATTACHMENT, ref.account, ref.source, ref.key, path)


def _is_item_path(path: str) -> bool:
    return len(path) == 17 and path[0] == "i" and all(c in "0123456789abcdef" for c in path[1:])


def parse_attachment_id(text: str) -> tuple[ItemRef, str]:
    """``(the message or collection item, the attachment's path)`` an AttachmentId
    names; ``MalformedId``."""
    kind, fields = _unpack(text)
    if kind != ATTACHMENT or len(fields) != 4:
        raise MalformedId("not an attachment id")
    account, source, key, path = fields
    if _is_item_path(path) and key:
        return ItemRef(account, ITEM, source, key), path
    if not (key.isascii() and key.isdigit()) or not all(p.isdigit() for p in path.split(".")):
        raise MalformedId("not an attachment id")
    return ItemRef(account, MESSAGE, source, key), path


def change_key(revision: Optional[int]) -> str:
    """The ChangeKey of something at ``revision`` of the change log."""
    return base64.b64encode(b"CK" + str(int(revision or 0)).encode("ascii")).decode("ascii")


def parse_change_key(text: Optional[str]) -> Optional[int]:
    """The revision a ChangeKey names, or None for one this server did not make."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(b"CK") or not raw[2:].isdigit():
        return None
    return int(raw[2:])
