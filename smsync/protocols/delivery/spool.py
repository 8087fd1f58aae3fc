"""Where a message being received waits until it is stored: memory while small, an
anonymous temporary file once it grows (so a 50 MB message never sits in memory).

Writes to the file happen on a worker thread, in order; the reactor only queues them.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread

#: Messages up to this size stay in memory.
MEMORY_MAX = 1024 * 1024


class PrefixedFile:
    """A binary file object that reads ``prefix`` then the whole of ``file`` (from its
    start). ``IMailbox.append`` reads it (on the store's thread).

    It reads with ``pread`` at a position of its own, never moving the shared file's
    offset, so the appends of one spool to several recipients can run at once."""

    def __init__(self, prefix: bytes, file):
        self._prefix = prefix
        self._fd = file.fileno()
        self._pos = 0

    def _read_file(self, size: int) -> bytes:
        out = []
        while size:
            chunk = os.pread(self._fd, size, self._pos)
            if not chunk:
                break
            self._pos += len(chunk)
            size -= len(chunk)
            out.append(chunk)
        return b"".join(out)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            rest = max(os.fstat(self._fd).st_size - self._pos, 0)
            out, self._prefix = self._prefix + self._read_file(rest), b""
            return out
        if self._prefix:
            out, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(out) < size:
                out += self._read_file(size - len(out))
            return out
        return self._read_file(size)


class Spool:
    """One message's text as it arrives. ``write`` never blocks; ``finish`` fires once
    everything written is in place; then ``body(prefix)`` gives what ``append`` takes.

    Writing past ``limit`` bytes sets ``overflow`` and keeps nothing more (the reply is
    552 once the client has sent the rest)."""

    def __init__(self, limit: int, memory_max: int = MEMORY_MAX, run=deferToThread):
        self.limit = limit
        self.memory_max = memory_max
        self.size = 0
        self.overflow = False
        self._chunks: list[bytes] = []
        self._file = None
        self._run = run
        self._pending: Optional[list] = None
        self._tail: Deferred = succeed(None)
        self._error: Optional[BaseException] = None
        self._flushing = False

    @property
    def in_memory(self) -> bool:
        return self._file is None and self._pending is None

    def write(self, data: bytes) -> None:
        if not data or self.overflow:
            return
        if self.size + len(data) > self.limit:
            self.overflow = True
            self._chunks = []
            self._pending = [] if self._pending is not None else None
            return
        self.size += len(data)
        if self.in_memory and self.size <= self.memory_max:
            self._chunks.append(data)
            return
        if self._pending is None:
            # First spill: what memory holds goes to the file first.
            self._pending, self._chunks = self._chunks, []
        self._pending.append(data)
        if not self._flushing:
            self._flushing = True
            self._tail.addCallback(lambda _: self._flush())

    def _flush(self) -> Deferred:
        batch, self._pending = self._pending, []
        d = self._run(self._write_batch, batch)
        d.addErrback(self._failed)

        def again(_):
            # More may have arrived while this batch was written.
            if self._pending:
                return self._flush()
            self._flushing = False

        return d.addCallback(again)

    def _write_batch(self, batch: list[bytes]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="smsync-spool-")
        self._file.writelines(batch)
        # Readers use pread on the descriptor: nothing may wait in Python's buffer.
        self._file.flush()

    def _failed(self, failure) -> None:
        self._error = failure.value

    def backlog(self) -> int:
        """Bytes queued for the file but not yet written."""
        return sum(len(c) for c in self._pending) if self._pending else 0

    def finish(self) -> Deferred:
        """Fires when every write has reached the file (or memory); fails with the
        file error if a write failed (disk full...)."""
        if self.in_memory:
            return succeed(None)
        d = Deferred()

        def done(_):
            if self._error is not None:
                d.errback(self._error)
            else:
                d.callback(None)

        self._tail.addBoth(done)
        return d

    def body(self, prefix: bytes = b""):
        """What ``IMailbox.append`` takes: bytes for a message in memory, else a file
        object reading ``prefix`` then the spooled text. Call after ``finish`` fired; each
        call gives an independent reader, so several appends may read at once."""
        if self._file is None:
            return prefix + b"".join(self._chunks)
        return PrefixedFile(prefix, self._file)

    def discard(self) -> None:
        """Free what the spool holds (its file is deleted when closed)."""
        self._chunks = []
        f, self._file = self._file, None
        if f is not None:
            self._tail.addBoth(lambda _: self._run(f.close))
