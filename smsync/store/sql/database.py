"""What the two SQL databases (``sqlite/db.py``, ``postgresql/db.py``) share: the front of
the write queue, the thread pools and their shutdown, and store transactions
(``begin_session``, see ``transaction.py``).

Each backend keeps its own writer behind the queue, because that is where they differ:
SQLite's writer group-commits with one ``syncfs`` for all new body files and pipelines
appends; PostgreSQL's retries batches that lose a race with another process, groups
appends into one statement and announces changes with NOTIFY.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool


class SQLDatabase:
    """A mixin for a backend's ``Database``. The host sets ``reactor``, ``_queue`` (the
    writer's), ``_closed``, ``readpool`` and ``iopool``, and names its job type in
    ``job_class`` (called as ``job_class(fn, args, deferred)``)."""

    job_class: type
    _shutdown_trigger = None

    def write(self, fn, *args) -> Deferred:
        """Run ``fn(conn, ctx, *args)`` in the next write transaction.

        The returned Deferred fires with ``fn``'s result only after that transaction is
        durably committed, or fails with ``fn``'s exception (its changes rolled back,
        other jobs of the batch unaffected) or the commit's. ``fn`` may be run more than
        once (a batch run again after another job failed, or lost a race): it must
        depend only on the database and its arguments.
        """
        if self._closed:
            raise RuntimeError("store is closed")
        d = Deferred()
        self._queue.put(self.job_class(fn, args, d))
        return d

    def submit(self, fn, args, d: Deferred) -> None:
        """``write`` for pipelines: callable from any thread; ``d`` (made on the reactor
        thread) fires as ``write``'s Deferred would."""
        self._queue.put(self.job_class(fn, args, d))

    def io(self, fn, *args) -> Deferred:
        """Run blocking ``fn(*args)`` (file work, parsing) on the I/O pool.
        ``RuntimeError`` once the store is closed (the pool would never run it)."""
        if self._closed:
            raise RuntimeError("store is closed")
        return deferToThreadPool(self.reactor, self.iopool, fn, *args)

    def _pools(self) -> tuple:
        """The thread pools to start and stop (a backend may add its own)."""
        return (self.readpool, self.iopool)

    def _start_pools(self) -> None:
        for pool in self._pools():
            pool.start()
        # Pool threads are not daemons: a store left open must not hang interpreter exit.
        self._shutdown_trigger = self.reactor.addSystemEventTrigger(
            "during", "shutdown", self._stop_pools)

    def _stop_pools(self) -> None:
        for pool in self._pools():
            if pool.started:
                pool.stop()

    def _forget_shutdown_trigger(self) -> None:
        if self._shutdown_trigger is not None:
            self.reactor.removeSystemEventTrigger(self._shutdown_trigger)
            self._shutdown_trigger = None
