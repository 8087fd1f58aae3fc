"""Two real smsync processes on one database: two ``twistd -n smsync-imap`` servers over
one ``postgresql:`` store, driven by imaplib.

* appends through both get distinct, increasing UIDs and MODSEQs;
* an IDLE client of one server is woken by an APPEND through the other;
* a race of conditional STOREs (CONDSTORE ``UNCHANGEDSINCE``) through both: exactly one
  wins each round, the other is reported MODIFIED, nothing is silently overwritten.
"""

from __future__ import annotations

import imaplib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import pytest_twisted
from pg_support import fresh_schema_uri, pg_database  # noqa: F401

from smsync.store.registry import open_store

TWISTD = str(Path(sys.executable).with_name("twistd"))
USER = "alice@example.org"
PASSWORD = "pw for both"

imaplib.Commands.setdefault("ENABLE", ("AUTH",))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``twistd -n smsync-imap`` process."""

    def __init__(self, uri: str, workdir: Path, name: str):
        self.port = _free_port()
        self.log = workdir / f"{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [TWISTD, "-n", "--pidfile=", "--logfile", str(self.log), "smsync-imap",
             "--store", uri, "--listen", f"tcp:{self.port}:interface=127.0.0.1"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"smsync-imap exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"smsync-imap did not listen within {timeout}s:\n{self.log.read_text()}")

    def client(self, condstore: bool = False) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        c.login(USER, PASSWORD)
        if condstore:
            typ, _ = c._simple_command("ENABLE", "CONDSTORE")
            assert typ == "OK"
        return c

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def servers(pg_database, tmp_path_factory):  # noqa: F811 - the fixture imported above
    uri = fresh_schema_uri(pg_database)

    async def setup():
        from twisted.internet.threads import deferToThread

        from smsync.auth import hash_password

        store = await open_store(uri, create=True)
        try:
            await store.accounts.add(USER, await deferToThread(hash_password, PASSWORD))
        finally:
            await store.close()

    pytest_twisted.blockon(_as_deferred(setup()))
    work = tmp_path_factory.mktemp("imap")
    pair = [Server(uri, work / name, name) for name in ("a", "b")]
    try:
        for server in pair:
            server.wait_listening()
        yield pair
    finally:
        for server in pair:
            server.stop()


def _as_deferred(coro):
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coro)


def _message(n: int, origin: str) -> bytes:
    return (
        f"From: {origin}@example.org\r\nTo: {USER}\r\nSubject: {origin} {n}\r\n"
        f"Message-ID: <{origin}.{n}@example.org>\r\n\r\nbody {n}\r\n"
    ).encode()


def _appenduid(data) -> int:
    m = re.search(rb"APPENDUID \d+ (\d+)", data[0])
    assert m, data
    return int(m.group(1))


def _modseqs(c: imaplib.IMAP4) -> dict[int, int]:
    typ, data = c.uid("FETCH", "1:*", "(MODSEQ)")
    assert typ == "OK"
    out = {}
    for line in data:
        if isinstance(line, tuple):
            line = line[0]
        m = re.search(rb"UID (\d+) MODSEQ \((\d+)\)|MODSEQ \((\d+)\) UID (\d+)", line or b"")
        if m:
            uid, modseq = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            out[int(uid)] = int(modseq)
    return out


def test_appends_through_both_get_distinct_increasing_uids(servers):
    per_server = 40
    got: dict[str, list[int]] = {}
    errors = []
    start = threading.Barrier(2)

    def deliver(server: Server, origin: str):
        try:
            c = server.client()
            start.wait()
            uids = []
            for n in range(per_server):
                typ, data = c.append("INBOX", None, None, _message(n, origin))
                assert typ == "OK", data
                uids.append(_appenduid(data))
            got[origin] = uids
            c.logout()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=deliver, args=(s, o)) for s, o in zip(servers, "ab")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for origin in "ab":
        assert got[origin] == sorted(got[origin]) and len(set(got[origin])) == per_server
    every = got["a"] + got["b"]
    assert len(set(every)) == 2 * per_server, "two processes were given the same UID"
    # Both processes really interleaved, and no UID was skipped or lost.
    assert sorted(every) == list(range(min(every), min(every) + 2 * per_server))
    c = servers[0].client(condstore=True)
    c.select("INBOX")
    modseqs = _modseqs(c)
    c.logout()
    ours = [modseqs[uid] for uid in sorted(every)]
    assert len(set(ours)) == len(ours), "two appends share a MODSEQ"
    assert ours == sorted(ours), "MODSEQs do not increase with UIDs"


def _idle_wait_exists(c: imaplib.IMAP4, timeout: float) -> bytes:
    """Read IDLE's untagged responses until an EXISTS (or fail after ``timeout``)."""
    c.sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = c.readline()
        if not line:
            raise AssertionError("server closed the connection during IDLE")
        if line.rstrip().endswith(b"EXISTS"):
            return line
    raise AssertionError(f"no EXISTS within {timeout}s")


def test_idle_in_one_process_woken_by_append_in_the_other(servers):
    a, b = servers
    idler = a.client()
    idler.select("INBOX")
    sender = b.client()
    latencies = []
    for n in range(5):
        tag = idler._new_tag()
        idler.send(tag + b" IDLE\r\n")
        assert idler.readline().startswith(b"+"), "IDLE not accepted"
        t0 = time.monotonic()
        typ, data = sender.append("INBOX", None, None, _message(n, "idle"))
        assert typ == "OK"
        _idle_wait_exists(idler, timeout=10)
        latencies.append(time.monotonic() - t0)
        idler.send(b"DONE\r\n")
        idler.sock.settimeout(20)
        while not idler.readline().startswith(tag):
            pass
    print(f"append in B -> EXISTS in A's IDLE: max {max(latencies) * 1000:.0f} ms")
    idler.logout()
    sender.logout()


def test_racing_conditional_stores_exactly_one_wins(servers):
    a, b = servers
    setup = a.client(condstore=True)
    clients = [a.client(condstore=True), b.client(condstore=True)]
    for c in clients:
        c.select("INBOX")
    rounds = 10
    for n in range(rounds):
        typ, data = setup.append("INBOX", None, None, _message(n, "race"))
        uid = _appenduid(data)
        setup.select("INBOX")
        modseq = _modseqs(setup)[uid]
        for c in clients:
            c.noop()  # each session learns of the new message before storing on it
        barrier = threading.Barrier(2)
        applied: dict[str, bool] = {}

        def store(c, flag):
            c.untagged_responses.pop("MODIFIED", None)
            barrier.wait()
            typ, data = c.uid("STORE", str(uid), f"(UNCHANGEDSINCE {modseq})", "+FLAGS", f"({flag})")
            assert typ == "OK", data
            modified = c.untagged_responses.pop("MODIFIED", None)
            applied[flag] = not (modified and str(uid).encode() in b" ".join(modified))

        threads = [
            threading.Thread(target=store, args=(c, flag))
            for c, flag in zip(clients, ("$WonByA", "$WonByB"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(applied.values()) == [False, True], f"round {n}: {applied}"
        typ, data = setup.uid("FETCH", str(uid), "(FLAGS)")
        flags = re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).split()
        winners = [f for f in (b"$WonByA", b"$WonByB") if f in flags]
        loser_said_applied = [f for f, ok in applied.items() if ok]
        assert [w.decode() for w in winners] == loser_said_applied, (flags, applied)
    for c in (setup, *clients):
        c.logout()
