"""IMAP benchmark: smsync beside Debian's Dovecot (dovecot-imapd) with the same load.

    .venv/bin/python benchmarks/bench_imap.py [--seconds 20] [--clients 50]
        [--idle 10000] [--big 100000] [--store sqlite|memory] [--no-dovecot]
        [--loop-only] [--readers N] [--switch-interval S]

``--loop-only`` runs figure 1 alone (seconds, not minutes: for A/B rounds), and
``--readers``/``--switch-interval`` set the server's SQLite reader threads and
``sys.setswitchinterval`` for such comparisons.

Figures (issue 3):

1. 50 concurrent clients looping LOGIN, SELECT, FETCH of 100 headers, SEARCH, STORE,
   NOOP, LOGOUT: operations per second and p99 latency, both servers.
2. 10,000 concurrent connections in IDLE: smsync server RSS.
3. A message delivered through the store reaches IDLE clients: p99 latency (smsync);
   delivery by IMAP APPEND from another connection for both servers.
4. SELECT of a 100,000-message folder, and ``UID FETCH 1:* (FLAGS)`` on it.

Both servers check plaintext passwords here (Dovecot ``{PLAIN}``, smsync an in-memory
checker) so the figures measure IMAP, not argon2. smsync runs over the ``sqlite:`` store,
the default (``--store memory`` for the memory one), in its own process; Dovecot on a
loopback port with maildir storage in a temporary directory. The machine's load average
is printed with the figures: on a shared machine, compare runs made under similar load. Dovecot is skipped (with a note) when not
installed: ``apt-get install dovecot-imapd``.
"""

from __future__ import annotations

import argparse
import imaplib
import multiprocessing
import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial

from benchsupport import cpu_seconds as _cpu_seconds, raise_fd_limit as _raise_fd_limit  # this script's folder

USER = "bench@example.org"
PASSWORD = "bench-password"
INBOX_MESSAGES = 1000
#: The persistent-session loop (issue 13): each client logs in once as its own account
#: of ``SESSION_MESSAGES`` messages and loops SELECT, FETCH, SEARCH, NOOP.
SESSION_ACCOUNTS = 50
SESSION_MESSAGES = 100


def session_user(i: int) -> str:
    return f"loop{i}@example.org"


def make_message(i: int, size: int = 2000) -> bytes:
    rnd = random.Random(i)
    words = ["alpha", "beta", "gamma", "delta", "report", "meeting", "invoice", "lunch"]
    subject = " ".join(rnd.choice(words) for _ in range(4))
    head = (
        f"From: Sender {i % 37} <sender{i % 37}@example.org>\r\n"
        f"To: {USER}\r\nSubject: {subject} {i}\r\n"
        f"Date: Mon, {1 + i % 28:02d} Jan 2024 10:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <bench-{i}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog. " * 2 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


# ---------------------------------------------------------------------------------------
# The smsync server process


def serve(port_file: str, store_kind: str, big: int) -> None:
    """Run smsync's IMAP server (and a control port) until killed."""
    _raise_fd_limit()
    from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
    from twisted.cred.portal import Portal
    from twisted.internet import defer, protocol, reactor
    from twisted.protocols.basic import LineReceiver

    from smsync.auth import SmsyncRealm
    from smsync.protocols.imap.server import IMAPConfig, IMAPFactory
    from smsync.store.registry import open_store
    from smsync.store.sqlite import reader as sqlite_reader

    # A/B knobs (--readers, --switch-interval), passed through the environment.
    if os.environ.get("BENCH_READERS"):
        sqlite_reader.READERS = int(os.environ["BENCH_READERS"])
    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))

    class Control(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line):
            if line == b"deliver":
                d = self.factory.inbox.append(make_message(random.randrange(10**6)))
                d.addCallback(lambda _: self.sendLine(b"ok"))
            elif line == b"rss":
                self.sendLine(_rss(os.getpid()).encode())

    async def main():
        tmp = tempfile.mkdtemp(prefix="smsync-bench-")
        uri = "memory:" if store_kind == "memory" else f"sqlite:///{tmp}/store"
        store = await open_store(uri)
        await store.accounts.add(USER, "!")
        mail = await store.mail(USER)
        inbox = await mail.mailbox("INBOX")
        # Appends in concurrent batches (UIDs still follow call order): a durable store
        # takes one sync per batch instead of one per message.
        for first in range(0, INBOX_MESSAGES, 200):
            last = min(first + 200, INBOX_MESSAGES)
            await defer.gatherResults([inbox.append(make_message(i)) for i in range(first, last)])
        if big:
            await mail.create_mailbox("Big")
            big_box = await mail.mailbox("Big")
            small = make_message(0, 300)
            for first in range(0, big, 1000):
                await defer.gatherResults([big_box.append(small) for _ in range(first, min(first + 1000, big))])
        await _add_session_accounts(store, "!")
        checker = InMemoryUsernamePasswordDatabaseDontUse(
            **{USER: PASSWORD.encode()},
            **{session_user(i): PASSWORD.encode() for i in range(SESSION_ACCOUNTS)})
        portal = Portal(SmsyncRealm(store), [checker])
        # The pre-login gate would refuse the IDLE swarm's batches of 200 connections
        # from one address: this measures the IMAP engine, so it is opened wide.
        from smsync.config import Config, LimitsConfig
        from smsync.edge import make_edge

        wide = Config(limits=LimitsConfig(max_unauthenticated_per_address=10**6,
                                          max_unauthenticated=10**6))
        factory = IMAPFactory(store, portal, IMAPConfig(failed_login_delay=0),
                              edge=make_edge(store, portal, wide))
        imap = reactor.listenTCP(0, factory, interface="127.0.0.1", backlog=4096)
        control = protocol.ServerFactory.forProtocol(Control)
        control.inbox = inbox
        ctl = reactor.listenTCP(0, control, interface="127.0.0.1")
        with open(port_file + ".tmp", "w") as f:
            f.write(f"{imap.getHost().port} {ctl.getHost().port}")
        os.rename(port_file + ".tmp", port_file)

    reactor.callWhenRunning(lambda: defer.Deferred.fromCoroutine(main()).addErrback(
        lambda f: (f.printTraceback(), reactor.stop())))
    reactor.run()


async def _add_session_accounts(store, hashed: str) -> None:
    from twisted.internet import defer

    for i in range(SESSION_ACCOUNTS):
        await store.accounts.add(session_user(i), hashed)
        box = await (await store.mail(session_user(i))).mailbox("INBOX")
        await defer.gatherResults([box.append(make_message(j)) for j in range(SESSION_MESSAGES)])


def fill_sessions(uri: str) -> None:
    """Give the store at ``uri`` the persistent loop's accounts (real password hashes,
    checked as ``smsync serve`` checks them) and their messages."""
    from twisted.internet import defer, task

    async def main(reactor):
        from smsync.auth import hash_password
        from smsync.store.registry import open_store

        store = await open_store(uri)
        # One hash for all: hashing costs ~0.1 s, and logins happen once per session.
        await _add_session_accounts(store, hash_password(PASSWORD))
        await store.close()

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


def _tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and every descendant, counting children already
    reaped (Dovecot's per-session processes, smsync's workers)."""
    parents: dict[int, int] = {}
    stats: dict[int, list] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = fields
    tree, changed = {pid}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    ticks = sum(int(stats[p][11]) + int(stats[p][12]) + int(stats[p][13]) + int(stats[p][14])
                for p in tree if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return line.split()[1]
    return "0"


class Smsync:
    name = "smsync"

    def __init__(self, store: str, big: int):
        self.dir = tempfile.mkdtemp(prefix="smsync-bench-run-")
        port_file = os.path.join(self.dir, "ports")
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", port_file, store, str(big)])
        deadline = time.time() + 900
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("smsync server did not start")
            time.sleep(0.2)
        self.port, self.control_port = map(int, open(port_file).read().split())
        self.pid = self.proc.pid

    def rss_kb(self) -> int:
        return int(_rss(self.proc.pid))

    def deliver(self, ctl: socket.socket) -> None:
        ctl.sendall(b"deliver\n")
        buf = b""
        while not buf.endswith(b"\n"):
            buf += ctl.recv(100)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class SmsyncServe:
    """smsync as users run it, ``smsync serve --data DIR --workers N``, IMAP alone on a
    free loopback port, over its SQLite store (the persistent-session figure)."""

    def __init__(self, workers: int):
        self.name = f"smsync x{workers}"
        self.dir = tempfile.mkdtemp(prefix="smsync-bench-serve-")
        data = os.path.join(self.dir, "d")
        smsync = os.path.join(os.path.dirname(sys.executable), "smsync")
        subprocess.run([smsync, "init", "--data", data], check=True, stdout=subprocess.DEVNULL)
        self.port = _free_port()
        config = os.path.join(data, "smsync.toml")
        with open(config) as f:
            text = f.read()
        services = {"imap": f'["tcp:{self.port}:interface=127.0.0.1"]'}
        lines = []
        section = None
        for line in text.splitlines():
            if line.startswith("["):
                section = line.strip("[] ")
            key = line.split("=", 1)[0].strip()
            if section == "services" and "=" in line and not line.startswith("#"):
                line = f"{key} = {services.get(key, '[]')}"
            elif section == "tls" and key == "allow_cleartext_passwords":
                # Plain LOGIN on loopback, as for Dovecot here.
                line = "allow_cleartext_passwords = true"
            lines.append(line)
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        uri = re.search(r'(?m)^uri = "(.*)"', text).group(1)
        subprocess.run([sys.executable, __file__, "--fill", uri], check=True)
        self.proc = subprocess.Popen([smsync, "serve", "--data", data, "--workers", str(workers)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.output: list[str] = []
        seen = threading.Event()
        # One process says it listens; a supervisor, that all its workers are ready.
        ready = f"127.0.0.1:{self.port}" if workers == 1 else f"{workers} workers ready"

        def read():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace")
                self.output.append(line)
                if ready in line:
                    seen.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("smsync serve ended:\n" + "".join(self.output))
            if seen.is_set():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("smsync serve did not start:\n" + "".join(self.output))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Dovecot


DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  service_count = 0
  process_min_avail = 2
}}
service imap {{
  process_limit = 2000
}}
default_login_user = dovenull
default_internal_user = dovecot
default_client_limit = 20000
protocol imap {{
  mail_max_userip_connections = 20000
}}
"""


class Dovecot:
    name = "dovecot"

    def __init__(self, big: int):
        self.dir = tempfile.mkdtemp(prefix="dovecot-bench-")
        os.chmod(self.dir, 0o755)
        self.port = _free_port()
        d = self.dir
        for sub in ("run", "state", "home", f"mail/{USER}/cur", f"mail/{USER}/new", f"mail/{USER}/tmp"):
            os.makedirs(f"{d}/{sub}", exist_ok=True)
        with open(f"{d}/users", "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}\n")
            for i in range(SESSION_ACCOUNTS):
                f.write(f"{session_user(i)}:{{PLAIN}}{PASSWORD}\n")
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(DOVECOT_CONF.format(d=d, port=self.port))
        # Same messages as smsync, written straight into the maildir.
        base = int(time.time()) - 10**6
        for i in range(INBOX_MESSAGES):
            _write_maildir(f"{d}/mail/{USER}", base + i, i, make_message(i))
        for i in range(SESSION_ACCOUNTS):
            box = f"{d}/mail/{session_user(i)}"
            for sub in ("cur", "new", "tmp"):
                os.makedirs(f"{box}/{sub}", exist_ok=True)
            for j in range(SESSION_MESSAGES):
                _write_maildir(box, base + j, j, make_message(j))
        if big:
            small = make_message(0, 300)
            folder = f"{d}/mail/{USER}/.Big"
            for sub in ("cur", "new", "tmp"):
                os.makedirs(f"{folder}/{sub}", exist_ok=True)
            for i in range(big):
                _write_maildir(folder, base + i, i, small)
        subprocess.run(["chown", "-R", "dovecot:dovecot", f"{d}/mail", f"{d}/home"], check=True)
        subprocess.run(["/usr/sbin/dovecot", "-c", f"{d}/dovecot.conf"], check=True)
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        # The master (whose tree of processes is measured for CPU) writes its pid once
        # it is up.
        for _ in range(50):
            try:
                with open(f"{d}/run/master.pid") as f:
                    self.pid = int(f.read())
                break
            except (OSError, ValueError):
                time.sleep(0.1)

    def stop(self):
        subprocess.run(["/usr/sbin/dovecot", "-c", f"{self.dir}/dovecot.conf", "stop"], check=False)
        time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _write_maildir(folder: str, stamp: int, i: int, data: bytes) -> None:
    with open(f"{folder}/cur/{stamp}.M{i}P1.bench,S={len(data)}:2,", "wb") as f:
        f.write(data)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------
# 1. The loop


def _timed(lat: dict, name: str, fn, *args):
    """Call imaplib's ``fn(*args)``, adding its time to ``lat[name]``; its data, or
    RuntimeError when the answer is not OK."""
    t = time.perf_counter()
    typ, data = fn(*args)
    lat.setdefault(name, []).append(time.perf_counter() - t)
    if typ != "OK":
        raise RuntimeError(f"{name}: {typ} {data}")
    return data


def _client_loop(port: int, deadline: float, seed: int, out: list) -> None:
    rnd = random.Random(seed)
    lat: dict[str, list[float]] = {}
    timed = partial(_timed, lat)

    while time.time() < deadline:
        t = time.perf_counter()
        c = imaplib.IMAP4("127.0.0.1", port)
        lat.setdefault("CONNECT", []).append(time.perf_counter() - t)
        timed("LOGIN", c.login, USER, PASSWORD)
        exists = int(timed("SELECT", c.select, "INBOX")[0])
        start = rnd.randint(1, max(1, exists - 100))
        timed("FETCH", c.fetch, f"{start}:{start + 99}", "(UID FLAGS BODY.PEEK[HEADER])")
        timed("SEARCH", c.search, None, "UNSEEN", "FROM", f"sender{rnd.randrange(37)}")
        n = rnd.randint(1, exists)
        timed("STORE", c.store, str(n), "+FLAGS" if rnd.random() < 0.5 else "-FLAGS", "(\\Seen)")
        timed("NOOP", c.noop)
        t = time.perf_counter()
        c.logout()
        lat.setdefault("LOGOUT", []).append(time.perf_counter() - t)
    out.append(lat)


#: Words of the generated subjects (make_message), searched by the persistent loop.
SUBJECT_WORDS = ("alpha", "beta", "gamma", "delta", "report", "meeting", "invoice", "lunch")
HEADER_FETCH = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"


def _session_loop(port: int, deadline: float, seed: int, out: list) -> None:
    """One persistent session (issue 13): log in once as account ``seed``, then loop
    SELECT INBOX, UID FETCH 1:100 of five header fields, UID SEARCH SUBJECT, NOOP."""
    rnd = random.Random(seed)
    lat: dict[str, list[float]] = {}
    timed = partial(_timed, lat)

    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(session_user(seed), PASSWORD)
    fetched = 0
    while time.time() < deadline:
        timed("SELECT", c.select, "INBOX")
        data = timed("FETCH", c.uid, "FETCH", f"1:{SESSION_MESSAGES}", HEADER_FETCH)
        fetched = sum(1 for part in data if isinstance(part, tuple))
        timed("SEARCH", c.uid, "SEARCH", "SUBJECT", rnd.choice(SUBJECT_WORDS))
        timed("NOOP", c.noop)
    if fetched != SESSION_MESSAGES:
        raise RuntimeError(f"FETCH answered {fetched} messages, not {SESSION_MESSAGES}")
    c.logout()
    out.append(lat)


def _loop_process(port: int, deadline: float, threads: int, seed: int, queue,
                  first: int = -1) -> None:
    """``threads`` clients; persistent sessions when ``first`` (the first client's
    account number) is given, the login-per-loop clients otherwise."""
    results: list = []
    if first >= 0:
        workers = [threading.Thread(target=_session_loop, args=(port, deadline, first + i, results))
                   for i in range(threads)]
    else:
        workers = [threading.Thread(target=_client_loop, args=(port, deadline, seed * 1000 + i, results))
                   for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    merged: dict[str, list[float]] = {}
    for lat in results:
        for k, v in lat.items():
            merged.setdefault(k, []).extend(v)
    queue.put(merged)


def run_loop(port: int, clients: int, seconds: float, persistent: bool = False) -> dict:
    procs = min(5, clients)
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    queue = multiprocessing.Queue()
    deadline = time.time() + seconds
    started = time.time()
    # Persistent sessions: every client has an account of its own.
    if persistent and clients > SESSION_ACCOUNTS:
        raise ValueError(f"at most {SESSION_ACCOUNTS} persistent clients")
    firsts = [sum(per[:i]) if persistent else -1 for i in range(procs)]
    ps = [multiprocessing.Process(target=_loop_process, args=(port, deadline, n, i, queue, firsts[i]))
          for i, n in enumerate(per)]
    for p in ps:
        p.start()
    merged: dict[str, list[float]] = {}
    for _ in ps:
        for k, v in queue.get().items():
            merged.setdefault(k, []).extend(v)
    for p in ps:
        p.join()
    elapsed = time.time() - started
    ops = sum(len(v) for k, v in merged.items() if k != "CONNECT")
    every = sorted(x for k, v in merged.items() if k != "CONNECT" for x in v)
    return {
        "ops": ops,
        "ops_per_s": ops / elapsed,
        "p99_ms": _pct(every, 99) * 1000,
        "p99_by_op_ms": {k: _pct(sorted(v), 99) * 1000 for k, v in sorted(merged.items())},
        "p50_by_op_ms": {k: _pct(sorted(v), 50) * 1000 for k, v in sorted(merged.items())},
        "mean_by_op_ms": {k: sum(v) / len(v) * 1000 for k, v in sorted(merged.items()) if v},
    }


def _pct(values, p) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# ---------------------------------------------------------------------------------------
# 2 and 3. IDLE connections and push latency


class IdleSwarm:
    """Many non-blocking connections, each logged in, INBOX selected, in IDLE."""

    def __init__(self, port: int, count: int):
        limit = _raise_fd_limit()
        if count + 100 > limit:
            raise RuntimeError(f"open-file limit {limit} is too low for {count} connections")
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.idling = 0
        script = (f'a LOGIN {USER} "{PASSWORD}"\r\nb SELECT INBOX\r\nc IDLE\r\n').encode()
        batch = 200
        for first in range(0, count, batch):
            for _ in range(min(batch, count - first)):
                s = socket.create_connection(("127.0.0.1", port))
                s.setblocking(False)
                self.socks.append(s)
                self.sel.register(s, selectors.EVENT_READ, {"buf": b"", "state": "greeting", "script": script})
            self._pump(until=lambda: self.idling >= first + min(batch, count - first), timeout=60)

    def _pump(self, until, timeout: float) -> None:
        deadline = time.time() + timeout
        while not until() and time.time() < deadline:
            for key, _ in self.sel.select(timeout=0.5):
                st = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise RuntimeError("server closed an IDLE connection")
                st["buf"] += chunk
                if st["state"] == "greeting" and b"\r\n" in st["buf"]:
                    st["state"] = "login"
                    st["buf"] = b""
                    key.fileobj.sendall(st["script"])
                elif st["state"] == "login" and b"+ idling" in st["buf"]:
                    st["state"] = "idle"
                    st["buf"] = b""
                    self.idling += 1
        if not until():
            raise RuntimeError(f"only {self.idling} connections reached IDLE")

    def wait_exists(self, socks, timeout: float = 5.0) -> list[float]:
        """Seconds until each of ``socks`` reports EXISTS (from now)."""
        start = time.perf_counter()
        pending = {s.fileno(): s for s in socks}
        times = []
        local = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            local.register(s, selectors.EVENT_READ)
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            for key, _ in local.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if b"EXISTS" in data and key.fileobj.fileno() in pending:
                    del pending[key.fileobj.fileno()]
                    times.append(time.perf_counter() - start)
        local.close()
        return times

    def close(self):
        for s in self.socks:
            s.close()
        self.sel.close()


def push_latency(port: int, deliver, rounds: int = 100, watchers: int = 20) -> float:
    swarm = IdleSwarm(port, watchers)
    for s in swarm.socks:
        swarm.sel.unregister(s)
    lat = []
    for _ in range(rounds):
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("t", swarm.wait_exists(swarm.socks)))
        t.start()
        deliver()
        t.join()
        lat.extend(result["t"])
        if len(result["t"]) < watchers:
            lat.extend([float("inf")] * (watchers - len(result["t"])))
    swarm.close()
    return _pct(sorted(lat), 99) * 1000


def imap_appender(port: int):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(USER, PASSWORD)
    msg = make_message(123456)
    return c, (lambda: c.append("INBOX", None, None, msg))


# ---------------------------------------------------------------------------------------
# 4. The big folder


def big_folder(port: int) -> tuple[float, float]:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(USER, PASSWORD)
    c.select("Big")  # warm-up (Dovecot builds its index here)
    c.unselect() if hasattr(c, "unselect") else c.close()
    selects = []
    for _ in range(5):
        t = time.perf_counter()
        typ, _ = c.select("Big", readonly=True)
        selects.append(time.perf_counter() - t)
        assert typ == "OK"
    t = time.perf_counter()
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    fetch = time.perf_counter() - t
    assert typ == "OK"
    c.logout()
    return sorted(selects)[2] * 1000, fetch


# ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--store", choices=("memory", "sqlite"), default="sqlite")
    ap.add_argument("--no-dovecot", action="store_true")
    ap.add_argument("--loop-only", action="store_true",
                    help="only the client loop (no push, big folder or IDLE figures): for A/B runs")
    ap.add_argument("--sessions", default="10,50",
                    help="client counts of the persistent-session loop (comma-separated; '' for none)")
    ap.add_argument("--session-seconds", type=float, default=15)
    ap.add_argument("--sessions-only", action="store_true",
                    help="only the persistent-session loop: for A/B runs")
    ap.add_argument("--workers", type=int, default=os.cpu_count(),
                    help="worker processes of the 'smsync serve' run of the persistent loop "
                         "(default: the cores, as smsync serve; 0 to leave that run out)")
    ap.add_argument("--readers", type=int, help="SQLite reader threads in the server (A/B)")
    ap.add_argument("--switch-interval", type=float, help="sys.setswitchinterval in the server (A/B)")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--fill", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fill:
        fill_sessions(args.fill)
        return
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    if args.loop_only or args.sessions_only:
        args.big = args.idle = 0
    args.session_counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    # The server process inherits these (see serve()).
    if args.readers:
        os.environ["BENCH_READERS"] = str(args.readers)
    if args.switch_interval:
        os.environ["BENCH_SWITCH_INTERVAL"] = str(args.switch_interval)
    rows: dict[str, dict] = {}
    args.load_before = os.getloadavg()
    # dovecot-core alone (pulled in by dovecot-lmtpd) has /usr/sbin/dovecot but no IMAP
    # service: Dovecot then refuses to start. Both are needed.
    have_dovecot = (
        os.path.exists("/usr/sbin/dovecot") and os.path.exists("/usr/lib/dovecot/imap")
        and os.geteuid() == 0 and not args.no_dovecot
    )
    if not have_dovecot and not args.no_dovecot:
        print("Dovecot left out: needs root and Debian's dovecot-imapd (apt-get install dovecot-imapd)")
    servers = [("smsync", lambda: Smsync(args.store, args.big))]
    if args.workers and args.session_counts:
        servers.append((f"smsync x{args.workers}", lambda: SmsyncServe(args.workers)))
    if have_dovecot:
        servers.append(("dovecot", lambda: Dovecot(args.big)))
    for name, start in servers:
        print(f"[{name}] starting and loading its messages...", flush=True)
        srv = start()
        row = rows[name] = {}
        try:
            for n in args.session_counts:
                print(f"[{name}] persistent sessions: {n} clients for {args.session_seconds:.0f} s", flush=True)
                cpu = _tree_cpu(srv.pid)
                loop = run_loop(srv.port, n, args.session_seconds, persistent=True)
                loop["cpu_ms_per_op"] = (_tree_cpu(srv.pid) - cpu) * 1000 / max(loop["ops"], 1)
                row.setdefault("sessions", {})[n] = loop
            if args.sessions_only or isinstance(srv, SmsyncServe):
                continue
            print(f"[{name}] loop: {args.clients} clients for {args.seconds:.0f} s", flush=True)
            cpu = _cpu_seconds(srv.proc.pid) if name == "smsync" else None
            row["loop"] = run_loop(srv.port, args.clients, args.seconds)
            if cpu is not None:
                # CPU per operation depends far less on what else the machine runs than
                # operations per second do.
                row["cpu_ms_per_op"] = (_cpu_seconds(srv.proc.pid) - cpu) * 1000 / max(row["loop"]["ops"], 1)
            if args.loop_only:
                continue
            conn, append = imap_appender(srv.port)
            row["push_append_p99_ms"] = push_latency(srv.port, append)
            conn.logout()
            if name == "smsync":
                ctl = socket.create_connection(("127.0.0.1", srv.control_port))
                row["push_store_p99_ms"] = push_latency(srv.port, lambda: srv.deliver(ctl))
                ctl.close()
            if args.big:
                row["select_big_ms"], row["fetch_big_s"] = big_folder(srv.port)
            if name == "smsync" and args.idle:
                # On a server of its own, so the figure is about connections, not about
                # the 100,000 messages the memory store holds for figure 4.
                srv.stop()
                srv = Smsync(args.store, 0)
                print(f"[{name}] opening {args.idle} IDLE connections", flush=True)
                before = srv.rss_kb()
                swarm = IdleSwarm(srv.port, args.idle)
                time.sleep(1)
                row["idle_rss_mb"] = srv.rss_kb() / 1024
                row["idle_rss_before_mb"] = before / 1024
                swarm.close()
        finally:
            srv.stop()
    report(rows, args)


def report(rows: dict, args) -> None:
    names = list(rows)
    print()
    print(f"IMAP benchmark ({args.clients} clients, {args.seconds:.0f} s loop, store {args.store})")
    print(f"{'figure':44}" + "".join(f"{n:>14}" for n in names))

    def line(label, fn, fmt):
        cells = []
        for n in names:
            try:
                cells.append(format(fn(rows[n]), fmt))
            except (KeyError, TypeError):
                cells.append("n/a")
        print(f"{label:44}" + "".join(f"{c:>14}" for c in cells))

    for n in args.session_counts:
        line(f"persistent, {n} clients: operations/s", lambda r, n=n: r["sessions"][n]["ops_per_s"], ".0f")
        for op in ("SELECT", "FETCH", "SEARCH", "NOOP"):
            line(f"  p50 {op} (ms)", lambda r, n=n, op=op: r["sessions"][n]["p50_by_op_ms"][op], ".2f")
        line("  p99 latency (ms, all operations)", lambda r, n=n: r["sessions"][n]["p99_ms"], ".1f")
        line("  server CPU per operation (ms)", lambda r, n=n: r["sessions"][n]["cpu_ms_per_op"], ".3f")
    line("loop operations/s", lambda r: r["loop"]["ops_per_s"], ".0f")
    line("loop p99 latency (ms, all operations)", lambda r: r["loop"]["p99_ms"], ".1f")
    for op in ("LOGIN", "SELECT", "FETCH", "SEARCH", "STORE", "NOOP", "LOGOUT"):
        line(f"  p99 {op} (ms)", lambda r, op=op: r["loop"]["p99_by_op_ms"][op], ".1f")
    for op in ("CONNECT", "LOGIN", "SELECT", "FETCH", "SEARCH", "STORE", "NOOP", "LOGOUT"):
        line(f"  mean {op} (ms)", lambda r, op=op: r["loop"]["mean_by_op_ms"][op], ".1f")
    line("server CPU per loop operation (ms)", lambda r: r["cpu_ms_per_op"], ".2f")
    line("push via store -> IDLE, p99 (ms)", lambda r: r["push_store_p99_ms"], ".1f")
    line("push via IMAP APPEND -> IDLE, p99 (ms)", lambda r: r["push_append_p99_ms"], ".1f")
    line(f"SELECT {args.big}-message folder (ms, median)", lambda r: r["select_big_ms"], ".1f")
    line("UID FETCH 1:* (FLAGS) on it (s)", lambda r: r["fetch_big_s"], ".2f")
    line("server RSS before the IDLE connections (MB)", lambda r: r["idle_rss_before_mb"], ".0f")
    line(f"server RSS with {args.idle} IDLE connections (MB)", lambda r: r["idle_rss_mb"], ".0f")
    print("load average before/after: %s / %s" % (
        " ".join(f"{x:.2f}" for x in args.load_before), " ".join(f"{x:.2f}" for x in os.getloadavg())))
    if "smsync" in rows and "dovecot" in rows:
        for name in [n for n in rows if n.startswith("smsync")]:
            for n in args.session_counts:
                ratio = rows[name]["sessions"][n]["ops_per_s"] / rows["dovecot"]["sessions"][n]["ops_per_s"]
                print(f"{name} persistent-session throughput, {n} clients = {ratio:.2f}x Dovecot's (target >= 0.5x)")
        if "loop" in rows["smsync"] and "loop" in rows["dovecot"]:
            ratio = rows["smsync"]["loop"]["ops_per_s"] / rows["dovecot"]["loop"]["ops_per_s"]
            print(f"smsync login-loop throughput = {ratio:.0%} of Dovecot's")


if __name__ == "__main__":
    main()
