"""The writer of a ``sqlite:`` store's database: the writer thread, group commit and
the append pipeline.

Durability. An acknowledged write must survive SIGKILL *and* power loss, and a message
body must be durable before the row naming it. The database runs in WAL mode with
``synchronous=FULL``: a COMMIT returns once the log is fsynced, so a committed row is
durable, and callers hear of it only after the COMMIT. Bodies are made durable before
their rows are inserted, in one of two ways chosen by what the platform offers:

* group sync (Linux, ``syncfs(2)`` available): bodies are written without fsync, and
  every writer round that has new bodies starts with ONE ``syncfs``, which makes all of
  them durable at once (an fsync per file costs a journal commit each and caps delivery
  at a few hundred messages a second); their rows are inserted after it, in the same
  round, and made durable by that round's COMMIT;
* fsync (elsewhere): each body file is fsynced when written and its directory at the
  start of the round that inserts its row.

So an append costs, per round it shares with others, one syncfs and one log fsync, and it
waits for one round (not two: a syncfs for the rows too would add a round of latency,
which at a fixed number of concurrent deliveries is what bounds throughput).

Appends are pipelined (``Database.pipeline``): a preparer thread parses the message and
writes its body file; the writer's next round makes the body durable and inserts the rows
of every such body of a folder in one go. No step waits on the reactor, and one
``callFromThread`` per round answers everybody. Each append takes a ticket in its folder's
lane when it is called, and rows are inserted in ticket order, so UIDs follow the order
``append`` was called in even though bodies finish writing in any order (a later append
waits for an earlier one's body, never for its own round of syncs).

The writer thread owns the only write connection. Callers queue jobs; each round the
thread takes every job queued so far, runs them in ONE transaction (optimistically without
savepoints; if one fails, again with a savepoint per job so it fails alone), commits, makes
the round durable, rings the doorbell of the other processes on the database if the round
recorded events (``doorbell``), and only then fires each caller's Deferred on the reactor
(``callFromThread``), followed by the round's change events. It also serves "tell me when
this body is durable" requests, answered by the same round's sync. A few preparer threads
feed the append pipeline.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections import deque

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from smsync.errors import SmsyncError
from smsync.model import ChangeEvent, ChangeKind
from smsync.store.failures import translated

log = Logger()

#: Most jobs one transaction takes; bounds commit latency under a flood of writes.
MAX_BATCH = 1000

#: Threads preparing appends. Parsing holds the GIL, so more threads would only contend
#: for it; two keep one parsing while the other is in a write(2).
PREPARERS = 2

#: Events other processes may still need to see are kept this long (seconds).
EVENT_RETENTION = 600.0


class TxContext:
    """What one job may do besides SQL: announce events and schedule work after the
    commit (e.g. unlinking freed body files)."""

    def __init__(self, conn: sqlite3.Connection, origin: str):
        self.conn = conn
        self.origin = origin
        self.now = time.time()
        self.events: list[ChangeEvent] = []
        self.after_commit: list = []

    def event(self, account: str, kind: ChangeKind, name=None, revision=None, folder_id=None):
        """Record a change; it is delivered (locally and to other processes) once committed."""
        # Written to the events table by the writer, for all jobs of a batch at once.
        self.events.append(ChangeEvent(account, kind, name, revision, folder_id))


class _Job:
    """A write job. ``entries`` is set for the rows of pipelined entries of one lane:
    ``fn`` then returns one result per entry."""

    __slots__ = ("fn", "args", "deferred", "entries")

    def __init__(self, fn, args, deferred, entries=None):
        self.fn = fn
        self.args = args
        self.deferred = deferred
        self.entries = entries


# States of a pipelined entry, in the order it goes through them.
_PREPARING, _WRITTEN, _READY, _FAILED = range(4)


class _Entry:
    """One pipelined write (see ``Database.pipeline``)."""

    __slots__ = ("lane", "prepare", "commit", "discard", "deferred", "state", "value",
                 "directory", "failure")

    def __init__(self, lane, prepare, commit, discard, deferred):
        self.lane = lane
        self.prepare = prepare
        self.commit = commit
        self.discard = discard
        self.deferred = deferred
        self.state = _PREPARING
        self.value = self.directory = self.failure = None


class _BodyWait:
    __slots__ = ("directory", "done")

    def __init__(self, directory, done):
        self.directory = directory
        self.done = done


class _Pinned:
    """A store transaction waiting for the writer: once it reaches the front, the writer
    thread serves it alone until it ends (SQLite has one write connection)."""

    __slots__ = ("session",)

    def __init__(self, session):
        self.session = session


class _SessionHooks:
    """How a store transaction runs on the writer connection (see
    ``smsync.store.sql.transaction``): bodies its appends wrote become durable before the
    COMMIT, its events are written to the events table as a round's are, and freed body
    files are unlinked once it is durable."""

    def __init__(self, writer: "Writer"):
        from smsync.store.sql.transaction import SessionHooks

        self.writer = writer
        self._base = SessionHooks()

    def __getattr__(self, name):
        return getattr(self._base, name)

    def begin(self, conn) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def context(self, conn):
        return TxContext(conn, self.writer.origin)

    def before_commit(self, conn, contexts, session) -> None:
        writer = self.writer
        if session.pending:
            if writer.bodies.group_sync:
                writer.bodies.sync_all()
            else:
                writer.bodies.sync_batch({d for _, d, _ in session.pending if d is not None})
        writer._record_events(conn, [e for ctx in contexts for e in ctx.events])

    def after_commit(self, contexts) -> None:
        self.writer.commits += 1
        self.writer.committed_jobs += len(contexts)
        if any(ctx.events for ctx in contexts):
            self.writer.doorbell.ring()
        for ctx in contexts:
            for action in ctx.after_commit:
                try:
                    action()
                except Exception:
                    log.failure("post-commit action failed")

    def after_rollback(self, session) -> None:
        for value, _, discard in session.pending:
            try:
                discard(value)
            except Exception:
                log.failure("discarding a rolled-back write failed")
        session.pending.clear()


_STOP = object()


class Writer:
    """The writing half of ``Database`` (a mixin; see the module docstring).

    The host provides ``origin``, ``bodies`` (a ``BodyFiles``), ``doorbell`` (rung after
    each commit that recorded events), ``_reactor``, the write connection
    ``_writer_conn`` and the ``_closed`` flag, and calls ``_init_writer`` from
    its constructor, ``_start_writer`` from ``start`` and ``_stop_writer`` from ``close``.
    """

    def _init_writer(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer_conn: sqlite3.Connection | None = None
        self._last_prune = 0.0
        self._stopped: Deferred | None = None
        #: Write transactions committed so far, and jobs they carried (group commit).
        self.commits = 0
        self.committed_jobs = 0
        # The append pipeline: entries per lane in call order (the lock guards the dict
        # and the deques: the reactor adds, the writer takes), lanes whose first entries
        # may be ready to commit (writer thread only), and the preparers' queue.
        self._lanes: dict[object, deque] = {}
        self._lanes_lock = threading.Lock()
        self._releasable: set = set()
        self._prep_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._preparers_left = 0

    def _start_writer(self) -> None:
        """Start the writer thread and the preparers."""
        self._thread = threading.Thread(
            target=self._writer_loop, name="smsync-sqlite-writer", daemon=True
        )
        self._thread.start()
        self._preparers_left = PREPARERS
        for n in range(PREPARERS):
            threading.Thread(
                target=self._preparer_loop, name=f"smsync-sqlite-prepare-{n}", daemon=True
            ).start()

    def _stop_writer(self) -> Deferred:
        """Have the writer finish every queued write and leave; the Deferred fires then."""
        self._stopped = Deferred()
        # The preparers leave once they have handed over what they hold; the last one
        # out tells the writer to finish (see _preparer_loop).
        if self._preparers_left:
            for _ in range(self._preparers_left):
                self._prep_queue.put(_STOP)
        else:
            self._queue.put(_STOP)
        return self._stopped

    # -- writes ---------------------------------------------------------------------

    def pipeline(self, lane, prepare, commit, discard) -> Deferred:
        """Prepare on a preparer thread, make durable what that wrote, then commit, with
        commits in call order within ``lane``. Call on the reactor thread.

        ``prepare()`` (blocking) returns ``(value, directory)``: ``directory`` is where it
        wrote files that must be durable before ``value`` is committed (None if it wrote
        none). Once they are, ``commit(conn, ctx, values)`` runs in a write transaction with
        the values of every ready entry of the lane, in call order, and returns one result
        per value. An entry waits for the entries called before it in its lane, so a commit
        never gets ahead of an earlier call. ``discard(value)`` undoes what ``prepare``
        wrote when the entry is refused (``commit`` raised an ``SmsyncError``) or its files
        could not be made durable.

        Returns a Deferred firing with the entry's result once its commit is durable, or
        failing with ``prepare``'s or ``commit``'s exception.
        """
        if self._closed:
            raise RuntimeError("store is closed")
        entry = _Entry(lane, prepare, commit, discard, Deferred())
        with self._lanes_lock:
            waiting = self._lanes.get(lane)
            if waiting is None:
                waiting = self._lanes[lane] = deque()
            waiting.append(entry)
        self._prep_queue.put(entry)
        return entry.deferred

    def _preparer_loop(self) -> None:
        while True:
            entry = self._prep_queue.get()
            if entry is _STOP:
                break
            try:
                entry.value, entry.directory = entry.prepare()
            except BaseException:
                entry.failure = Failure()
            self._queue.put(entry)
        with self._lanes_lock:
            self._preparers_left -= 1
            last = self._preparers_left == 0
        if last:
            # Every entry is with the writer now: it may finish once it has them all.
            self._queue.put(_STOP)

    def begin_session(self):
        """Open a store transaction (``smsync.store.sql.transaction.Session``): it waits
        for the writes queued before it, then has the writer thread to itself until it
        ends; writes queued meanwhile wait for it. Call on the reactor thread."""
        from smsync.store.sql.transaction import Session

        if self._closed:
            raise RuntimeError("store is closed")
        session = Session(_SessionHooks(self), self._reactor, self.on_events)
        self._queue.put(_Pinned(session))
        return session

    def when_body_durable(self, directory: str, done) -> None:
        """Thread-safe: call ``done(None)`` (or ``done(failure)``) on the writer thread once
        every body written into ``directory`` so far is durable."""
        self._queue.put(_BodyWait(directory, done))

    def _writer_loop(self) -> None:
        stop = False
        while True:
            # Once asked to stop, finish whatever is queued or waiting in a lane, including
            # the rows that the last round's syncs made ready, then leave. Never block
            # while a lane has entries ready to commit.
            try:
                if stop or self._releasable:
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get()
            except queue.Empty:
                if stop and not self._releasable:
                    break
                item = None
            jobs, waits, arrived = [], [], []
            pinned = None
            while item is not None:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Pinned):
                    # Everything queued before the transaction commits first.
                    pinned = item
                    break
                elif isinstance(item, _Entry):
                    arrived.append(item)
                elif isinstance(item, _BodyWait):
                    waits.append(item)
                else:
                    jobs.append(item)
                if len(jobs) + len(arrived) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            try:
                self._round(jobs, waits, arrived)
            except BaseException:  # pragma: no cover - a bug here must not kill the thread
                log.failure("sqlite writer round crashed")
            if pinned is not None:
                pinned.session.serve(self._writer_conn)
        self._abandon_lanes()
        self._reactor.callFromThread(self._stopped.callback, None)

    def _abandon_lanes(self) -> None:
        """Fail entries a lane still holds when the writer leaves (a bug upstream)."""
        with self._lanes_lock:
            stuck = [e for waiting in self._lanes.values() for e in waiting]
            self._lanes.clear()
        if stuck:
            log.error("{n} pipelined writes never became ready", n=len(stuck))
            failure = Failure(RuntimeError("store closed before the write was committed"))
            for e in stuck:
                self._reactor.callFromThread(e.deferred.errback, failure)

    def _release(self) -> tuple[list[_Job], list[_Entry]]:
        """Take from each lane its leading run of ready or failed entries: one commit job
        per lane for the ready ones (in call order) and the failed ones to report."""
        jobs, dropped = [], []
        with self._lanes_lock:
            for lane in self._releasable:
                waiting = self._lanes.get(lane)
                ready = []
                while waiting and waiting[0].state >= _READY:
                    entry = waiting.popleft()
                    (ready if entry.state == _READY else dropped).append(entry)
                if waiting is not None and not waiting:
                    del self._lanes[lane]
                if ready:
                    jobs.append(_Job(ready[0].commit, ([e.value for e in ready],), None, ready))
        self._releasable.clear()
        return jobs, dropped

    def _round(self, jobs: list[_Job], waits: list[_BodyWait], arrived: list[_Entry]) -> None:
        """Commit ``jobs`` and the lanes' ready entries; make them, the bodies ``waits``
        wait for and the files of the ``arrived`` entries durable; tell."""
        written = []
        for entry in arrived:
            if entry.failure is None:
                entry.state = _WRITTEN
                written.append(entry)
            else:
                entry.state = _FAILED
                self._releasable.add(entry.lane)
        # First make the bodies written so far durable: then their rows may go in now.
        failure = None
        if written or waits:
            try:
                if self.bodies.group_sync:
                    self.bodies.sync_all()
                else:
                    directories = {w.directory for w in waits}
                    directories.update(e.directory for e in written if e.directory is not None)
                    self.bodies.sync_batch(directories)
            except Exception:
                failure = Failure()
                log.failure("making bodies durable failed", failure)
        for entry in written:
            if failure is None:
                entry.state = _READY
            else:
                entry.state, entry.failure = _FAILED, failure
            self._releasable.add(entry.lane)
        lane_jobs, dropped = self._release() if self._releasable else ([], [])
        jobs = jobs + lane_jobs
        # The COMMIT fsyncs the log (synchronous=FULL): committed is durable.
        outcomes = self._run_batch(jobs) if jobs else []
        # Post-commit work (unlinking freed bodies) waits until the rows that no longer
        # name them are durable, and is done before anyone hears of the commit.
        for job, ok, value, ctx in outcomes:
            if ok:
                for action in ctx.after_commit:
                    try:
                        action()
                    except Exception:
                        log.failure("post-commit action failed")
            elif job.entries is not None and value.check(SmsyncError):
                # Refused (the folder is gone...): surely no row names these files. After
                # any other error a row may exist: keep the file; if it is an orphan after
                # all, the next lone open removes it.
                self._discard(job.entries)
        self._discard(e for e in dropped if e.value is not None)
        if outcomes or dropped:
            self._reactor.callFromThread(self._deliver, outcomes, dropped)
        for wait in waits:
            wait.done(failure)

    def _discard(self, entries) -> None:
        for entry in entries:
            try:
                entry.discard(entry.value)
            except Exception:
                log.failure("discarding a refused write failed")

    def _run_jobs(self, conn, batch: list[_Job], careful: bool) -> list:
        """Run the jobs of a batch inside the open transaction.

        Optimistic (``careful`` False): no savepoints, the first failing job's exception
        propagates and the caller rolls the whole batch back. Careful: each job inside its
        own SAVEPOINT so a failing job is undone alone and reported to its caller.
        """
        outcomes = []
        for job in batch:
            ctx = TxContext(conn, self.origin)
            if not careful:
                outcomes.append((job, True, job.fn(conn, ctx, *job.args), ctx))
                continue
            conn.execute("SAVEPOINT job")
            try:
                result = job.fn(conn, ctx, *job.args)
            except Exception:
                outcomes.append((job, False, Failure(), None))
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            else:
                conn.execute("RELEASE job")
                outcomes.append((job, True, result, ctx))
        return outcomes

    def _run_batch(self, batch: list[_Job]) -> list:
        """Run and commit ``batch``; return ``(job, ok, result or failure, ctx)`` for each."""
        conn = self._writer_conn
        outcomes: list[tuple[_Job, bool, object, TxContext | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception:
            failure = Failure()
            return [(j, False, failure, None) for j in batch]
        try:
            if len(batch) == 1:
                # A lone job's failure is the transaction's: no savepoint needed.
                try:
                    outcomes = self._run_jobs(conn, batch, careful=False)
                except Exception:
                    failure = Failure()
                    conn.execute("ROLLBACK")
                    return [(batch[0], False, failure, None)]
            else:
                # Jobs rarely fail, and savepoints cost two statements per job: run the
                # batch optimistically, and only if a job fails, roll back and run it again
                # with a savepoint around each job. Jobs are pure functions of the database
                # state and their arguments, so running them twice is harmless.
                try:
                    outcomes = self._run_jobs(conn, batch, careful=False)
                except Exception:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                    outcomes = self._run_jobs(conn, batch, careful=True)
            events = [e for _, ok, _, ctx in outcomes if ok for e in ctx.events]
            self._record_events(conn, events)
            conn.execute("COMMIT")
            self.commits += 1
            self.committed_jobs += len(batch)
            if events:
                self.doorbell.ring()
        except Exception:
            failure = Failure()
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return [(j, False, failure, None) for j in batch]
        return outcomes

    def _record_events(self, conn, events) -> None:
        """Write a transaction's events for other processes to poll; prune old ones."""
        now = time.time()
        conn.executemany(
            "INSERT INTO events (origin, time, account, kind, name, revision, folder_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(self.origin, now, e.account, e.kind.value, e.name, e.revision, e.folder_id)
             for e in events],
        )
        if now - self._last_prune > 60:
            self._last_prune = now
            conn.execute("DELETE FROM events WHERE time < ?", (now - EVENT_RETENTION,))

    def _deliver(self, outcomes, dropped=()) -> None:
        events = []
        for job, ok, value, ctx in outcomes:
            if job.entries is None:
                if ok:
                    events.extend(ctx.events)
                    job.deferred.callback(value)
                else:
                    job.deferred.errback(translated(value))
            elif ok:
                events.extend(ctx.events)
                for entry, result in zip(job.entries, value):
                    entry.deferred.callback(result)
            else:
                for entry in job.entries:
                    entry.deferred.errback(translated(value))
        for entry in dropped:
            entry.deferred.errback(translated(entry.failure))
        if self.on_events is not None:
            for ev in events:
                self.on_events(ev)

    #: Called on the reactor thread with each committed ChangeEvent (set by the store).
    on_events = None
