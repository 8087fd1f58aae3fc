"""``smsync serve --workers N``, as users run it: real processes, real clients.

* every listening port (IMAP plain and implicit TLS, POP3, HTTP, LMTP on a UNIX socket)
  is served by both workers: with one worker stopped (SIGSTOP) the other answers, and
  the connection is found among that worker's descriptors;
* an IDLE client of one worker hears of an APPEND through the other within milliseconds
  (the SQLite doorbell), figures printed;
* a worker killed with SIGKILL, or one that stops cleanly, is restarted and the shared
  sockets still work; SIGTERM stops everything; workers whose supervisor was killed stop;
* a memory: store runs one worker, in the supervisor's process, and says why;
* a store that does not open fails the start: exit status 1, no restart loop.
"""

from __future__ import annotations

import imaplib
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from .helpers import SMSYNC, ok

USER = "alice@example.org"
PASSWORD = "wonderland"


def _site(root: Path) -> Path:
    """An initialised data directory whose listeners are on free ports (LMTP on a UNIX
    socket), with the account USER."""
    ok("init", "--data", "d", cwd=root)
    ok("user", "add", USER, "--password", PASSWORD, "--data", "d", cwd=root)
    config = root / "d" / "smsync.toml"
    text = re.sub(r"(tcp|tls):\d+:", r"\1:0:", config.read_text())
    text = re.sub(r"(?m)^lmtp = .*$", f'lmtp = ["unix:{root / "lmtp.sock"}"]', text)
    config.write_text(text)
    return root


class Serve:
    """One ``smsync serve`` process, its output read as it comes."""

    def __init__(self, root: Path, *args: str):
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            [SMSYNC, "serve", "--data", "d", *args], cwd=root, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self.lines.append("")  # the end
            self._seen.notify_all()

    def output(self) -> str:
        with self._seen:
            return "".join(self.lines)

    def wait_for(self, pattern: str, start: int = 0, timeout: float = 60.0):
        """The first match of ``pattern`` in a line from number ``start`` on."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            n = start
            while True:
                while n < len(self.lines):
                    m = regex.search(self.lines[n])
                    if m:
                        return m
                    if self.lines[n] == "" and n == len(self.lines) - 1:
                        pytest.fail(f"serve ended before {pattern!r}:\n{''.join(self.lines)}")
                    n += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no {pattern!r} within {timeout}s:\n{''.join(self.lines)}")
                self._seen.wait(left)

    def mark(self) -> int:
        with self._seen:
            return len(self.lines)

    def ports(self) -> dict:
        """Listening addresses by service, in order (plain before TLS)."""
        found: dict = {}
        for m in re.finditer(r"\] (\w+) listening on 127\.0\.0\.1:(\d+)", self.output()):
            found.setdefault(m.group(1), []).append(int(m.group(2)))
        return found

    def worker_pids(self) -> dict:
        """The latest pid of each worker, by number."""
        pids = {}
        for m in re.finditer(r"worker (\d+) started \(pid (\d+)\)", self.output()):
            pids[int(m.group(1))] = int(m.group(2))
        return pids

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def stopped(pid: int):
    """Worker ``pid`` frozen (SIGSTOP): it accepts nothing until the block ends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _socket_inodes(pid: int) -> set:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _server_inode(client: socket.socket) -> str:
    """The inode of the server's end of ``client``'s TCP connection (/proc/net/tcp)."""
    host, port = client.getsockname()
    peer_host, peer_port = client.getpeername()

    def hexaddr(h, p):
        return f"{socket.htonl(int.from_bytes(socket.inet_aton(h), 'big')):08X}:{p:04X}"

    local, remote = hexaddr(peer_host, peer_port), hexaddr(host, port)
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    raise AssertionError(f"no server socket for {client.getsockname()}")


def owner(client: socket.socket, pids) -> int:
    """Which of ``pids`` holds the server's end of ``client``'s connection."""
    inode = _server_inode(client)
    owners = [pid for pid in pids if inode in _socket_inodes(pid)]
    assert len(owners) == 1, (inode, owners)
    return owners[0]


def _unverified() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the self-signed certificate of smsync init
    return ctx


def greeting(port: int, tls: bool = False, request: bytes = b"") -> tuple[socket.socket, bytes]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = raw
    if tls:
        sock = _unverified().wrap_socket(raw)
    if request:
        sock.sendall(request)
    return sock, sock.recv(200)


def unix_greeting(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        return s.recv(200)


@pytest.fixture
def site(tmp_path):
    return _site(tmp_path)


def _check_every_port_served_by(server: Serve, pid: int, pids, root: Path) -> None:
    ports = server.ports()
    checks = [
        ("imap", ports["imap"][0], False, b"", b"* OK"),
        ("imaps", ports["imap"][1], True, b"", b"* OK"),
        ("pop3", ports["pop3"][0], False, b"", b"+OK"),
        ("http", ports["http"][0], False, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"HTTP/1."),
        ("https", ports["http"][1], True, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"HTTP/1."),
    ]
    for name, port, tls, request, expected in checks:
        sock, first = greeting(port, tls, request)
        try:
            assert first.startswith(expected), (name, first)
            raw = sock if not tls else socket.socket(fileno=os.dup(sock.fileno()))
            try:
                assert owner(raw, pids) == pid, name
            finally:
                if tls:
                    raw.close()
        finally:
            sock.close()
    assert unix_greeting(root / "lmtp.sock").startswith(b"220")
    # STARTTLS, and the store: a login and a SELECT.
    c = imaplib.IMAP4("127.0.0.1", ports["imap"][0], timeout=10)
    assert owner(c.sock, pids) == pid
    c.starttls(ssl_context=_unverified())
    c.login(USER, PASSWORD)
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_both_workers_serve_every_port(site):
    server = Serve(site, "--workers", "2")
    try:
        server.wait_for(r"smsync: 2 workers ready")
        pids = server.worker_pids()
        assert sorted(pids) == [0, 1]
        for frozen, serving in ((pids[0], pids[1]), (pids[1], pids[0])):
            with stopped(frozen):
                _check_every_port_served_by(server, serving, pids.values(), site)
        # Left alone, the kernel shares new connections between them.
        port = server.ports()["imap"][0]
        served = []
        for _ in range(30):
            sock, first = greeting(port)
            served.append(owner(sock, pids.values()))
            sock.close()
        print(f"30 IMAP connections: {served.count(pids[0])} to worker 0, "
              f"{served.count(pids[1])} to worker 1")
        # Each worker's log lines reach the supervisor's log, marked with its number.
        server.wait_for(r"\[w0 smsync#info\] worker 0 ready")
        server.wait_for(r"\[w1 smsync#info\] worker 1 ready")
    finally:
        status = server.stop()
    assert status in (0, -signal.SIGTERM), server.output()
    for pid in server.worker_pids().values():
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the supervisor"
    assert "Traceback" not in server.output()


def test_workers_together_admit_no_more_than_the_per_address_cap(site):
    """Each worker counts only the connections it accepted: they share the pre-login cap,
    so one address never holds more connections before login than configured."""
    config = site / "d" / "smsync.toml"
    config.write_text(re.sub(r"(?m)^max_unauthenticated_per_address = \d+",
                             "max_unauthenticated_per_address = 10", config.read_text()))
    server = Serve(site, "--workers", "2")
    held = []
    try:
        server.wait_for(r"smsync: 2 workers ready")
        port = server.ports()["imap"][0]
        admitted = 0
        for _ in range(30):
            sock, first = greeting(port)
            held.append(sock)
            admitted += first.startswith(b"* OK")
        print(f"{admitted} of 30 connections admitted with a cap of 10 over 2 workers")
        assert 5 <= admitted <= 10
    finally:
        for sock in held:
            sock.close()
        server.stop()


def _login(port: int) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    c.login(USER, PASSWORD)
    return c


def _idle_until_exists(c: imaplib.IMAP4, timeout: float) -> float:
    """Read IDLE's responses until an EXISTS; when it came (monotonic)."""
    c.sock.settimeout(timeout)
    while True:
        line = c.readline()
        if not line:
            raise AssertionError("connection closed during IDLE")
        if line.rstrip().endswith(b"EXISTS"):
            return time.monotonic()


def test_an_idle_client_of_one_worker_hears_of_an_append_through_the_other(site):
    server = Serve(site, "--workers", "2")
    try:
        server.wait_for(r"smsync: 2 workers ready")
        pids = server.worker_pids()
        port = server.ports()["imap"][0]
        with stopped(pids[1]):
            idler = _login(port)
            assert owner(idler.sock, pids.values()) == pids[0]
        with stopped(pids[0]):
            sender = _login(port)
            assert owner(sender.sock, pids.values()) == pids[1]
        idler.select("INBOX")
        latencies = []
        for n in range(15):
            tag = idler._new_tag()
            idler.send(tag + b" IDLE\r\n")
            # Untagged data may come first (RECENT follows EXISTS once \\Recent is claimed).
            while not (line := idler.readline()).startswith(b"+"):
                assert line.startswith(b"* "), line
            # The worker reads other processes' changes from when its first subscriber
            # came; give it a moment the first time. Random pauses after: a timer's
            # phase must not decide the figure.
            time.sleep(0.3 if n == 0 else random.uniform(0.01, 0.16))
            message = f"Subject: {n}\r\nMessage-ID: <{n}@t>\r\n\r\nbody {n}\r\n".encode()
            typ, _ = sender.append("INBOX", None, None, message)
            committed = time.monotonic()
            assert typ == "OK"
            latencies.append(_idle_until_exists(idler, 10) - committed)
            idler.send(b"DONE\r\n")
            while not idler.readline().startswith(tag):
                pass
        idler.logout()
        sender.logout()
    finally:
        server.stop()
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    print(f"APPEND OK in worker 1 -> EXISTS in worker 0's IDLE: p50 {p50:.1f} ms, "
          f"max {ms[-1]:.1f} ms over {len(ms)}")
    # Polling every 150 ms gives a p50 of 50-80 ms here; the doorbell about 1 ms.
    assert p50 < 25, ms


def test_killed_or_stopped_workers_are_restarted_and_sigterm_stops_all(site):
    server = Serve(site, "--workers", "2")
    try:
        server.wait_for(r"smsync: 2 workers ready")
        first = server.worker_pids()
        mark = server.mark()
        os.kill(first[1], signal.SIGKILL)
        server.wait_for(rf"worker 1 \(pid {first[1]}\) was killed by signal 9 \(SIGKILL\); "
                        r"restarting it", mark)
        server.wait_for(r"worker 1 ready", mark)
        second = server.worker_pids()
        assert second[0] == first[0] and second[1] != first[1]
        # A worker stopping cleanly closes its listeners: that must neither shut the
        # shared sockets down nor remove the UNIX socket's file.
        mark = server.mark()
        os.kill(second[0], signal.SIGTERM)
        server.wait_for(rf"worker 0 \(pid {second[0]}\) exited with status 0; restarting it",
                        mark)
        server.wait_for(r"worker 0 ready", mark)
        third = server.worker_pids()
        assert third[1] == second[1] and third[0] != second[0]
        for frozen, serving in ((third[0], third[1]), (third[1], third[0])):
            with stopped(frozen):
                _check_every_port_served_by(server, serving, third.values(), site)
        assert server.proc.poll() is None
    finally:
        status = server.stop()
    assert status in (0, -signal.SIGTERM), server.output()
    out = server.output()
    for pid in third.values():
        assert f"(pid {pid}) exited with status 0" in out
        assert not Path(f"/proc/{pid}").exists()
    assert not (site / "lmtp.sock").exists()


def test_workers_stop_when_the_supervisor_dies(site):
    server = Serve(site, "--workers", "2")
    try:
        server.wait_for(r"smsync: 2 workers ready")
        pids = server.worker_pids()
        server.proc.kill()
        server.proc.wait(30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in pids.values()):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.1)
    finally:
        for pid in server.worker_pids().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_memory_store_runs_one_worker_and_says_why(site):
    server = Serve(site, "--workers", "3", "--store", "memory:")
    try:
        server.wait_for(r"one worker, in this process, not 3: a memory: store lives in one "
                        r"process")
        server.wait_for(r"imap listening on")
        sock, first = greeting(server.ports()["imap"][0])
        sock.close()
        assert first.startswith(b"* OK")
        assert "worker 0 started" not in server.output()
    finally:
        server.stop()


def test_a_store_that_does_not_open_fails_the_start(site):
    bad = site / "not-a-directory"
    bad.write_text("")
    started = time.monotonic()
    done = subprocess.run([SMSYNC, "serve", "--data", "d", "--workers", "2",
                           "--store", f"sqlite://{bad}"], cwd=site, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "cannot open store" in out
    assert "restarting" not in out
    assert time.monotonic() - started < 60
