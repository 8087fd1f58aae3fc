"""The doorbell: how a process tells the others on the same ``sqlite:`` database that it
committed changes, so that they read the change feed at once rather than at their next
poll.

Every process with change subscribers binds a Unix datagram socket in the directory
``<database>.notify/``, named ``<pid>-<random>.sock``. After a commit that recorded
events, the writer thread sends one byte to every other socket there. A ring carries no
data: the receiver reads the ``events`` table (``Readers.poll_foreign_events``) as its
timer would, and the timer stays on, slowly, in case a ring is lost.

Sending never blocks: the socket is non-blocking, and a full receive queue (``EAGAIN``)
means that receiver already has rings waiting, which is all it needs. A socket nobody is
bound to any more (its process died: ``ECONNREFUSED``) is removed by whoever finds it.

A Unix socket's address is at most 107 bytes; a longer path is reached through the
directory's descriptor, ``/proc/self/fd/N/<name>`` (Linux), so a store may live anywhere.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
import uuid
from typing import Optional

from twisted.logger import Logger

log = Logger()

#: Longest socket path used as it is (``sun_path`` holds 108 bytes with the final NUL).
MAX_PATH = 100

#: Seconds a listing of the directory is trusted even when its mtime has not changed
#: (file systems with coarse timestamps may miss a socket bound within one tick).
LISTING_TTL = 1.0

SUFFIX = ".sock"


def directory_for(database_path: str) -> str:
    """The doorbell directory of the database at ``database_path``."""
    return database_path + ".notify"


class Doorbell:
    """The sockets of one process: ``listen`` (the reactor thread) binds the one others
    ring; ``ring`` (the writer thread, one thread only) rings every other one."""

    def __init__(self, directory: str):
        self.directory = directory
        self._dirfd: Optional[int] = None
        # Both threads may open (or reopen) the directory's descriptor.
        self._dir_lock = threading.Lock()
        self._sender: Optional[socket.socket] = None
        self._listener: Optional[socket.socket] = None
        #: The name of our own socket, never rung by us (our own events reach our
        #: subscribers directly).
        self._own: Optional[str] = None
        self._names: list[str] = []
        self._listed_mtime = -1
        self._listed_at = 0.0
        self._warned: set = set()
        #: Rings sent so far (a figure for tests and benchmarks).
        self.rung = 0

    # -- addresses ------------------------------------------------------------------

    def _open_dir(self) -> Optional[int]:
        """The directory's descriptor (opened on first use; reopened if the directory
        was removed and made again), or None if there is no directory."""
        with self._dir_lock:
            return self._open_dir_locked()

    def _open_dir_locked(self) -> Optional[int]:
        fd = self._dirfd
        if fd is not None:
            try:
                if os.fstat(fd).st_nlink > 0:
                    return fd
            except OSError:
                pass
            self._dirfd = None
            os.close(fd)
        try:
            self._dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None
        self._listed_mtime = -1
        return self._dirfd

    def _address(self, name: str) -> str:
        path = os.path.join(self.directory, name)
        if len(os.fsencode(path)) <= MAX_PATH or self._dirfd is None:
            return path
        return f"/proc/self/fd/{self._dirfd}/{name}"

    # -- receiving ------------------------------------------------------------------

    def listen(self) -> Optional[socket.socket]:
        """Bind our socket (making the directory if needed) and return it, non-blocking;
        None (logged once) if that cannot be done: the caller then polls as before."""
        if self._listener is not None:
            return self._listener
        try:
            os.makedirs(self.directory, exist_ok=True)
            if self._open_dir() is None:
                raise OSError(errno.ENOENT, "doorbell directory vanished")
            name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind(self._address(name))
            except BaseException:
                sock.close()
                raise
        except OSError as e:
            self._warn_once("listen", "sqlite doorbell: cannot listen in {dir} ({why}); "
                                      "changes of other processes are polled for",
                            dir=self.directory, why=e.strerror or e)
            return None
        self._own = name
        self._listener = sock
        return sock

    def stop_listening(self) -> None:
        """Unbind and remove our socket."""
        sock, self._listener = self._listener, None
        name, self._own = self._own, None
        if sock is None:
            return
        if name is not None and self._dirfd is not None:
            try:
                os.unlink(name, dir_fd=self._dirfd)
            except OSError:
                pass
        sock.close()

    @staticmethod
    def drain(sock: socket.socket) -> int:
        """Read every ring waiting on ``sock``; how many there were."""
        n = 0
        while True:
            try:
                sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return n
            except OSError:
                return n
            n += 1

    # -- sending --------------------------------------------------------------------

    def _listing(self, dirfd: int) -> list[str]:
        now = time.monotonic()
        mtime = os.fstat(dirfd).st_mtime_ns
        if mtime != self._listed_mtime or now - self._listed_at > LISTING_TTL:
            self._names = [n for n in os.listdir(dirfd) if n.endswith(SUFFIX)]
            self._listed_mtime = mtime
            self._listed_at = now
        return self._names

    def ring(self) -> int:
        """Ring every other process's socket; how many were rung. Never blocks, never
        raises."""
        try:
            dirfd = self._open_dir()
            if dirfd is None:
                return 0
            names = self._listing(dirfd)
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
        except OSError as e:
            self._warn_once("ring", "sqlite doorbell: cannot ring in {dir} ({why})",
                            dir=self.directory, why=e.strerror or e)
            return 0
        own = self._own
        rung = 0
        for name in names:
            if name == own:
                continue
            try:
                self._sender.sendto(b"!", self._address(name))
                rung += 1
            except (BlockingIOError, InterruptedError):
                rung += 1  # its queue is full: it has rings waiting already
            except ConnectionRefusedError:
                # Nobody is bound to it: its process is gone.
                self._forget(name, unlink=True)
            except FileNotFoundError:
                self._forget(name, unlink=False)
            except OSError as e:
                self._warn_once(name, "sqlite doorbell: cannot ring {name} ({why})",
                                name=name, why=e.strerror or e)
        self.rung += rung
        return rung

    def _forget(self, name: str, unlink: bool) -> None:
        if unlink and self._dirfd is not None:
            try:
                os.unlink(name, dir_fd=self._dirfd)
            except OSError:
                pass
        self._listed_mtime = -1

    def _warn_once(self, key, format: str, **kw) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warn(format, **kw)

    def close(self) -> None:
        """Stop listening and release the descriptors (after the writer has stopped)."""
        self.stop_listening()
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        if self._dirfd is not None:
            os.close(self._dirfd)
            self._dirfd = None
