"""Message bodies as files under ``<store>/bodies/``.

A body is written straight to its final name; the file's data and the directory entry
are made durable before the metadata row naming it is committed. A crash in between
(even half-way through writing) leaves an orphan file no row names, never a row without
its body; orphans are removed by ``clean_orphans`` when a process opens the store alone.
(No temporary name and rename: nothing reads a body before its row exists, and a rename
is one more journalled metadata operation per message.)

Group sync: on Linux, bodies written at the same time are made durable together by the
database writer's per-round ``syncfs(2)`` (see ``smsync.store.sqlite.writer``) instead of an
fsync per file plus one per directory. On ext4 (and most journalling file systems) each
fsync costs a journal commit, so per-file fsyncs cap concurrent delivery at a few
hundred messages a second, while a syncfs costs about what a single fsync does. Where
syncfs is missing each file is fsynced when written and its directory before its row is
queued.

Files go into one directory per hour (``bodies/YYYYMMDDHH/``) so that all bodies written
at the same time share a directory: a batch of concurrent appends then needs one
directory fsync rather than one per message, and no directory grows without bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import time
import uuid

from smsync.errors import NotFound
from smsync.store.sqlite.connection import fsync_dir

_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


def _find_syncfs():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_syncfs = _find_syncfs()


class BodyFiles:
    """Reads and writes body files below ``root``. All methods block: call them off the
    reactor thread."""

    def __init__(self, root: str, group_sync: bool | None = None):
        self.root = root
        #: True: files are made durable by ``sync_batch`` (one syncfs); False: each
        #: ``write`` fsyncs its file and ``sync_batch`` fsyncs the directories.
        #: Bodies must be made durable by ``sync_batch`` before a row names them.
        self.group_sync = (_syncfs is not None) if group_sync is None else group_sync
        # Names are a per-instance random prefix plus a counter: unique across processes
        # sharing the directory without drawing random bytes per message.
        self._prefix = uuid.uuid4().hex[:20]
        self._counter = itertools.count()
        self._buckets_made: set[str] = set()

    def sync_all(self) -> None:
        """``syncfs`` the file system holding the store: every file written so far (bodies
        and the database's log alike) is durable when it returns. Group-sync mode only."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)

    def sync_batch(self, directories) -> None:
        """Make every body written so far into ``directories`` durable (file data and
        names). Blocking."""
        if not directories:
            return
        if self.group_sync:
            self.sync_all()
        else:
            for path in directories:
                fsync_dir(path)

    def bucket_of(self, t: float) -> str:
        return time.strftime("%Y%m%d%H", time.gmtime(t))

    def _make_bucket(self, bucket: str, directory: str) -> None:
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            fsync_dir(self.root)
        self._buckets_made.add(bucket)

    def write(self, data) -> tuple[str, str]:
        """Durably write ``data`` (bytes-like) to a new file.

        Returns ``(relative path, directory)``. The body is durable once ``sync_batch``
        has been called with ``directory`` (the database writer does that).
        """
        bucket = self.bucket_of(time.time())
        directory = os.path.join(self.root, bucket)
        name = f"{self._prefix}{next(self._counter):012x}"
        path = os.path.join(directory, name)
        if bucket not in self._buckets_made:
            self._make_bucket(bucket, directory)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            # The bucket went away behind our back (an operator cleaning up): remake it.
            self._buckets_made.discard(bucket)
            self._make_bucket(bucket, directory)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view[:_CHUNK])
                view = view[written:]
            if not self.group_sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return f"{bucket}/{name}", directory

    def read(self, relpath: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return ``length`` bytes (None: to the end) of the body from ``offset``."""
        try:
            with open(os.path.join(self.root, relpath), "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError:
            raise NotFound("message body is gone (expunged meanwhile)") from None

    def unlink(self, relpath: str) -> None:
        try:
            os.unlink(os.path.join(self.root, relpath))
        except FileNotFoundError:
            pass

    def buckets(self) -> list[str]:
        try:
            return sorted(
                e.name for e in os.scandir(self.root) if e.is_dir() and e.name.isdigit()
            )
        except FileNotFoundError:
            return []

    def clean_orphans(self, known_in, since_bucket: str = "") -> int:
        """Delete temporary files and bodies no row names, in buckets ``>= since_bucket``.

        ``known_in(bucket)`` returns the set of relative paths the database names in that
        bucket. Only safe while no other process is writing (the caller holds the store's
        exclusive lock). Returns how many files were removed.
        """
        removed = 0
        for bucket in self.buckets():
            if bucket < since_bucket:
                continue
            known = known_in(bucket)
            directory = os.path.join(self.root, bucket)
            for entry in os.scandir(directory):
                rel = f"{bucket}/{entry.name}"
                if entry.name.startswith(_TMP_PREFIX) or rel not in known:
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except OSError:
                        pass
        return removed

