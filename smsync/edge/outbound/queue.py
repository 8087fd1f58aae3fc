"""The relay queue: outgoing mail on disk until the smarthost has taken it.

Layout of the queue directory::

    tmp/            files being written (never read)
    msg/ID.eml      a message's text
    msg/ID.json     its envelope and delivery state -- the commit point
    failed/         messages given up on (kept for the administrator)

``enqueue`` writes the text, fsyncs it, renames it into ``msg/``, then does the same for
the metadata and fsyncs the directory: a message is in the queue exactly when its
``.json`` is, so a crash at any point leaves either a complete entry or an orphan text
file that the next start removes. Metadata updates are written the same way (a new file
renamed over the old), so a crash never leaves half a state.

Several processes may share one queue (the workers of ``smsync serve --workers N``):
each may enqueue, but only one runs a ``Relayer``, which then also looks for entries the
others wrote (``scan_interval``). Leftovers of interrupted writes are only removed once
they are old, as another process may be writing them.

``Relayer`` sends due messages to the smarthost with ``twisted.mail.smtp``. A message
goes out once per recipient at most: recipients the smarthost accepted are dropped from
the entry before anything else happens. Temporary failures wait ``retry_initial``
seconds, doubling each time up to ``retry_max``; permanent failures (5xx) and messages
older than ``max_age`` are given up, and a local sender gets a bounce in its Inbox.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

import attrs
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from smsync._async import deferred

log = Logger(namespace="smsync.relay")

#: Seconds after which a file of an interrupted write is surely not being written by
#: another process sharing the queue.
LEFTOVER_AGE = 300.0

#: Seconds between two looks for entries other processes queued, in a shared queue.
SCAN_INTERVAL = 1.0

#: Seconds an entry the relayer delivered or gave up is remembered, so a look at the
#: directory made just before it went cannot bring it back.
FINISHED_MEMORY = 3600.0


@attrs.define
class QueueEntry:
    """One queued message's envelope and delivery state (the ``.json`` file)."""

    id: str
    sender: str
    recipients: list
    created: float
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    #: Account that submitted it (for bounces), if any.
    account: str = ""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(tmp_dir: Path, final: Path, chunks) -> None:
    tmp = tmp_dir / (final.name + "." + uuid.uuid4().hex)
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)


class RelayQueue:
    """The queue directory. Every method blocks (file I/O): call them from a thread,
    as ``Relayer`` and the submission listener do."""

    def __init__(self, root):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.msg = self.root / "msg"
        self.failed = self.root / "failed"

    def prepare(self) -> None:
        """Create the directories (what a process that enqueues but does not relay
        needs)."""
        for d in (self.root, self.tmp, self.msg, self.failed):
            d.mkdir(parents=True, exist_ok=True)

    def open(self, shared: bool = False) -> list[QueueEntry]:
        """Create the directories, clear leftovers of interrupted writes, and return
        every queued entry, oldest first. ``shared``: other processes may be writing
        entries now, so only leftovers older than ``LEFTOVER_AGE`` go."""
        self.prepare()
        cutoff = time.time() - LEFTOVER_AGE if shared else None

        def old_enough(path: Path) -> bool:
            if cutoff is None:
                return True
            try:
                return path.stat().st_mtime < cutoff
            except FileNotFoundError:
                return False

        for leftover in self.tmp.iterdir():
            if old_enough(leftover):
                leftover.unlink(missing_ok=True)
        for path in self.msg.glob("*.eml"):
            meta = path.with_suffix(".json")
            if not meta.exists() and old_enough(path):
                # Text written but never committed: the client was not told 250.
                path.unlink(missing_ok=True)
        return self.entries(quarantine=True)

    def ids(self) -> set[str]:
        """The ids of the queued entries (their metadata files), unread."""
        return {path.stem for path in self.msg.glob("*.json")}

    def load(self, ids) -> list[QueueEntry]:
        """The entries of ``ids`` still queued, oldest first (unreadable ones skipped:
        the relayer's start moves them aside)."""
        entries = []
        for entry_id in ids:
            try:
                data = (self.msg / f"{entry_id}.json").read_bytes()
                entries.append(QueueEntry(**json.loads(data)))
            except (OSError, ValueError, TypeError):
                continue
        entries.sort(key=lambda e: e.created)
        return entries

    def entries(self, quarantine: bool = False) -> list[QueueEntry]:
        """Every queued entry, oldest first (read-only unless ``quarantine``, which
        moves unreadable metadata to ``failed/``)."""
        entries = []
        for meta in self.msg.glob("*.json"):
            try:
                entries.append(QueueEntry(**json.loads(meta.read_bytes())))
            except FileNotFoundError:
                continue
            except (ValueError, TypeError) as e:
                log.error("relay queue: unreadable entry {path}: {e}", path=str(meta), e=e)
                if quarantine:
                    os.replace(meta, self.failed / meta.name)
        entries.sort(key=lambda e: e.created)
        return entries

    def enqueue(self, sender: str, recipients: list[str], read_body: Callable,
                account: str = "", now: Optional[float] = None) -> QueueEntry:
        """Queue a message durably. ``read_body(size)`` is called until it returns b""
        to get the text. Returns the entry once it is on disk for good."""
        now = time.time() if now is None else now
        entry = QueueEntry(id=uuid.uuid4().hex, sender=sender, recipients=list(recipients),
                           created=now, next_attempt=now, account=account)

        def chunks():
            while True:
                chunk = read_body(1 << 20)
                if not chunk:
                    return
                yield chunk

        _write_atomically(self.tmp, self.msg / f"{entry.id}.eml", chunks())
        self.save(entry)
        return entry

    def save(self, entry: QueueEntry) -> None:
        """Write ``entry``'s state (atomically, durably)."""
        data = json.dumps(attrs.asdict(entry), sort_keys=True).encode()
        _write_atomically(self.tmp, self.msg / f"{entry.id}.json", [data])
        _fsync_dir(self.msg)

    def body(self, entry: QueueEntry) -> bytes:
        return (self.msg / f"{entry.id}.eml").read_bytes()

    def remove(self, entry: QueueEntry) -> None:
        """Drop a delivered entry (metadata first: no entry without its text)."""
        (self.msg / f"{entry.id}.json").unlink(missing_ok=True)
        (self.msg / f"{entry.id}.eml").unlink(missing_ok=True)
        _fsync_dir(self.msg)

    def give_up(self, entry: QueueEntry) -> None:
        """Move an entry to ``failed/``."""
        for suffix in (".eml", ".json"):
            src = self.msg / f"{entry.id}{suffix}"
            if src.exists():
                os.replace(src, self.failed / src.name)
        _fsync_dir(self.failed)
        _fsync_dir(self.msg)


@attrs.frozen
class Smarthost:
    """Where and how to relay."""

    host: str
    port: int = 25
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, text: str, username: str = "", password: str = "") -> "Smarthost":
        """``host``, ``host:port`` or ``[v6addr]:port``. ``ValueError`` if malformed."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
        if not host or (port and not port.isdigit()):
            raise ValueError(f"bad smarthost {text!r}: expected host:port")
        return cls(host, int(port) if port else 25, username, password)


def retry_delay(attempts: int, initial: float, maximum: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: initial, doubling,
    at most ``maximum``."""
    return min(maximum, initial * (2 ** max(0, min(attempts - 1, 30))))


class Relayer(Service):
    """Sends the queue to the smarthost, retrying with back-off; survives restarts by
    re-reading the queue directory at start."""

    def __init__(self, queue: RelayQueue, smarthost: Optional[Smarthost], *,
                 retry_initial: float = 60.0, retry_max: float = 3600.0,
                 max_age: float = 5 * 24 * 3600.0, bounce=None, reactor=None,
                 clock: Callable[[], float] = time.time, timeout: float = 120.0,
                 shared: bool = False, scan_interval: float = SCAN_INTERVAL):
        """``shared``: other processes enqueue too; their entries are found by a look
        at the queue every ``scan_interval`` seconds."""
        self.queue = queue
        self.shared = shared
        self.scan_interval = scan_interval
        self._scan = None
        self._scanning = False
        # Entries delivered or given up here, by when (see FINISHED_MEMORY).
        self._finished: dict[str, float] = {}
        self.smarthost = smarthost
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_age = max_age
        self.bounce = bounce
        self.timeout = timeout
        self._clock = clock
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self._timers: dict[str, object] = {}
        self._sending: set[str] = set()
        # Attempts under way: their Deferreds, and their connections to the smarthost.
        self._inflight: dict[str, defer.Deferred] = {}
        self._connectors: dict[str, object] = {}
        self.ready: defer.Deferred = defer.succeed(None)

    def startService(self):
        super().startService()
        self.ready = Deferred_from(self._start())

    async def _start(self) -> None:
        entries = await deferToThread(self.queue.open, self.shared)
        if entries:
            log.info("relay queue: {n} message(s) waiting", n=len(entries))
        if self.smarthost is None and entries:
            log.warn("relay queue: no smarthost configured; mail stays queued")
        for entry in entries:
            self.schedule(entry)
        if self.shared and self.smarthost is not None and self.running:
            from twisted.internet.task import LoopingCall

            self._scan = LoopingCall(self._look)
            self._scan.clock = self.reactor
            self._scan.start(self.scan_interval, now=False)

    def _known(self, entry_id: str) -> bool:
        return (entry_id in self._timers or entry_id in self._sending
                or entry_id in self._finished)

    def _look(self) -> None:
        if self._scanning:
            return
        self._scanning = True
        d = Deferred_from(self._find_new())
        d.addErrback(lambda f: log.failure("relay queue: looking for new entries failed", f))
        d.addBoth(lambda _: setattr(self, "_scanning", False))

    async def _find_new(self) -> None:
        """Schedule the entries other processes queued since the last look."""
        now = self._clock()
        for entry_id, when in list(self._finished.items()):
            if now - when > FINISHED_MEMORY:
                del self._finished[entry_id]
        new = [i for i in await deferToThread(self.queue.ids) if not self._known(i)]
        if not new:
            return
        for entry in await deferToThread(self.queue.load, new):
            if self.running and not self._known(entry.id):
                self.schedule(entry)

    def stopService(self):
        """Stop scheduling; cut attempts under way (their mail stays queued, to be
        retried by the next start) and fire when they have ended. Left running, an
        attempt could deliver a message that the next start sends again."""
        super().stopService()
        if self._scan is not None:
            scan, self._scan = self._scan, None
            if scan.running:
                scan.stop()
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        for connector in list(self._connectors.values()):
            connector.disconnect()
        pending = list(self._inflight.values())
        return defer.DeferredList(pending, consumeErrors=True) if pending else defer.succeed(None)

    def schedule(self, entry: QueueEntry) -> None:
        """Attempt ``entry`` when it is due (now if overdue)."""
        if not self.running or self.smarthost is None:
            return
        old = self._timers.pop(entry.id, None)
        if old is not None and old.active():
            old.cancel()
        delay = max(0.0, entry.next_attempt - self._clock())
        self._timers[entry.id] = self.reactor.callLater(delay, self._attempt, entry)

    def _attempt(self, entry: QueueEntry) -> None:
        self._timers.pop(entry.id, None)
        if entry.id in self._sending or entry.id in self._finished:
            return
        self._sending.add(entry.id)
        d = Deferred_from(self._send(entry))
        d.addErrback(lambda f: log.failure("relay of {id} failed", f, id=entry.id))
        self._inflight[entry.id] = d

        def ended(_):
            self._sending.discard(entry.id)
            self._inflight.pop(entry.id, None)

        d.addBoth(ended)

    @deferred
    async def flush(self) -> None:
        """Attempt every queued message now (tests and the admin's "send now")."""
        entries = await deferToThread(self.queue.entries)
        await defer.DeferredList([Deferred_from(self._send(e)) for e in entries
                                  if e.id not in self._sending])

    async def _send(self, entry: QueueEntry) -> None:
        from twisted.mail.smtp import SMTPDeliveryError

        host = self.smarthost
        entry.attempts += 1
        try:
            body = await deferToThread(self.queue.body, entry)
            _, results = await self._deliver(host, entry, body)
            data_code = 250
        except SMTPDeliveryError as e:
            results = list(getattr(e, "addresses", None) or [])
            data_code = e.code if e.code and e.code > 0 else (550 if results else 451)
            if not results:
                # Refused before any recipient (MAIL FROM, AUTH, TLS...).
                error = f"{e.code} {_text(e.resp)}"
                if 500 <= data_code < 600:
                    await self._fail(entry, entry.recipients, error)
                else:
                    await self._retry(entry, error)
                return
        except Exception as e:
            await self._retry(entry, _short(e))
            return
        delivered, permanent, temporary = classify(entry.recipients, results, data_code)
        entry.recipients = temporary
        if permanent:
            await self._bounce(entry, [a for a, _ in permanent],
                               "; ".join(f"{a}: {why}" for a, why in permanent))
        if temporary:
            await self._retry(entry, "; ".join(f"{a}: {why}" for a, why in
                                              _reasons(results, data_code, temporary)))
        else:
            await deferToThread(self.queue.remove, entry)
            self._finished[entry.id] = self._clock()
            log.info("relay: {id} sent to {host} ({n} recipient(s))", id=entry.id,
                     host=host.host, n=len(delivered))

    def _deliver(self, host: Smarthost, entry: QueueEntry, body: bytes) -> defer.Deferred:
        from twisted.internet.ssl import optionsForClientTLS
        from twisted.mail.smtp import ESMTPSenderFactory

        d = defer.Deferred()
        factory = ESMTPSenderFactory(
            host.username.encode() if host.username else None,
            host.password.encode() if host.password else None,
            # twisted's SMTP client turns every LF into CRLF itself: hand it LF text.
            entry.sender, list(entry.recipients), io.BytesIO(body.replace(b"\r\n", b"\n")), d,
            retries=0, timeout=self.timeout,
            contextFactory=optionsForClientTLS(host.host) if host.username else None,
            requireAuthentication=bool(host.username),
            requireTransportSecurity=bool(host.username))
        factory.noisy = False
        # connectTCP (not an endpoint): the factory hears of lost connections and fails
        # its Deferred, so an attempt always ends.
        connector = self.reactor.connectTCP(host.host, host.port, factory, timeout=self.timeout)
        self._connectors[entry.id] = connector

        def forget(result):
            if self._connectors.get(entry.id) is connector:
                del self._connectors[entry.id]
            return result

        return d.addBoth(forget)

    async def _retry(self, entry: QueueEntry, error: str) -> None:
        now = self._clock()
        entry.last_error = error
        if now - entry.created > self.max_age:
            await self._fail(entry, entry.recipients, f"gave up after {entry.attempts} "
                                                      f"attempts: {error}")
            return
        entry.next_attempt = now + retry_delay(entry.attempts, self.retry_initial, self.retry_max)
        await deferToThread(self.queue.save, entry)
        log.info("relay: {id} deferred ({error}); next attempt in {delay:.0f}s",
                 id=entry.id, error=error, delay=entry.next_attempt - now)
        self.schedule(entry)

    async def _fail(self, entry: QueueEntry, recipients: list, error: str) -> None:
        entry.last_error = error
        await self._bounce(entry, recipients, error)
        entry.recipients = []
        await deferToThread(self.queue.give_up, entry)
        self._finished[entry.id] = self._clock()
        log.warn("relay: gave up on {id}: {error}", id=entry.id, error=error)

    async def _bounce(self, entry: QueueEntry, recipients: list, error: str) -> None:
        if self.bounce is None or not entry.account:
            return
        try:
            await self.bounce(entry, recipients, error)
        except Exception:
            log.failure("relay: could not bounce {id} to {account}", id=entry.id,
                        account=entry.account)


def classify(recipients: list, results: list, data_code: int):
    """Split ``recipients`` by what the smarthost said: ``results`` are its RCPT replies
    ``(address, code, text)``, ``data_code`` its answer to the message (250 if taken).
    Returns ``(delivered, permanent, temporary)``: addresses, ``(address, reason)``
    pairs, addresses to retry. A recipient the smarthost never answered is retried."""
    by_address = {_text(a): (c, _text(r)) for a, c, r in results}
    delivered, permanent, temporary = [], [], []
    for address in recipients:
        code, text = by_address.get(address, (451, "no answer"))
        if 200 <= code < 300:
            code, text = (code, text) if 200 <= data_code < 300 else (data_code, "message refused")
        if 200 <= code < 300:
            delivered.append(address)
        elif 500 <= code < 600:
            permanent.append((address, f"{code} {text}"))
        else:
            temporary.append(address)
    return delivered, permanent, temporary


def _reasons(results, data_code, addresses):
    by_address = {_text(a): (c, _text(r)) for a, c, r in results}
    for a in addresses:
        code, text = by_address.get(a, (451, "no answer"))
        yield a, f"{code if not 200 <= code < 300 else data_code} {text}"


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def Deferred_from(coro) -> defer.Deferred:
    return defer.Deferred.fromCoroutine(coro)


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__
