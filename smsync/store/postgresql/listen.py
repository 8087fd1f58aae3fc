"""Change notification for a ``postgresql:`` store across processes: LISTEN/NOTIFY.

Each committed write transaction sends its change events with ``pg_notify`` on the
store's channel (``db.py``); PostgreSQL delivers them to every listening connection when
-- and only when -- the transaction commits. Each process keeps one connection that
LISTENs, watched by the reactor itself (its socket is a reactor reader, read without
blocking through libpq's ``PQconsumeInput``/``PQnotifies``), so no thread waits on it
and closing the store is immediate.

Events a process made itself are delivered locally right after the commit and skipped
when they come back through NOTIFY (each payload names its origin).

If the listening connection is lost (server restart, ``pg_terminate_backend``, network),
notifications sent meanwhile are gone: the notifier reconnects, with a growing pause
between attempts, and once it LISTENs again it sends every subscribed account a
``RESYNC`` event so subscribers re-read whatever they care about. TCP keepalives (see
``backend.DEFAULT_PARAMS``) make a silently dead network noticed within seconds.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import pq
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from zope.interface import implementer

from smsync.model import ChangeEvent, ChangeKind
from smsync.notify import LocalNotifier
from smsync.store.postgresql.db import connect, parse_payload

log = Logger()

#: Pauses between reconnection attempts (seconds): first, growth factor, longest.
RECONNECT_FIRST = 0.05
RECONNECT_FACTOR = 2.0
RECONNECT_MAX = 5.0


def listen_connection(target, channel: str) -> psycopg.Connection:
    """A new connection LISTENing on ``channel``. Blocking."""
    conn = connect(target)
    try:
        conn.execute(f'LISTEN "{channel}"')
    except BaseException:
        conn.close()
        raise
    return conn


@implementer(IReadDescriptor)
class _Watch:
    """The listening connection's socket as a reactor reader.

    The reactor watches a duplicate of libpq's descriptor: libpq closes its own as soon
    as it sees the connection end, and the reactor must never hold a closed (or, worse,
    reused) descriptor. Ours stays valid until ``release`` has unregistered it.
    """

    def __init__(self, notifier: "PGNotifier", conn: psycopg.Connection):
        self.notifier = notifier
        self.conn = conn
        self._fd = os.dup(conn.pgconn.socket)

    def release(self, reactor) -> None:
        """Stop watching, close the connection and our descriptor."""
        reactor.removeReader(self)
        try:
            self.conn.close()
        except psycopg.Error:
            pass
        os.close(self._fd)

    def fileno(self) -> int:
        return self._fd

    def doRead(self):
        self.notifier._readable(self)

    def connectionLost(self, reason) -> None:
        self.notifier._lost(self, reason)

    def logPrefix(self) -> str:
        return "smsync-pg-listen"


class PGNotifier(LocalNotifier):
    """A ``LocalNotifier`` that also relays other processes' committed changes and
    announces ``RESYNC`` after it had to reconnect."""

    sees_every_process = True

    def __init__(self, target, channel: str, origin: str, reactor):
        super().__init__()
        self._target = target
        self._channel = channel
        self._origin = origin
        self._reactor = reactor
        self._watch: _Watch | None = None
        self._retry = None
        self._delay = RECONNECT_FIRST
        self._closed = False
        #: How many times the change feed was lost and re-established.
        self.resyncs = 0

    @property
    def connected(self) -> bool:
        return self._watch is not None

    @property
    def backend_pid(self):
        """The server process id of the listening connection (None while reconnecting)."""
        return self._watch.conn.info.backend_pid if self._watch is not None else None

    def start(self, conn: psycopg.Connection) -> None:
        """Watch ``conn`` (made by ``listen_connection``). Call on the reactor thread."""
        if self._closed:
            conn.close()
            return
        self._watch = _Watch(self, conn)
        self._reactor.addReader(self._watch)
        # Notifications that arrived while the connection was being set up.
        self._readable(self._watch)

    def _readable(self, watch: _Watch) -> None:
        if watch is not self._watch:
            return
        pgconn = watch.conn.pgconn
        try:
            pgconn.consume_input()
            while (n := pgconn.notifies()) is not None:
                self._relay(n.extra)
        except psycopg.OperationalError as e:
            self._lose_feed(f"change feed connection lost: {' '.join(str(e).split())}")
            return
        if pgconn.status != pq.ConnStatus.OK:
            self._lose_feed("change feed connection lost")

    def _relay(self, payload: bytes) -> None:
        try:
            origin, events = parse_payload(payload.decode("utf-8"))
        except (ValueError, KeyError, TypeError):
            log.warn("ignoring a malformed change notification {payload!r}", payload=payload[:200])
            return
        if origin == self._origin:
            return  # delivered locally right after our own commit
        for event in events:
            self.notify(event)

    def _lost(self, watch: _Watch, reason) -> None:
        if watch is self._watch:
            self._lose_feed(f"change feed connection lost: {reason.getErrorMessage()}")

    def _lose_feed(self, why: str) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.release(self._reactor)
        if self._closed:
            return
        log.warn("{why}; reconnecting", why=why)
        self._schedule()

    def _schedule(self) -> None:
        if self._retry is None and not self._closed:
            self._retry = self._reactor.callLater(self._delay, self._reconnect)
            self._delay = min(self._delay * RECONNECT_FACTOR, RECONNECT_MAX)

    def _reconnect(self) -> None:
        self._retry = None
        if self._closed:
            return
        d = deferToThread(listen_connection, self._target, self._channel)
        d.addCallbacks(self._reconnected, self._failed)

    def _reconnected(self, conn) -> None:
        if self._closed:
            conn.close()
            return
        self._delay = RECONNECT_FIRST
        self.start(conn)
        self.resyncs += 1
        log.info("change feed re-established; telling subscribers to resynchronise")
        # Anything may have changed while nobody was listening.
        self.notify_all(lambda account: ChangeEvent(account, ChangeKind.RESYNC))

    def _failed(self, failure) -> None:
        log.warn("change feed reconnection failed: {err}", err=failure.getErrorMessage())
        self._schedule()

    def close(self) -> None:
        """Stop listening for good (the store is closing)."""
        self._closed = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.release(self._reactor)
