"""``smsync serve --workers N``: N worker processes over one store, sharing the listening
sockets, started and watched by this one (the supervisor).

The supervisor binds every listening endpoint of the plan itself (``smsync.tap.inherit``)
-- so port 0 and privileged ports work, and every address is logged before a worker
starts -- and then starts the workers: ``python -m smsync.tap.worker INDEX``, the same
interpreter and ``sys.path``, the sockets inherited as descriptors 3, 4, ..., the plan
(with which descriptor is which endpoint) read from standard input. Standard input stays
open: a worker whose supervisor is gone sees it end, and stops.

Each worker runs the plan's ``SmsyncService`` over its own connection to the store and
accepts on the shared sockets; the kernel gives each new connection to one of them.
Worker 0 alone relays outgoing mail (``smsync.edge.outbound``); the others queue it.
A store shares its changes between the processes as it does between any processes on it
(SQLite's doorbell, PostgreSQL's LISTEN/NOTIFY).

A worker logs through the supervisor: it writes its events as JSON lines on standard
output, and the supervisor publishes them to its own log with the worker's number in the
system column (``[w1 smsync#info]``), so ``twistd``'s log file and options apply to all.

The supervisor restarts a worker that ends while the server runs, logging each time: at
once if it had run for ``STABLE_AFTER`` seconds, else after a pause that doubles while
it keeps ending soon after it started (``RESTART_FIRST`` up to ``RESTART_MAX``), so a
worker that cannot run costs neither the CPU nor the log a restart loop would. A worker that fails to start the first time (the store
does not open, a protocol fails) fails the whole server, as a single process would:
the others are stopped and the failure is in ``startup_failures``. SIGTERM and SIGINT
stop the workers (SIGTERM each, SIGKILL after ``STOP_TIMEOUT``) and then the listeners.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import time
from typing import Optional

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, eventFromJSON, globalLogPublisher

from smsync.tap.service import Plan, _describe, _one_line, startup_failures

log = Logger(namespace="smsync")

#: Pause before restarting a worker that ended soon after it started; doubled each time
#: it does so again, up to ``RESTART_MAX`` seconds.
RESTART_FIRST = 0.5
RESTART_MAX = 30.0
#: A worker that ran this long (seconds) before ending is restarted at once.
STABLE_AFTER = 30.0
#: Seconds a stopping worker has to finish its writes and close the store.
STOP_TIMEOUT = 60.0

#: The key of the events by which a worker tells the supervisor it is ready or failed.
MARKER = "smsync_worker"

#: The first descriptor a worker inherits a listening socket as.
FIRST_FD = 3


def default_workers() -> int:
    """Workers when none are asked for: one per core."""
    return os.cpu_count() or 1


def _share_limits(config, workers: int):
    """``config`` with the pre-login connection caps split between ``workers``: the
    kernel hands each connection to whichever worker accepts first, and each counts only
    its own, so each enforces its share and together they never admit more than
    configured (one may refuse a little before the whole is reached)."""
    limits = config.limits
    share = attrs.evolve(
        limits,
        max_unauthenticated_per_address=-(-limits.max_unauthenticated_per_address // workers),
        max_unauthenticated=-(-limits.max_unauthenticated // workers))
    return attrs.evolve(config, limits=share)


def encode_payload(payload: dict) -> bytes:
    """What the supervisor writes on a worker's standard input."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!I", len(data)) + data


def read_payload(fd: int = 0) -> dict:
    """Read what ``encode_payload`` wrote (the worker's side; blocking)."""

    def exactly(n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError("the supervisor closed the pipe before the plan")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    (length,) = struct.unpack("!I", exactly(4))
    return pickle.loads(exactly(length))


def _how(reason) -> str:
    value = reason.value
    if isinstance(value, ProcessDone):
        return "exited with status 0"
    if isinstance(value, ProcessTerminated):
        if value.signal is not None:
            try:
                name = signal.Signals(value.signal).name
            except ValueError:
                name = str(value.signal)
            return f"was killed by signal {value.signal} ({name})"
        return f"exited with status {value.exitCode}"
    return _one_line(value)


class _WorkerProtocol(ProcessProtocol):
    """One worker process: its log lines in, its end out."""

    def __init__(self, supervisor: "Supervisor", worker: "_Worker"):
        self.supervisor = supervisor
        self.worker = worker
        self._buffers = {1: b"", 2: b""}

    def childDataReceived(self, fd, data):
        if fd not in self._buffers:
            return
        lines = (self._buffers[fd] + data).split(b"\n")
        self._buffers[fd] = lines.pop()
        for line in lines:
            self._line(fd, line)

    def childConnectionLost(self, fd):
        rest = self._buffers.get(fd)
        if rest:
            self._buffers[fd] = b""
            self._line(fd, rest)

    def _line(self, fd: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        tag = f"w{self.worker.index}"
        if fd == 1 and text.startswith("\x1e"):
            try:
                event = eventFromJSON(text[1:])
            except ValueError:
                event = None
            if event is not None:
                level = event.get("log_level")
                system = event.get("log_system") or \
                    f"{event.get('log_namespace', '-')}#{getattr(level, 'name', '-')}"
                event["log_system"] = f"{tag} {system}"
                globalLogPublisher(event)
                self.supervisor._worker_event(self.worker, event)
                return
        # Not an event: something wrote to the descriptor directly (a crash before the
        # worker's logging started, a library printing).
        emit = log.warn if fd == 2 else log.info
        emit("{text}", text=text, log_system=f"{tag} {'stderr' if fd == 2 else 'stdout'}")

    def processEnded(self, reason):
        self.supervisor._worker_ended(self.worker, reason)


@attrs.define(eq=False)
class _Worker:
    index: int
    started: float
    protocol: Optional[_WorkerProtocol] = None
    transport: object = None
    pid: Optional[int] = None
    ready: bool = False
    alive: bool = True
    failures: list = attrs.field(factory=list)
    ended: Deferred = attrs.field(factory=Deferred)


class Supervisor(Service):
    """Binds the plan's listeners, runs ``workers`` worker processes over them and keeps
    them running (see the module docstring).

    ``ready`` fires once the sockets are bound and the workers started (not yet ready);
    ``up`` once every worker has been ready. ``failures`` as ``SmsyncService``'s."""

    def __init__(self, plan: Plan, workers: int, reactor=None,
                 stop_reactor_on_failure: bool = True):
        if workers < 1:
            raise ValueError("at least one worker")
        self.plan = plan
        self.workers = workers
        self._reactor = reactor
        self.stop_reactor_on_failure = stop_reactor_on_failure
        self.failures: list[str] = []
        #: Listening ports by name (a stream protocol or "http"), in endpoint order.
        self.ports: dict[str, list] = {}
        self.current: dict[int, _Worker] = {}
        self._delays: dict[int, float] = {}
        self._restarts: dict[int, object] = {}
        self._inherited: dict[str, tuple] = {}
        self._fds: list[int] = []
        self._binding: Optional[Deferred] = None
        self._stopping = False
        self._up = False
        self.ready: Deferred = Deferred()
        self.up: Deferred = Deferred()

    def _the_reactor(self):
        if self._reactor is None:
            from twisted.internet import reactor

            return reactor
        return self._reactor

    def pids(self) -> dict[int, int]:
        """The pid of each running worker, by number."""
        return {i: w.pid for i, w in self.current.items() if w.alive and w.pid}

    # -- starting --------------------------------------------------------------------

    def privilegedStartService(self):
        # twistd calls this before it drops root (--uid): ports below 1024 bind here, and
        # the workers, started later, run as the user it switches to.
        super().privilegedStartService()
        self._binding = Deferred.fromCoroutine(self._bind())

    def startService(self):
        super().startService()
        d = Deferred.fromCoroutine(self._start())
        d.chainDeferred(self.ready)

    async def _bind(self) -> bool:
        from smsync.tap.inherit import bind

        reactor = self._the_reactor()
        log.info("smsync: {n} workers over {uri}", n=self.workers, uri=self.plan.store_uri)
        for name, endpoints in self.plan.listeners():
            descriptors = []
            for description in endpoints:
                try:
                    port = await bind(reactor, description)
                except Exception as e:
                    self._fail(f"{name}: cannot listen on {description}: {_one_line(e)}")
                    return False
                self.ports.setdefault(name, []).append(port)
                log.info("{label} listening on {where}", label=name, where=_describe(port))
                descriptors.append(FIRST_FD + len(self._fds))
                self._fds.append(port.fileno())
            self._inherited[name] = tuple(descriptors)
        return True

    async def _start(self) -> None:
        if self._binding is None:  # started without privilegedStartService (embedded)
            self._binding = Deferred.fromCoroutine(self._bind())
        if not await self._binding:
            self._stop_reactor()  # it could not be stopped before it ran
            return
        for index in range(self.workers):
            self._spawn(index)

    def _plan_for(self, index: int) -> Plan:
        return attrs.evolve(self.plan, config=_share_limits(self.plan.config, self.workers),
                            worker=index, workers=self.workers, inherited=dict(self._inherited))

    def _spawn(self, index: int) -> None:
        self._restarts.pop(index, None)
        if self._stopping:
            return
        reactor = self._the_reactor()
        worker = _Worker(index=index, started=time.monotonic())
        worker.protocol = _WorkerProtocol(self, worker)
        child_fds = {0: "w", 1: "r", 2: "r"}
        for n, fd in enumerate(self._fds):
            child_fds[FIRST_FD + n] = fd
        env = dict(os.environ)
        # The worker imports what this process can (third-party backends on sys.path).
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        try:
            worker.transport = reactor.spawnProcess(
                worker.protocol, sys.executable,
                [sys.executable, "-m", "smsync.tap.worker", str(index)],
                env=env, childFDs=child_fds)
        except Exception as e:
            worker.alive = False
            if not self._up:
                self._fail(f"cannot start worker {index}: {_one_line(e)}")
                return
            # A restart (out of file descriptors, of memory...): try again later.
            delay = min(RESTART_MAX, max(RESTART_FIRST, self._delays.get(index, 0.0) * 2))
            self._delays[index] = delay
            log.error("smsync: cannot restart worker {index} ({why}); trying again in "
                      "{delay:g} s", index=index, why=_one_line(e), delay=delay)
            self._restarts[index] = reactor.callLater(delay, self._spawn, index)
            return
        worker.pid = worker.transport.pid
        self.current[index] = worker
        worker.transport.writeToChild(0, encode_payload({"plan": self._plan_for(index)}))
        log.info("smsync: worker {index} started (pid {pid})", index=index, pid=worker.pid)

    def _worker_event(self, worker: _Worker, event: dict) -> None:
        what = event.get(MARKER)
        if what == "ready":
            worker.ready = True
            if not self._up and len(self.current) == self.workers and \
                    all(w.ready for w in self.current.values()):
                self._up = True
                log.info("smsync: {n} workers ready", n=self.workers)
                self.up.callback(None)
        elif what == "failed":
            worker.failures = list(event.get("failures") or [])

    # -- a worker ended --------------------------------------------------------------

    def _worker_ended(self, worker: _Worker, reason) -> None:
        worker.alive = False
        how = _how(reason)
        ended, worker.ended = worker.ended, None
        if self._stopping:
            log.info("smsync: worker {index} (pid {pid}) {how}", index=worker.index,
                     pid=worker.pid, how=how)
        elif not self._up and not worker.ready:
            # It never got going: the server fails to start, as a single process would.
            failures = worker.failures or [f"worker {worker.index} {how} before it was ready"]
            for failure in failures:
                self._fail(failure, logged=bool(worker.failures))
        else:
            if time.monotonic() - worker.started >= STABLE_AFTER:
                delay = 0.0
            else:
                delay = min(RESTART_MAX,
                            max(RESTART_FIRST, self._delays.get(worker.index, 0.0) * 2))
            self._delays[worker.index] = delay
            log.warn("smsync: worker {index} (pid {pid}) {how}; restarting it{when}",
                     index=worker.index, pid=worker.pid, how=how,
                     when=f" in {delay:g} s" if delay else "")
            self._restarts[worker.index] = self._the_reactor().callLater(
                delay, self._spawn, worker.index)
        if ended is not None:
            ended.callback(None)

    def _fail(self, message: str, logged: bool = False) -> None:
        self.failures.append(message)
        if not logged:
            log.error("smsync: error: {message}", message=message)
        if not self.stop_reactor_on_failure:
            return
        startup_failures.append(message)
        self._stop_reactor()

    def _stop_reactor(self) -> None:
        reactor = self._the_reactor()
        if self.stop_reactor_on_failure and reactor.running and not self._stopping:
            self._stopping = True
            reactor.stop()

    # -- stopping --------------------------------------------------------------------

    def stopService(self):
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        try:
            await self.ready
        except Exception:
            pass
        self._stopping = True
        for timer in self._restarts.values():
            if timer.active():
                timer.cancel()
        self._restarts.clear()
        running = [w for w in self.current.values() if w.alive]
        for worker in running:
            self._signal(worker, "TERM")
        if running:
            await self._wait(running, STOP_TIMEOUT)
        left = [w for w in running if w.alive]
        for worker in left:
            log.warn("smsync: worker {index} (pid {pid}) did not stop in {s:g} s: killing it",
                     index=worker.index, pid=worker.pid, s=STOP_TIMEOUT)
            self._signal(worker, "KILL")
        if left:
            await self._wait(left, 10.0)
        ports = [p for ps in self.ports.values() for p in ps]
        self.ports = {}
        await DeferredList([maybeDeferred(p.stopListening) for p in ports])

    @staticmethod
    def _signal(worker: _Worker, name: str) -> None:
        try:
            worker.transport.signalProcess(name)
        except Exception:
            pass  # it has just ended

    async def _wait(self, workers, timeout: float) -> None:
        waiting = [w.ended for w in workers if w.ended is not None]
        if not waiting:
            return
        timed_out = Deferred()
        timer = self._the_reactor().callLater(timeout, timed_out.callback, None)
        await DeferredList([DeferredList(waiting, consumeErrors=True), timed_out],
                           fireOnOneCallback=True, consumeErrors=True)
        if timer.active():
            timer.cancel()
