"""Change notification for a ``sqlite:`` store, including changes other processes commit.

Changes made by this process are announced right after their commit (the database hands
them over). Changes committed by another process on the same database (the CLI importing
mail while the IMAP server runs) are found by polling the ``events`` table -- only while
somebody is subscribed, and only when ``PRAGMA data_version`` says the database changed.
"""

from __future__ import annotations

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from smsync.model import ChangeEvent, ChangeKind
from smsync.notify import LocalNotifier

log = Logger()

#: Seconds between two looks at the database while there are subscribers.
POLL_INTERVAL = 0.15


class SQLiteNotifier(LocalNotifier):
    """A ``LocalNotifier`` that also relays other processes' committed changes."""

    def __init__(self, db, reactor, interval: float = POLL_INTERVAL):
        super().__init__()
        self._db = db
        self._reactor = reactor
        self._interval = interval
        self._loop: LoopingCall | None = None
        self._last: int | None = None
        self._busy = False
        self._closed = False

    def subscribe(self, account, callback):
        sub = super().subscribe(account, callback)
        if self._loop is None and not self._closed:
            self._loop = LoopingCall(self._tick)
            self._loop.clock = self._reactor
            self._last = None
            self._loop.start(self._interval, now=True)
        return sub

    def _tick(self) -> None:
        if self.subscriber_count() == 0 or self._closed:
            self._stop()
            return
        if self._busy:
            return
        self._busy = True
        d = self._db.poll_foreign_events(self._last)
        d.addCallbacks(self._got, self._lost)
        d.addBoth(self._idle)

    def _got(self, result) -> None:
        last, events = result
        self._last = last
        for event in events:
            self.notify(event)

    def _lost(self, failure) -> None:
        log.failure("polling the sqlite change feed failed", failure)
        # We may have missed changes: everybody must re-read what they care about.
        self.notify_all(lambda account: ChangeEvent(account, ChangeKind.RESYNC))

    def _idle(self, _) -> None:
        self._busy = False

    def _stop(self) -> None:
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if loop.running:
                loop.stop()

    def close(self) -> None:
        """Stop polling for good (the store is closing)."""
        self._closed = True
        self._stop()
