"""Small file-system helpers: atomic writes, JSON state files, names made safe for paths,
and the Maildir flag codec.

Everything here is blocking and is only ever called on a worker thread (see
``worker.on_disk``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

# ---------------------------------------------------------------------------------------
# Durable writes


_flush_later = threading.local()


def _fsync(fd: int) -> None:
    if not getattr(_flush_later, "active", False):
        os.fsync(fd)


@contextlib.contextmanager
def one_flush_at_the_end():
    """Within the block, writes on this thread skip their fsyncs; leaving it normally
    flushes everything at once (``os.sync``).

    Only for building a tree nobody reads until it is renamed into place -- a new
    account -- where one flush replaces dozens of fsyncs.
    """
    _flush_later.active = True
    try:
        yield
    finally:
        _flush_later.active = False
    os.sync()


def fsync_dir(path: str) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never half of
    one, and the new one survives a crash once this returns."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(directory)


def copy_stream(source, path: str) -> int:
    """Write ``source`` (bytes or a binary file object read to its end) to the new file
    ``path``, durably, without holding a file object's content in memory. Returns the
    number of bytes written."""
    with open(path, "xb") as f:
        if isinstance(source, (bytes, bytearray, memoryview)):
            f.write(source)
        else:
            shutil.copyfileobj(source, f, 1 << 20)
        f.flush()
        _fsync(f.fileno())
        return f.tell()


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_json(path: str):
    """The decoded JSON document at ``path``, or None if the file does not exist."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_json(path: str, document) -> None:
    write_atomic(path, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))


# ---------------------------------------------------------------------------------------
# Names


def path_segment(name: str, keep_dots: bool = False) -> str:
    """An injective mapping of any name to one safe path segment.

    Percent-encoding keeps ordinary names readable on disk. ``.`` is encoded too unless
    ``keep_dots``, because Maildir++ uses it as its hierarchy separator; a leading dot
    is always encoded, since it would hide the file and our own state and temporary
    files start with one (so no name can collide with them).
    """
    segment = quote(name, safe=" !#$&'()+,;=@[]^`{}~")
    if not keep_dots:
        return segment.replace(".", "%2E")
    return "%2E" + segment[1:] if segment.startswith(".") else segment


def item_file_name(name: str, extension: str) -> str:
    """The preferred file name of a collection item: readable, with the extension vdir
    readers (khal, todoman, vdirsyncer) look for.

    Not injective ("a" and "a.ics" both give "a.ics"): the collection's state file
    records each item's file, and a name already taken falls back to a random one.
    """
    has_extension = name.endswith(extension) and name != extension
    stem = name[: -len(extension)] if has_extension else name
    return path_segment(stem, keep_dots=True) + extension


def unique_maildir_name(size: int) -> str:
    """A Maildir unique name (``time.MusecPpidQrandom.host,S=size``) for a new message."""
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return (
        f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{uuid.uuid4().hex[:12]}"
        f".{host},S={size}"
    )


# ---------------------------------------------------------------------------------------
# Maildir flags: "uniquename:2,FRS"

#: IMAP system flag -> Maildir info letter (the letters must appear in ASCII order).
MAILDIR_LETTERS = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
_FLAG_OF_LETTER = {letter: flag for flag, letter in MAILDIR_LETTERS.items()}


def maildir_info(flags) -> str:
    """The ``:2,`` info suffix holding the system flags among ``flags``."""
    return ":2," + "".join(sorted(MAILDIR_LETTERS[f] for f in flags if f in MAILDIR_LETTERS))


def split_maildir_name(file_name: str) -> tuple[str, frozenset[str]]:
    """Split a Maildir file name into its unique part and its system flags.

    Letters we do not know (``P``assed, lower-case keyword letters written by other
    tools) are ignored rather than rejected: the file is still a message.
    """
    unique, sep, info = file_name.partition(":2,")
    if not sep:
        return file_name.partition(":")[0], frozenset()
    return unique, frozenset(_FLAG_OF_LETTER[c] for c in info if c in _FLAG_OF_LETTER)


# ---------------------------------------------------------------------------------------
# Time


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
