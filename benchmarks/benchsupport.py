"""What the server benchmarks (bench_eas, bench_ews, bench_lists, bench_web) share: the
test data, the server process (a store filled, the protocols started as ``smsync serve``
starts them, their ports written to ``DIR/ports``), its figures from /proc, and the
percentiles of what was timed.

A script serves with ``serve(directory, spec_file, protocols, fill)`` under its own
``--serve DIR SPEC`` and starts that in a child process with ``ServerProcess``; each
keeps only what is its own (its protocol's client, its figures, its report).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password"
DOMAIN = "example.org"


# ---------------------------------------------------------------------------------------
# Test data


def account(n: int, prefix: str = "user") -> str:
    return f"{prefix}{n}@{DOMAIN}"


def make_message(i: int, to: str, size: int = 2500) -> bytes:
    """A plain-text message of about ``size`` bytes (so a 512-byte truncation cuts it)."""
    head = (f"From: Sender {i % 37} <sender{i % 37}@example.net>\r\nTo: {to}\r\n"
            f"Subject: bench message {i}\r\n"
            f"Date: Mon, {1 + i % 28:02d} Jan 2024 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <eas-bench-{i}@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def fold(line: str) -> str:
    # RFC 5545 3.1: lines longer than 75 octets are folded (all ASCII here).
    parts = [line[:75]]
    rest = line[75:]
    while rest:
        parts.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(parts)


async def add_accounts(store, names) -> None:
    from smsync.auth import hash_password

    # One argon2 hash for every account: hashing is ~0.1 s each and not measured.
    hashed = hash_password(PASSWORD)
    for name in names:
        await store.accounts.add(name, hashed)


async def fill_inbox(store, name: str, count: int, make=make_message) -> None:
    inbox = await (await store.mail(name)).mailbox("INBOX")
    await _in_batches(count, lambda i: inbox.append(make(i, name)))


async def fill_calendar(store, name: str, count: int, make_event) -> None:
    """``count`` events ``event-{i}.ics`` in the account's first calendar (made if none)."""
    from smsync.model import CollectionKind

    collections = await store.collections(name)
    infos = await collections.list_collections(CollectionKind.CALENDAR)
    if not infos:
        await collections.create_collection("calendar", CollectionKind.CALENDAR)
        infos = await collections.list_collections(CollectionKind.CALENDAR)
    calendar = await collections.collection(infos[0].name)
    await _in_batches(count, lambda i: calendar.put(f"event-{i}.ics", make_event(i)))


async def _in_batches(count: int, one) -> None:
    from twisted.internet import defer

    # Concurrent batches: the store makes one durable commit per batch.
    for first in range(0, count, 200):
        await defer.gatherResults([defer.ensureDeferred(one(i))
                                   for i in range(first, min(first + 200, count))])


# ---------------------------------------------------------------------------------------
# The server process


def raise_fd_limit() -> int:
    """Raise the open-file limit as far as allowed; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except ValueError:
        return soft


def serve(directory: str, spec_file: str, protocols: tuple, fill=None, ports=("http",),
          tracemalloc_frames: int = 12) -> None:
    """Run ``await fill(store uri, spec)`` over the SQLite store in ``directory``, then
    serve ``protocols`` over it on 127.0.0.1 until SIGTERM; ``{name: port}`` of
    ``ports`` goes to ``directory/ports`` once they listen. The spec (JSON) may ask for
    ``freeze_gc`` (default true), a cProfile file ``profile`` and a ``tracemalloc``
    report written on SIGUSR1."""
    raise_fd_limit()
    with open(spec_file) as f:
        spec = json.load(f)
    from twisted.internet import defer, reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    # A server runs with its log going somewhere (twistd writes a file); with no
    # observer Twisted keeps the last 65,536 events in memory, which would count in RSS.
    logfile = open(os.path.join(directory, "server.log"), "a")
    globalLogBeginner.beginLoggingTo([textFileLogObserver(logfile)], redirectStandardIO=False)
    profile = None

    async def main():
        from smsync.testing.servers import RunningServers, config_with, default_config

        uri = f"sqlite:///{directory}/store"
        if fill is not None:
            await fill(uri, spec)
        # The pre-login gate is opened wide: thousands of clients behind one loopback
        # address would otherwise be refused. The login limiter leaves 127.0.0.1 alone.
        config = config_with(default_config(), limits={
            "max_unauthenticated_per_address": 10**6, "max_unauthenticated": 10**6})
        # freeze_gc: as a server process of its own runs (SmsyncService under twistd).
        running = await RunningServers.start(tuple(protocols), uri, config=config, accounts=(),
                                             directory=directory, freeze_gc=spec.get("freeze_gc", True))
        nonlocal profile
        if spec.get("tracemalloc"):
            _trace_allocations(os.path.join(directory, spec["tracemalloc"]), tracemalloc_frames)
        if spec.get("profile"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        with open(os.path.join(directory, "ports.tmp"), "w") as f:
            json.dump({name: running.port(name) for name in ports}, f)
        os.rename(os.path.join(directory, "ports.tmp"), os.path.join(directory, "ports"))

    def failed(failure):
        failure.printTraceback()
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.Deferred.fromCoroutine(main()).addErrback(failed))
    reactor.run()  # SIGTERM stops it
    if profile is not None:
        profile.disable()
        profile.dump_stats(spec["profile"])


def _trace_allocations(path: str, frames: int) -> None:
    """Trace allocations from now; SIGUSR1 writes the largest to ``path``."""
    import tracemalloc

    tracemalloc.start(frames)

    def snapshot(_signum, _frame):
        snap = tracemalloc.take_snapshot()
        with open(path, "w") as f:
            total = sum(stat.size for stat in snap.statistics("filename"))
            f.write(f"{total / 1024:10.0f} KiB traced in all\n")
            for stat in snap.statistics("filename")[:15]:
                f.write(f"{stat.size / 1024:10.0f} KiB {stat.traceback[0].filename}\n")
            for stat in snap.statistics("traceback")[:30]:
                f.write(f"{stat.size / 1024:10.0f} KiB {stat.count:8d} blocks\n")
                f.write("".join(f"    {line}\n" for line in stat.traceback.format()[-frames:]))

    signal.signal(signal.SIGUSR1, snapshot)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int, thread=None) -> float:
    """User plus system CPU time the process (all its threads) -- or one thread of it --
    has used so far."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """``script --serve DIR SPEC`` in a child process, with ``spec`` written to
    DIR/spec.json; ``ports`` once it listens. Without ``directory`` a temporary one is
    made (and removed at ``stop``); a given one is kept (a store to start over again)."""

    def __init__(self, script: str, spec: dict, directory=None, label: str = "server",
                 start_timeout: float = 1800):
        self.label = label
        self._temporary = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix=f"smsync-{Path(script).stem.replace('_', '-')}-")
        spec_file = os.path.join(self.dir, "spec.json")
        with open(spec_file, "w") as f:
            json.dump(spec, f)
        port_file = os.path.join(self.dir, "ports")
        if os.path.exists(port_file):  # an earlier run's, over a kept store
            os.unlink(port_file)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        self.proc = subprocess.Popen([sys.executable, script, "--serve", self.dir, spec_file],
                                     env=env, cwd=ROOT)
        deadline = time.time() + start_timeout
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"the {label} server did not start")
            time.sleep(0.1)
        with open(port_file) as f:
            self.ports = json.load(f)
        self.pid = self.proc.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def reactor_cpu(self) -> float:
        """CPU of the server's main thread, where the reactor and the protocol code run
        (the rest is the store's reader and writer threads)."""
        return cpu_seconds(self.pid, self.pid)

    async def settle(self, quiet: float = 0.03, step: float = 0.5, limit: float = 120) -> None:
        """Wait until the server has (nearly) stopped using CPU: the requests sent have
        all been handled, long polls have reached their wait."""
        deadline = time.monotonic() + limit
        before = self.cpu()
        while time.monotonic() < deadline:
            await asyncio.sleep(step)
            now = self.cpu()
            if now - before < quiet:
                return
            before = now

    def problems(self) -> int:
        """Tracebacks in the server's log."""
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return sum(1 for line in f if "Traceback" in line)
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._temporary:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# The client side: errors, concurrency, figures


class HTTPError(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise HTTPError(message)


async def bounded(coros, limit: int):
    """Run ``coros`` with at most ``limit`` at a time; their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(c):
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


class LMTP:
    """A minimal LMTP client: one message to one recipient at a time."""

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        await self._reply()
        self.writer.write(b"LHLO bench.example.net\r\n")
        await self._reply()

    async def _reply(self) -> str:
        while True:
            line = (await self.reader.readline()).decode("latin-1")
            if not line:
                raise HTTPError("LMTP server closed the connection")
            if line[3:4] != "-":
                if line[:1] not in "23":
                    raise HTTPError(f"LMTP: {line.strip()}")
                return line

    async def deliver(self, recipient: str, message: bytes) -> float:
        """Deliver; the perf_counter time the reply to the DATA was read."""
        self.writer.write(f"MAIL FROM:<load@example.net>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
        for _ in range(3):
            await self._reply()
        stuffed = message.replace(b"\r\n.", b"\r\n..")
        self.writer.write(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        await self._reply()
        return time.perf_counter()

    def close(self) -> None:
        self.writer.write(b"QUIT\r\n")
        self.writer.close()


def pct(values, p) -> float:
    """The ``p``th percentile of ``values`` (nearest rank; NaN for none)."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def load() -> str:
    """The load average (1, 5, 15 minutes) as /proc/loadavg says it."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
