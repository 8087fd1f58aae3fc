"""Running blocking file work off the reactor thread, one operation at a time.

Every interface method of this backend is a plain blocking function decorated with
``on_disk``: it runs on Twisted's thread pool while holding the store's one lock, and
the caller gets a Deferred. One lock per store is the simplest thing that is obviously
correct here, because state files are read, changed and rewritten whole; a backend that
wants concurrency would lock per folder instead.
"""

from __future__ import annotations

import errno
import functools
import threading

from twisted.internet import threads
from twisted.internet.defer import Deferred, fail, succeed

from smsync.errors import InvalidData, SmsyncError


class StoreClosed(SmsyncError):
    """The store was closed; nothing more can be done with it."""


class Disk:
    """The file-system side of one store: its root, its lock and its pending events."""

    def __init__(self, root: str, notifier, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.root = root
        self.notifier = notifier
        self._reactor = reactor
        self._lock = threading.Lock()
        self._events = []
        self._running = 0  # operations submitted and not finished yet
        self._idle = []  # Deferreds of close() calls waiting for them
        self.closed = False

    def run(self, fn, *args, **kwargs):
        """Call ``fn(*args, **kwargs)`` on a worker thread under the lock.

        Returns a Deferred firing with its result. Change events recorded by ``fn`` with
        ``changed`` are delivered on the reactor thread before that Deferred fires, so a
        caller that awaits a write has also woken every subscriber. Call it on the
        reactor thread.
        """
        if self.closed:
            return fail(StoreClosed("the store is closed"))

        def locked():
            with self._lock:
                try:
                    return fn(*args, **kwargs)
                except OSError as e:
                    if e.errno == errno.ENAMETOOLONG:
                        raise InvalidData("name too long for this file system") from e
                    raise
                finally:
                    # Events are only recorded after a state file was replaced, so even
                    # when fn fails later the changes they announce are committed.
                    for event in self._events:
                        self._reactor.callFromThread(self.notifier.notify, event)
                    self._events = []

        self._running += 1
        d = threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(), locked)
        d.addBoth(self._finished)
        return d

    def _finished(self, result):
        self._running -= 1
        if not self._running:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)
        return result

    def close(self):
        """Refuse new operations and fire (a Deferred) once those already submitted
        have finished. Every write is durable when its Deferred fires, so there is
        nothing else to flush."""
        self.closed = True
        if not self._running:
            return succeed(None)
        waiter = Deferred()
        self._idle.append(waiter)
        return waiter

    def changed(self, event) -> None:
        """Announce ``event`` once the running operation finishes. Call it right after the
        write that commits the change."""
        self._events.append(event)


def on_disk(method):
    """Make a blocking method of an object with a ``_disk`` attribute return a Deferred,
    running it as ``Disk.run`` does."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self._disk.run(method, self, *args, **kwargs)

    return wrapper
