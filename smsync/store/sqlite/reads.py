"""Reading message bytes of a ``sqlite:`` store in one reader-thread hop.

``read_body`` and ``read_ranges`` of ``SQLiteMailbox`` run these functions on a reader
thread (``Database.read``): the row lookup and the file reads happen in the same hop,
inside the read transaction. A FETCH of 100 headers thus costs one trip through the
thread pool instead of two per message, which is what kept 50 IMAP clients queueing.

Reading the files inside the read transaction also means a body is read while the
snapshot that names it is still open; a body freed by a concurrent expunge may still be
unlinked under us (the writer unlinks after its commit), which reads as "not there".
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Optional

from smsync.errors import NotFound

#: UIDs are 32-bit (RFC 3501); anything else cannot be in a folder.
_MAX_UID = (1 << 32) - 1
#: UIDs looked up per statement (well under SQLite's bound-variable limit).
_CHUNK = 500


def _valid_uid(uid, _int=int) -> bool:
    return type(uid) is _int and 0 < uid <= _MAX_UID


def _check_folder(conn, pk: int) -> None:
    if conn.execute("SELECT 1 FROM folders WHERE id = ?", (pk,)).fetchone() is None:
        raise NotFound("folder no longer exists")


def body_locations(conn, pk: int, uids) -> dict[int, tuple[str, int]]:
    """``uid -> (relative body path, size)`` for those of ``uids`` in folder ``pk``."""
    wanted = sorted({u for u in uids if _valid_uid(u)})
    found: dict[int, tuple[str, int]] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for uid, path, size in conn.execute(
            "SELECT m.uid, b.path, b.size FROM messages m JOIN bodies b ON b.id = m.body_id"
            f" WHERE m.folder_id = ? AND m.uid IN ({marks})",
            (pk, *chunk),
        ):
            found[uid] = (path, size)
    return found


def _pread_all(fd: int, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
    first = os.pread(fd, length, offset)
    if len(first) == length or not first:
        return first
    # A short read before the end (huge reads are capped by the kernel): keep going.
    parts, got = [first], len(first)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_file(root: str, relpath: str, size: int, offset: int, length: Optional[int]) -> Optional[bytes]:
    """The bytes of one range of a body file; None if the file is gone."""
    if offset >= size or length == 0:
        return b""
    want = size - offset if length is None else min(length, size - offset)
    try:
        fd = os.open(os.path.join(root, relpath), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _pread_all(fd, offset, want)
    finally:
        os.close(fd)


def read_ranges(conn, root: str, pk: int, ranges) -> list[Optional[bytes]]:
    """For each ``(uid, offset, length)`` of ``ranges`` (already checked), the bytes of
    that range of the message's body, or None if the UID is not in folder ``pk`` (or its
    body went away meanwhile). ``NotFound`` if the folder is gone. Blocking: runs on a
    reader thread with ``conn`` in a read transaction; ``root`` is the bodies directory."""
    _check_folder(conn, pk)
    where = body_locations(conn, pk, (r[0] for r in ranges))
    out: list[Optional[bytes]] = []
    # Ranges of one message usually come together (a header, then its parts): keep its
    # file open across them, and only one file open at a time.
    open_uid, fd = None, -1
    try:
        for uid, offset, length in ranges:
            loc = where.get(uid) if _valid_uid(uid) else None
            if loc is None:
                out.append(None)
                continue
            path, size = loc
            if offset >= size or length == 0:
                out.append(b"")
                continue
            if uid != open_uid:
                if fd >= 0:
                    os.close(fd)
                open_uid, fd = uid, -1
                try:
                    fd = os.open(os.path.join(root, path), os.O_RDONLY)
                except FileNotFoundError:
                    pass
            if fd < 0:
                out.append(None)
                continue
            want = size - offset if length is None else min(length, size - offset)
            out.append(_pread_all(fd, offset, want))
    finally:
        if fd >= 0:
            os.close(fd)
    return out


def read_body(conn, root: str, pk: int, uid, offset: int, length: Optional[int]) -> bytes:
    """``length`` bytes (None: to the end) of message ``uid`` of folder ``pk`` from
    ``offset``. ``NotFound`` if the folder, the message or its body file is gone.
    Blocking, like ``read_ranges``."""
    _check_folder(conn, pk)
    loc = body_locations(conn, pk, (uid,)).get(uid) if _valid_uid(uid) else None
    if loc is None:
        raise NotFound(f"no message with UID {uid}")
    data = _read_file(root, loc[0], loc[1], offset, length)
    if data is None:
        raise NotFound("message body is gone (expunged meanwhile)")
    return data


class StructureCache:
    """Decoded ``MessageStructure`` objects by body file, least recently used dropped
    first once their stored blobs add up to more than ``budget`` bytes (the objects
    take about four times that). Thread-safe: reader threads share it.

    Decoding a structure blob costs more than the rest of a FETCH of its header, and
    IMAP clients ask for the same messages' structures over and over (SEARCH FROM on
    every poll, ENVELOPE and header FETCHes). A body file is written once and never
    changed, and its name is never reused, so an entry never goes stale: a freed body's
    entry just ages out.
    """

    def __init__(self, budget: int):
        self.budget = budget
        self._entries: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def get_many(self, keys) -> list:
        """``get`` of each of ``keys`` (None where absent) under one lock acquisition:
        a SEARCH asks for hundreds at a time."""
        entries = self._entries
        out = []
        with self._lock:
            for key in keys:
                entry = entries.get(key)
                if entry is None:
                    out.append(None)
                else:
                    entries.move_to_end(key)
                    out.append(entry[0])
        return out

    def put(self, key, structure, size: int) -> None:
        with self._lock:
            if key in self._entries or size > self.budget:
                return
            self._entries[key] = (structure, size)
            self._size += size
            while self._size > self.budget:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped

    def __len__(self) -> int:
        return len(self._entries)


#: Shared by every ``sqlite:`` store of the process (keys name the store's directory).
#: 4 MB of blobs is some 8,000 structures of plain messages, about 16 MB in memory.
structure_cache = StructureCache(4 << 20)


def structures(conn, root: str, pk: int, uids: list[int]) -> dict:
    """``uid -> MessageStructure`` for those of ``uids`` in folder ``pk`` (``NotFound``
    if the folder is gone), decoded blobs coming from ``structure_cache`` when there.
    Blocking, like ``read_ranges``.

    A SEARCH asks for hundreds of structures per command, nearly all cached: the work per
    message is kept to a row, a cache probe (one lock for all) and a dict entry."""
    from smsync.formats.message import structure_from_bytes

    _check_folder(conn, pk)
    wanted = [u for u in set(uids) if _valid_uid(u)]
    out: dict = {}
    missing: dict[int, list] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT m.uid, b.id, b.path FROM messages m JOIN bodies b ON b.id = m.body_id"
            f" WHERE m.folder_id = ? AND m.uid IN ({marks})",
            (pk, *chunk),
        ).fetchall()
        cached = structure_cache.get_many([(root, row[2]) for row in rows])
        for row, structure in zip(rows, cached):
            if structure is None:
                missing.setdefault(row[1], [row[2]]).append(row[0])
            else:
                out[row[0]] = structure
    ids = list(missing)
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for body_id, blob in conn.execute(
            f"SELECT id, structure FROM bodies WHERE id IN ({marks})", chunk
        ):
            path, *owners = missing[body_id]
            structure = structure_from_bytes(blob)
            structure_cache.put((root, path), structure, len(blob))
            for uid in owners:
                out[uid] = structure
    return out
