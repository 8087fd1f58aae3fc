"""The PostgreSQL database behind a ``postgresql:`` store: connections, the writer
thread with group commit, the read pool, and the mapping of database errors.

Threads (nothing here blocks the reactor):

* one writer thread owns the write connection. Callers queue jobs; the thread takes
  every job queued so far and runs them in ONE transaction, then commits and only then
  fires each caller's Deferred on the reactor, followed by the batch's change events.
  PostgreSQL's commit waits for the WAL flush (``synchronous_commit`` on), so one flush
  covers a whole batch: this is what makes durable appends fast. Jobs are run
  optimistically; if one fails, the transaction is rolled back and the batch run again
  with a SAVEPOINT around each job, so the failing job is undone alone.
* a pool of reader threads, each with its own connection; a read is one REPEATABLE READ
  READ ONLY transaction (one snapshot for all its statements).
* a pool for parsing (message structure, iCalendar/vCard validation).

Across processes, writers serialise on row locks: every write job first locks the
folder/collection row it changes, under READ COMMITTED, so the statements after the
lock see whatever a racing writer committed. A batch that loses a deadlock or a
serialisation race with another process is rolled back and run again whole.

Each committed batch sends its change events with ``pg_notify`` inside the transaction,
so other processes hear of them exactly when they become visible (``listen.py``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import psycopg
import psycopg.errors
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from smsync.errors import AlreadyExists, BadStoreURI, Conflict, InvalidData, SmsyncError
from smsync.store.failures import storage_error
from smsync.store.sql.database import SQLDatabase
from smsync.model import ChangeEvent, ChangeKind

log = Logger()

#: Most jobs one transaction takes; bounds commit latency under a flood of writes.
MAX_BATCH = 500

#: How often a batch is run again after losing a deadlock/serialisation race or the
#: connection (before COMMIT was sent) before its jobs fail.
MAX_ATTEMPTS = 5

#: Bytes of one NOTIFY payload (PostgreSQL's limit is 8000).
MAX_PAYLOAD = 7000

#: Reader threads (= read connections) per process.
READERS = 4

#: Connections of ended store transactions kept for the next ones.
SPARE_SESSIONS = 4

_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


def channel_of(schema: str) -> str:
    """The LISTEN/NOTIFY channel of the store in ``schema``."""
    return f"smsync:{schema}"


def connect(target, autocommit=True) -> psycopg.Connection:
    """A new connection to ``target`` (a ``backend.Target``) with the store's schema as
    its search_path. Blocking. ``BadStoreURI`` if the server cannot be reached."""
    try:
        conn = psycopg.connect(target.conninfo, autocommit=autocommit, **target.connect_kwargs())
    except psycopg.OperationalError as e:
        raise BadStoreURI(f"cannot connect to PostgreSQL: {' '.join(str(e).split())}") from None
    conn.execute(f'SET search_path TO "{target.schema}"')
    return conn


def connect_writer(target) -> psycopg.Connection:
    """``connect`` for the writer: its commits must be durable when they return.

    A database or role configured with ``synchronous_commit = off`` would acknowledge
    appends the server can still lose, so the writer turns it back on for its own
    session. Any other setting (``local``, ``on``, ``remote_write``, ``remote_apply``)
    already flushes the local WAL before COMMIT returns and is kept."""
    conn = connect(target)
    if conn.execute("SHOW synchronous_commit").fetchone()[0] == "off":
        log.warn("synchronous_commit is off for {db}: the smsync writer sets it on for "
                 "its own connection (acknowledged writes must be durable)", db=target.dbname)
        conn.execute("SET synchronous_commit = on")
    return conn


def ensure_database(target) -> None:
    """Create the target's database if it does not exist (for ``smsync init``). Blocking."""
    try:
        psycopg.connect(target.conninfo, **target.connect_kwargs()).close()
        return
    except psycopg.OperationalError as e:
        if 'does not exist' not in str(e):
            raise BadStoreURI(f"cannot connect to PostgreSQL: {' '.join(str(e).split())}") from None
    admin = connect(target.maintenance())
    try:
        admin.execute(f'CREATE DATABASE "{target.dbname}"')
    except psycopg.errors.DuplicateDatabase:
        pass  # another frontend created it meanwhile
    except psycopg.Error as e:
        raise BadStoreURI(
            f"database {target.dbname!r} does not exist and cannot be created: "
            f"{' '.join(str(e).split())}"
        ) from None
    finally:
        admin.close()


def translate(exc: BaseException) -> BaseException:
    """The smsync error a database error stands for, or ``exc`` itself.

    Bad data the driver refuses (a NUL in a string) is the client's ``InvalidData``; a
    unique violation is a racing writer in another process that created the same name
    first (``AlreadyExists``); other integrity errors are ``Conflict``s.
    """
    if isinstance(exc, SmsyncError):
        return exc
    storage = storage_error(exc)
    if storage is not None:
        return storage
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return AlreadyExists("already exists (created concurrently)")
    if isinstance(exc, psycopg.IntegrityError):
        return Conflict(f"conflicting concurrent change: {' '.join(str(exc).split())}")
    if isinstance(exc, psycopg.DataError):
        return InvalidData(' '.join(str(exc).split()) or "invalid data")
    return exc


def _failure(exc: BaseException) -> Failure:
    mapped = translate(exc)
    return Failure(mapped) if mapped is not exc else Failure()


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT)


def _is_disconnect(exc: BaseException, conn) -> bool:
    return isinstance(exc, psycopg.OperationalError) and (conn is None or conn.closed or conn.broken)


def payloads(origin: str, events: list[ChangeEvent]) -> list[str]:
    """The NOTIFY payloads announcing ``events``: JSON, each under ``MAX_PAYLOAD`` bytes."""
    out, chunk, size = [], [], 0
    head = len(origin) + 20
    for e in events:
        entry = [e.account, e.kind.value, e.name, e.revision, e.folder_id]
        length = len(json.dumps(entry).encode())
        if length + head > MAX_PAYLOAD:
            # A huge name: say "something changed in the account" instead.
            entry = [e.account, ChangeKind.HIERARCHY.value, None, None, None]
            length = len(json.dumps(entry).encode())
        if chunk and size + length + head > MAX_PAYLOAD:
            out.append(json.dumps({"o": origin, "e": chunk}, separators=(",", ":")))
            chunk, size = [], 0
        chunk.append(entry)
        size += length + 1
    if chunk:
        out.append(json.dumps({"o": origin, "e": chunk}, separators=(",", ":")))
    return out


def parse_payload(text: str):
    """``(origin, [ChangeEvent...])`` from a payload ``payloads`` made; ValueError if not one."""
    data = json.loads(text)
    events = [
        ChangeEvent(account, ChangeKind(kind), name, revision, folder_id)
        for account, kind, name, revision, folder_id in data["e"]
    ]
    return data["o"], events


class TxContext:
    """What one job may do besides SQL: announce change events, delivered locally and to
    other processes once the transaction commits."""

    def __init__(self, conn):
        self.conn = conn
        self.now_us = int(time.time() * 1_000_000)
        self.events: list[ChangeEvent] = []

    def event(self, account: str, kind: ChangeKind, name=None, revision=None, folder_id=None):
        self.events.append(ChangeEvent(account, kind, name, revision, folder_id))


class _Job:
    __slots__ = ("fn", "args", "deferred", "group")

    def __init__(self, fn, args, deferred, group=None):
        self.fn = fn
        self.args = args
        self.deferred = deferred
        #: Jobs next to each other in a batch with the same (non-None) group run
        #: together: ``fn(conn, [ctx...], [args...])`` returns their results in order.
        self.group = group


class _SessionHooks:
    """How a store transaction runs on PostgreSQL (see ``smsync.store.sql.transaction``):
    events go out with ``pg_notify`` inside it, errors are mapped as the writer's are,
    and the connection is kept for the next transaction."""

    def __init__(self, db: "Database"):
        from smsync.store.sql.transaction import SessionHooks

        self.db = db
        self._base = SessionHooks()

    def __getattr__(self, name):
        return getattr(self._base, name)

    def context(self, conn):
        return TxContext(conn)

    def before_commit(self, conn, contexts, session) -> None:
        events = [e for ctx in contexts for e in ctx.events]
        if events:
            conn.execute(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                (self.db.channel, payloads(self.db.origin, events)),
            )

    def rollback(self, conn) -> None:
        self.db._rollback(conn)

    def failure(self, exc) -> Failure:
        return _failure(exc)

    def unavailable(self, session, exc) -> None:
        session.abandon(_failure(exc))

    def finished(self, conn, committed: bool) -> None:
        db = self.db
        if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()
            return
        with db._readers_lock:
            if not db._closed and len(db._spare) < SPARE_SESSIONS:
                db._spare.append(conn)
                return
        conn.close()


class _Retry(Exception):
    """The whole batch must run again (lost a race or the connection before COMMIT)."""


_STOP = object()


class Database(SQLDatabase):
    """The opened database; see the module docstring for the threading model.

    Build it with ``Database.open`` (blocking: call it from a thread), then ``start()``
    on the reactor thread.
    """

    def __init__(self, target, reactor):
        self.target = target
        self.channel = channel_of(target.schema)
        self.origin = uuid.uuid4().hex
        self.reactor = reactor
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer_conn: psycopg.Connection | None = None
        self._readers: list[psycopg.Connection] = []
        self._readers_lock = threading.Lock()
        #: Connections of ended store transactions, for the next ones (under the lock).
        self._spare: list[psycopg.Connection] = []
        self._local = threading.local()
        self._closed = False
        self._stopped: Deferred | None = None
        self._closing: Deferred | None = None
        #: Write transactions committed so far, jobs they carried, batches run again.
        self.commits = 0
        self.committed_jobs = 0
        self.retries = 0
        self.readpool = ThreadPool(minthreads=1, maxthreads=READERS, name="smsync-pg-read")
        self.iopool = ThreadPool(minthreads=1, maxthreads=4, name="smsync-pg-io")
        #: Called on the reactor thread with each committed ChangeEvent (set by the store).
        self.on_events = None

    @classmethod
    def open(cls, target, reactor, create: bool) -> "Database":
        """Connect, creating the database (``create``) and migrating the schema. Blocking."""
        from smsync.store.postgresql.schema import migrate

        if create:
            ensure_database(target)
        db = cls(target, reactor)
        db._writer_conn = connect_writer(target)
        try:
            migrate(db._writer_conn, target.schema, create)
        except psycopg.Error as e:
            db._writer_conn.close()
            raise BadStoreURI(f"cannot set up the store schema: {' '.join(str(e).split())}") from None
        except BaseException:
            db._writer_conn.close()
            raise
        return db

    job_class = _Job

    def start(self) -> None:
        """Start the writer thread and the pools. Call on the reactor thread."""
        self._start_pools()
        self._thread = threading.Thread(target=self._writer_loop, name="smsync-pg-writer", daemon=True)
        self._thread.start()

    # -- writes ---------------------------------------------------------------------

    def submit_grouped(self, group, fn, args, d: Deferred) -> None:
        """``submit`` for jobs that can run many at once with one statement (appends to
        one folder): consecutive jobs of one batch with the same ``group`` are run by
        ONE call ``fn(conn, [ctx...], [args...])`` returning their results in order.
        Each job still succeeds or fails alone (if the group fails, its jobs are run
        again one by one)."""
        self._queue.put(_Job(fn, args, d, group))

    def _writer_loop(self) -> None:
        stop = False
        while not stop:
            job = self._queue.get()
            if job is _STOP:
                break
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            try:
                self._run_batch(batch)
            except BaseException:  # pragma: no cover - a bug here must not kill the thread
                log.failure("postgresql writer batch crashed")
                failure = Failure()
                self.reactor.callFromThread(self._deliver, [(j, False, failure, None) for j in batch])
        self.reactor.callFromThread(self._stopped.callback, None)

    def _conn(self) -> psycopg.Connection:
        conn = self._writer_conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._writer_conn = None
            self._writer_conn = conn = connect_writer(self.target)
        return conn

    def _run_jobs(self, conn, batch: list[_Job], careful: bool) -> list:
        """Run the jobs of a batch inside the open transaction.

        Optimistic (``careful`` False): the first failing job's exception propagates and
        the caller rolls the whole batch back. Careful: each job inside its own SAVEPOINT
        so a failing job is undone alone and reported to its caller; a lost race or
        connection still propagates (as ``_Retry``), for the whole batch to run again.
        """
        outcomes = []
        i = 0
        while i < len(batch):
            job = batch[i]
            if not careful:
                if job.group is None:
                    ctx = TxContext(conn)
                    outcomes.append((job, True, job.fn(conn, ctx, *job.args), ctx))
                    i += 1
                    continue
                run = [job]
                while i + len(run) < len(batch) and batch[i + len(run)].group == job.group:
                    run.append(batch[i + len(run)])
                ctxs = [TxContext(conn) for _ in run]
                results = job.fn(conn, ctxs, [j.args for j in run])
                outcomes.extend(zip(run, [True] * len(run), results, ctxs))
                i += len(run)
                continue
            i += 1
            ctx = TxContext(conn)
            conn.execute("SAVEPOINT job")
            try:
                if job.group is None:
                    result = job.fn(conn, ctx, *job.args)
                else:
                    (result,) = job.fn(conn, [ctx], [job.args])
            except Exception as e:
                if _is_transient(e) or _is_disconnect(e, conn):
                    raise _Retry() from e
                outcomes.append((job, False, _failure(e), None))
                conn.execute("ROLLBACK TO SAVEPOINT job")
                conn.execute("RELEASE SAVEPOINT job")
            else:
                conn.execute("RELEASE SAVEPOINT job")
                outcomes.append((job, True, result, ctx))
        return outcomes

    def _rollback(self, conn) -> None:
        try:
            if conn is not None and not conn.closed and not conn.broken:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            pass

    def _attempt(self, batch: list[_Job], careful: bool):
        """One try at running and committing ``batch``. Returns the outcomes, raises
        ``_Retry`` when the batch must be run again, or another exception when the
        transaction as a whole failed."""
        try:
            conn = self._conn()
        except BadStoreURI as e:
            raise _Retry() from e
        try:
            conn.execute("BEGIN")
            try:
                outcomes = self._run_jobs(conn, batch, careful)
            except _Retry:
                raise
            except Exception as e:
                if _is_transient(e) or _is_disconnect(e, conn):
                    raise _Retry() from e
                if len(batch) == 1 and batch[0].group is None:
                    # A lone job's failure is the transaction's: no savepoint needed.
                    self._rollback(conn)
                    return [(batch[0], False, _failure(e), None)]
                self._rollback(conn)
                return self._attempt(batch, careful=True)
            events = [e for _, ok, _, ctx in outcomes if ok for e in ctx.events]
            if events:
                conn.execute(
                    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                    (self.channel, payloads(self.origin, events)),
                )
        except _Retry:
            self._rollback(conn)
            raise
        except Exception as e:
            self._rollback(conn)
            if _is_transient(e) or _is_disconnect(e, conn):
                raise _Retry() from e
            raise
        # Past this point a lost connection leaves the outcome unknown: not retried.
        conn.execute("COMMIT")
        return outcomes

    def _run_batch(self, batch: list[_Job]) -> None:
        last = None
        for attempt in range(MAX_ATTEMPTS):
            try:
                outcomes = self._attempt(batch, careful=False)
                break
            except _Retry as e:
                last = e.__cause__
                self.retries += 1
                # Up to ~1.5 s in all: long enough to ride out a quick failover.
                time.sleep(min(0.05 * 2**attempt, 1.0))
            except Exception as e:
                failure = _failure(e)
                self.reactor.callFromThread(self._deliver, [(j, False, failure, None) for j in batch])
                return
        else:
            failure = Failure(last if last is not None else RuntimeError("write failed"))
            self.reactor.callFromThread(self._deliver, [(j, False, failure, None) for j in batch])
            return
        self.commits += 1
        self.committed_jobs += len(batch)
        self.reactor.callFromThread(self._deliver, outcomes)

    def _deliver(self, outcomes) -> None:
        # Events first: whoever subscribes once its write has been acknowledged hears of
        # later changes only, not of the change it just made.
        if self.on_events is not None:
            for _, ok, _, ctx in outcomes:
                if ok:
                    for ev in ctx.events:
                        self.on_events(ev)
        for job, ok, value, ctx in outcomes:
            if ok:
                job.deferred.callback(value)
            else:
                job.deferred.errback(value)

    # -- transactions -----------------------------------------------------------------

    def begin_session(self):
        """Open a store transaction (``smsync.store.sql.transaction.Session``) on a
        connection and thread of its own, so it holds up no other writer; its row locks
        serialise it with them as any writer's do. Call on the reactor thread."""
        from smsync.store.sql.transaction import Session

        if self._closed:
            raise RuntimeError("store is closed")
        session = Session(_SessionHooks(self), self.reactor, self.on_events)
        threading.Thread(target=self._serve_session, args=(session,),
                         name="smsync-pg-transaction", daemon=True).start()
        return session

    def _serve_session(self, session) -> None:
        try:
            with self._readers_lock:
                conn = self._spare.pop() if self._spare else None
            if conn is None or conn.closed or conn.broken:
                conn = connect_writer(self.target)
        except Exception as e:
            session.hooks.unavailable(session, e)
            return
        session.serve(conn)

    # -- reads ----------------------------------------------------------------------

    def read(self, fn, *args) -> Deferred:
        """Run ``fn(conn, *args)`` in one read-only snapshot on a reader thread."""
        if self._closed:
            raise RuntimeError("store is closed")
        return deferToThreadPool(self.reactor, self.readpool, self._read_in_thread, fn, args)

    def _reader(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with self._readers_lock:
                    self._readers.remove(conn)
                conn.close()
            conn = self._local.conn = connect(self.target)
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read_in_thread(self, fn, args):
        for attempt in (0, 1):
            conn = self._reader()
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return fn(conn, *args)
                finally:
                    if not conn.broken:
                        conn.execute("COMMIT")
            except Exception as e:
                # A read is idempotent: after a lost connection, try once more on a new one.
                if attempt == 0 and _is_disconnect(e, conn):
                    continue
                mapped = translate(e)
                if mapped is e:
                    raise
                raise mapped from None

    # -- shutdown -------------------------------------------------------------------

    def close(self) -> Deferred:
        """Finish every queued write, then stop the threads and close the connections.
        Every caller gets a Deferred firing once that is done."""
        if self._closing is None:
            self._closed = True
            self._stopped = Deferred()
            self._queue.put(_STOP)
            self._closing = Deferred.fromCoroutine(self._close())
        out = Deferred()
        self._closing.addBoth(lambda r: (out.callback(None), r)[1])
        return out

    async def _close(self) -> None:
        from twisted.internet.threads import deferToThread

        await self._stopped
        self._forget_shutdown_trigger()
        # Joining the pools' threads blocks: not on the reactor thread.
        await deferToThread(self._shutdown_blocking)

    def _shutdown_blocking(self) -> None:
        self._stop_pools()
        with self._readers_lock:
            spare, self._spare = self._spare, []
        for conn in [self._writer_conn, *self._readers, *spare]:
            if conn is not None:
                try:
                    conn.close()
                except psycopg.Error:
                    pass
