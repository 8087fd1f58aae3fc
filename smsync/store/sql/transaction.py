"""Store transactions (``IStoreTransactions``) for the SQL stores.

A transaction is a *session*: one connection, one thread, one open database transaction
that the handles of a ``TransactionView`` send their reads and writes to, one at a time,
until ``commit`` or ``rollback``. The handles are the store's own classes
(``mail_store_class``, ``collection_store_class``, ``device_registry_class``); they only
see a different ``db``: a ``SessionDatabase`` with the same ``read``/``write``/``submit``/
``io`` (and the backend's pipeline methods) whose jobs run inside the session. So the
code that writes a message or an item is the same in and out of a transaction.

Inside the session every write job runs under a SAVEPOINT: a job that fails (a
precondition, a UID conflict) is undone alone and the transaction goes on, as the sync
engine needs. Change events the jobs announce are kept until the COMMIT and only then
delivered, locally and to other processes. Nothing is visible to other connections before
the COMMIT, and a process killed before it leaves nothing behind.

Where the session's thread and connection come from is the backend's business
(``SessionHooks``): SQLite has one write connection, so its writer thread serves the
session and other writes wait behind it (which is why a session that stays idle for
``IDLE_LIMIT`` seconds is rolled back); PostgreSQL gives the session a connection of its
own.
"""

from __future__ import annotations

import queue
import threading
from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadable import isInIOThread
from zope.interface import implementer

from smsync.errors import SmsyncError
from smsync.interfaces import IStoreTransaction
from smsync.store.sql.store import SQLStore

log = Logger()

#: Seconds a session waits for its next request before it gives up and rolls back: a
#: caller that forgot to end its transaction must not stall every writer for ever.
IDLE_LIMIT = 30.0


class TransactionEnded(SmsyncError):
    """The transaction was committed, rolled back or timed out: it cannot be used."""


class SessionHooks:
    """What a backend supplies to run a session on its database (blocking methods run
    on the session's thread).

    Subclasses override what differs; the defaults suit both SQL dialects."""

    def begin(self, conn) -> None:
        conn.execute("BEGIN")

    def context(self, conn):
        """A fresh job context (the backend's ``TxContext``) for one write job."""
        raise NotImplementedError

    def savepoint(self, conn) -> None:
        conn.execute("SAVEPOINT txjob")

    def release(self, conn) -> None:
        conn.execute("RELEASE SAVEPOINT txjob")

    def undo(self, conn) -> None:
        conn.execute("ROLLBACK TO SAVEPOINT txjob")
        conn.execute("RELEASE SAVEPOINT txjob")

    def before_commit(self, conn, contexts: list, session: "Session") -> None:
        """Last work inside the transaction: record or send its change events, make
        files it wrote durable."""

    def commit(self, conn) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn) -> None:
        try:
            conn.execute("ROLLBACK")
        except Exception:
            pass

    def after_commit(self, contexts: list) -> None:
        """Work to do once the COMMIT is durable, before anyone hears of it."""

    def after_rollback(self, session: "Session") -> None:
        """Undo what the session did outside the database (files it wrote)."""

    def failure(self, exc: BaseException) -> Failure:
        """The failure a job's exception is reported as (a backend maps its driver's
        errors to smsync's here)."""
        from smsync.store.failures import translated

        return translated(Failure())

    def finished(self, conn, committed: bool) -> None:
        """The session is over (on its thread): give the connection back."""


class _Op:
    __slots__ = ("kind", "fn", "args", "deferred")

    def __init__(self, kind, fn, args, deferred):
        self.kind = kind
        self.fn = fn
        self.args = args
        self.deferred = deferred


class Session:
    """One open transaction: requests are queued from the reactor (or a pool thread) and
    served in order by ``serve`` on the session's thread."""

    def __init__(self, hooks: SessionHooks, reactor, on_events=None,
                 idle_limit: Optional[float] = None):
        self.hooks = hooks
        self.reactor = reactor
        self.on_events = on_events
        self.idle_limit = IDLE_LIMIT if idle_limit is None else idle_limit
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        # Guards ``_ended`` with the queue, so no request slips in after the last drain.
        self._lock = threading.Lock()
        self._ended = False
        #: Backend-specific things done in the session that commit or rollback must
        #: finish or undo (SQLite: body files written for appends).
        self.pending: list = []

    # -- the caller's side ---------------------------------------------------------------

    def _put(self, kind, fn, args, d: Optional[Deferred] = None) -> Deferred:
        if d is None:
            d = Deferred()
        with self._lock:
            ended = self._ended
            if not ended:
                if kind in ("commit", "rollback"):
                    self._ended = True
                self._queue.put(_Op(kind, fn, args, d))
        if ended:
            failure = Failure(TransactionEnded("the transaction has ended"))
            if isInIOThread():
                d.errback(failure)
            else:
                self.reactor.callFromThread(d.errback, failure)
        return d

    def read(self, fn, *args) -> Deferred:
        """Run ``fn(conn, *args)`` in the transaction; it sees the transaction's writes."""
        return self._put("read", fn, args)

    def write(self, fn, *args) -> Deferred:
        """Run ``fn(conn, ctx, *args)`` in the transaction under a savepoint: if it
        raises, its changes alone are undone and the Deferred fails."""
        return self._put("write", fn, args)

    def submit(self, fn, args, d: Deferred) -> None:
        """``write`` callable from any thread, firing ``d``."""
        self._put("write", fn, args, d)

    def commit(self) -> Deferred:
        return self._put("commit", None, ())

    def rollback(self) -> Deferred:
        if self._ended:
            return succeed(None)
        return self._put("rollback", None, ())

    # -- the session's thread ------------------------------------------------------------

    def _reply(self, d: Deferred, ok: bool, value) -> None:
        self.reactor.callFromThread(d.callback if ok else d.errback, value)

    def serve(self, conn) -> None:
        """Run the whole transaction on ``conn``; returns when it is over. Blocking."""
        hooks = self.hooks
        contexts: list = []
        committed = False
        try:
            hooks.begin(conn)
        except Exception as e:
            self.abandon(hooks.failure(e))
            hooks.finished(conn, False)
            return
        op = None
        try:
            while True:
                op = None
                try:
                    op = self._queue.get(timeout=self.idle_limit)
                except queue.Empty:
                    log.warn("a store transaction was idle for {s:.0f} s: rolled back",
                             s=self.idle_limit)
                    hooks.rollback(conn)
                    hooks.after_rollback(self)
                    self.abandon(Failure(TransactionEnded("the transaction timed out")))
                    return
                if op.kind == "read":
                    try:
                        self._reply(op.deferred, True, op.fn(conn, *op.args))
                    except Exception as e:
                        self._reply(op.deferred, False, hooks.failure(e))
                elif op.kind == "write":
                    ctx = hooks.context(conn)
                    hooks.savepoint(conn)
                    try:
                        result = op.fn(conn, ctx, *op.args)
                    except Exception as e:
                        failure = hooks.failure(e)
                        hooks.undo(conn)
                        done, op = op, None
                        self._reply(done.deferred, False, failure)
                    else:
                        hooks.release(conn)
                        contexts.append(ctx)
                        done, op = op, None
                        self._reply(done.deferred, True, result)
                elif op.kind == "commit":
                    try:
                        hooks.before_commit(conn, contexts, self)
                        hooks.commit(conn)
                    except Exception as e:
                        failure = hooks.failure(e)
                        hooks.rollback(conn)
                        hooks.after_rollback(self)
                        self._reply(op.deferred, False, failure)
                        self.abandon(Failure(TransactionEnded("the transaction has ended")))
                        return
                    committed = True
                    hooks.after_commit(contexts)
                    events = [e for ctx in contexts for e in ctx.events]
                    self.reactor.callFromThread(self._committed, op.deferred, events)
                    self.abandon(Failure(TransactionEnded("the transaction has ended")))
                    return
                else:  # rollback
                    hooks.rollback(conn)
                    hooks.after_rollback(self)
                    self._reply(op.deferred, True, None)
                    self.abandon(Failure(TransactionEnded("the transaction has ended")))
                    return
        except BaseException:
            # The connection broke under a savepoint, or a bug: the whole transaction is
            # lost, and every caller, the one whose request was running first, hears so.
            failure = Failure()
            log.failure("store transaction failed; rolled back", failure)
            if op is not None:
                self._reply(op.deferred, False, failure)
            hooks.rollback(conn)
            hooks.after_rollback(self)
            self.abandon(failure)
        finally:
            hooks.finished(conn, committed)

    def abandon(self, failure: Failure) -> None:
        """End the session: fail every request still queued, and refuse later ones."""
        with self._lock:
            self._ended = True
            while True:
                try:
                    op = self._queue.get_nowait()
                except queue.Empty:
                    return
                self._reply(op.deferred, False, failure)

    def _committed(self, d: Deferred, events) -> None:
        # As the writers do: events first, so a subscriber made after the commit is
        # acknowledged hears only of later changes.
        if self.on_events is not None:
            for event in events:
                self.on_events(event)
        d.callback(None)


class SessionDatabase:
    """The ``db`` a transaction's handles see: reads and writes go to the session; the
    thread pools and the reactor are the store database's.

    Only what is named here exists: a write path of the database missing here would
    commit outside the transaction (and, waiting on the transaction's row locks,
    deadlock with it), so handles using another method fail loudly instead.
    """

    def __init__(self, db, session: Session):
        self._db = db
        self.session = session
        self.read = session.read
        self.write = session.write
        self.submit = session.submit
        self.reactor = db.reactor
        self.iopool = db.iopool
        self.io = db.io
        self.origin = db.origin

    def submit_grouped(self, group, fn, args, d: Deferred) -> None:
        """``Database.submit_grouped`` (PostgreSQL appends) inside the session: the
        group is of one job."""
        self.session.submit(_one_of_group, (fn, args), d)

    def pipeline(self, lane, prepare, commit, discard) -> Deferred:
        """``Database.pipeline`` (SQLite appends) inside the session: ``prepare`` runs on
        the I/O pool, ``commit`` in the session. The files ``prepare`` wrote are made
        durable before the COMMIT (``SessionHooks.before_commit``), and discarded if the
        transaction rolls back or the commit job fails with an ``SmsyncError``."""
        return Deferred.fromCoroutine(self._pipeline(prepare, commit, discard))

    async def _pipeline(self, prepare, commit, discard):
        value, directory = await self.io(prepare)
        self.session.pending.append((value, directory, discard))
        try:
            return await self.session.write(_one_of_batch, commit, value)
        except SmsyncError:
            self.session.pending.remove((value, directory, discard))
            discard(value)
            raise


def _one_of_group(conn, ctx, fn, args):
    (result,) = fn(conn, [ctx], [args])
    return result


def _one_of_batch(conn, ctx, commit, value):
    (result,) = commit(conn, ctx, [value])
    return result


@implementer(IStoreTransaction)
class TransactionView:
    """An open transaction of an SQL store, seen as a store: ``mail``, ``collections``
    and ``devices`` are the store's own handle classes over the session's ``db``.

    Attributes the handles look up on the store that are not set here (the body files,
    configuration) are the store's; per-store caches that must not see uncommitted data
    are replaced by ``SQLStore.transaction_view`` hooks.
    """

    def __init__(self, store, session: Session):
        self._store = store
        self.session = session
        self.uri = store.uri
        self.notifier = store.notifier
        self.db = SessionDatabase(store.db, session)
        self.accounts = store.accounts
        self.devices = store.device_registry_class(self)
        self.mail_store_class = store.mail_store_class
        self.collection_store_class = store.collection_store_class

    def __getattr__(self, name):
        return getattr(self._store, name)

    # The store's own: they build the handle classes over ``self.db``, the session's.
    _account = SQLStore._account
    mail = SQLStore.mail
    collections = SQLStore.collections

    def commit(self) -> Deferred:
        return self.session.commit()

    def rollback(self) -> Deferred:
        return self.session.rollback()
