"""Change notification for a ``sqlite:`` store, including changes other processes commit.

Changes made by this process are announced right after their commit (the database hands
them over). Changes committed by another process on the same database (another worker of
``smsync serve``, the CLI importing mail while the server runs) are found by reading the
``events`` table -- only while somebody is subscribed, and only when ``PRAGMA
data_version`` says the database changed. The other process rings this one's doorbell
(``doorbell``) after its commit, so the table is read at once; a slow timer reads it too,
in case a ring was lost. Without a doorbell (its directory cannot be written) the timer
alone does it, as often as before.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from smsync.model import ChangeEvent, ChangeKind
from smsync.notify import LocalNotifier
from smsync.store.sqlite.doorbell import Doorbell

log = Logger()

#: Seconds between two looks at the database while there are subscribers, without a
#: doorbell.
POLL_INTERVAL = 0.15

#: Seconds between two looks with a doorbell: only a safety net for lost rings.
SAFETY_INTERVAL = 1.0

#: Whether stores listen for rings (False: poll every ``POLL_INTERVAL`` as before; for
#: benchmarks comparing the two).
DOORBELL = True


@implementer(IReadDescriptor)
class _Bell:
    """Our doorbell socket as a reactor reader: each wake-up reads the change feed."""

    def __init__(self, sock, rung):
        self.sock = sock
        self.rung = rung

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self):
        if Doorbell.drain(self.sock):
            self.rung()

    def connectionLost(self, reason) -> None:
        pass

    def logPrefix(self) -> str:
        return "sqlite-doorbell"


class SQLiteNotifier(LocalNotifier):
    """A ``LocalNotifier`` that also relays other processes' committed changes.

    ``doorbell`` is the database's ``Doorbell`` (None: poll every ``interval`` seconds);
    with one, the timer runs every ``safety_interval`` seconds."""

    def __init__(self, db, reactor, interval: float = POLL_INTERVAL, doorbell=None,
                 safety_interval: float = SAFETY_INTERVAL):
        super().__init__()
        self._db = db
        self._reactor = reactor
        self._interval = interval
        self._safety_interval = safety_interval
        self._doorbell = doorbell
        self._bell: _Bell | None = None
        self._loop: LoopingCall | None = None
        self._last: int | None = None
        self._busy = False
        # A ring (or tick) came while a read was under way: read again once it ends, as
        # that read may have started before the change was committed.
        self._again = False
        self._closed = False

    @property
    def listening(self) -> bool:
        """True while other processes can ring us."""
        return self._bell is not None

    @property
    def sees_every_process(self) -> bool:
        """``IChangeNotifier.sees_every_process``: while the doorbell is up (the timer
        alone would leave other processes' changes unseen for a while)."""
        return self._bell is not None

    def subscribe(self, account, callback):
        sub = super().subscribe(account, callback)
        if self._loop is None and not self._closed:
            self._start()
        return sub

    def _start(self) -> None:
        interval = self._interval
        if self._doorbell is not None:
            sock = self._doorbell.listen()
            if sock is not None:
                self._bell = _Bell(sock, self._read)
                self._reactor.addReader(self._bell)
                interval = self._safety_interval
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._reactor
        self._last = None
        self._loop.start(interval, now=True)

    def _tick(self) -> None:
        if self.subscriber_count() == 0 or self._closed:
            self._stop()
            return
        self._read()

    def _read(self) -> None:
        if self._loop is None:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._again = False
        d = self._db.poll_foreign_events(self._last)
        d.addCallbacks(self._got, self._lost)
        d.addBoth(self._idle)

    def _got(self, result) -> None:
        last, events = result
        self._last = last
        for event in events:
            self.notify(event)

    def _lost(self, failure) -> None:
        log.failure("reading the sqlite change feed failed", failure)
        # We may have missed changes: everybody must re-read what they care about.
        self.notify_all(lambda account: ChangeEvent(account, ChangeKind.RESYNC))

    def _idle(self, _) -> None:
        self._busy = False
        if self._again and not self._closed:
            self._read()

    def _stop(self) -> None:
        if self._bell is not None:
            bell, self._bell = self._bell, None
            self._reactor.removeReader(bell)
            self._doorbell.stop_listening()
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if loop.running:
                loop.stop()

    def close(self) -> None:
        """Stop reading for good (the store is closing)."""
        self._closed = True
        self._stop()
