"""Logins under attack, and IMAP sessions that log in every loop (issue 11, item 2).

    .venv/bin/python benchmarks/bench_logins.py [--seconds 20] [--attackers 50]
        [--clients 20] [--no-dovecot]

Prints:

1. A real user's LOGIN latency (p50, p99; target p99 < 500 ms) while ``--attackers``
   parallel connections hammer IMAP with wrong passwords, and the server's peak RSS
   during it (VmHWM; target < 300 MB). Twice: the attackers all from one address
   (127.0.0.2: the login limiter holds them back), then each from its own address
   (127.0.0.2 to 127.0.0.51: only the bounded password pool and the verified-credentials
   cache stand between them and the real user). The real user connects from 127.0.0.1
   and opens a new connection for every login, as a phone does. The attackers' attempt
   rate is printed beside it (each attempt is one argon2id check unless refused).
2. IMAP session throughput with a LOGIN in every loop (connect, LOGIN, SELECT, FETCH of
   10 messages' flags, LOGOUT), ``--clients`` clients, against smsync and against
   Dovecot with the same argon2id hash (m=19456, t=2, p=1) in its passwd-file: once with
   Dovecot's defaults (no auth cache) and once with ``auth_cache_size = 10M`` (Dovecot
   remembering verified passwords as smsync does), so neither side is flattered.

Both servers are real: smsync is ``twistd -n smsync-imap`` over a ``sqlite:`` store made
by ``smsync init`` (default ``[logins]`` limiter); Dovecot runs from a temporary config
(``dovecot-imapd``; the figure is skipped with a note when it is not installed).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_imap import DOVECOT_CONF, _free_port, _pct, _rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
USER, VICTIM, PASSWORD = "alice@example.org", "victim@example.org", "correct horse battery"
USERS = [f"user{i}@example.org" for i in range(20)]
MESSAGES = 50


def _hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _wait_port(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _message(i: int) -> bytes:
    return (f"From: a@example.org\r\nTo: {USER}\r\nSubject: message {i}\r\n"
            f"Message-ID: <{i}@bench>\r\n\r\nbody {i}\r\n").encode()


class Smsync:
    """``twistd -n smsync-imap`` over a fresh sqlite store with the accounts."""

    def __init__(self, exempt=()):
        self.dir = tempfile.mkdtemp(prefix="smsync-bench-logins-")
        data = os.path.join(self.dir, "data")
        subprocess.run([f"{BIN}/smsync", "init", "--data", data], check=True,
                       capture_output=True)
        if exempt:
            with open(os.path.join(data, "smsync.toml"), "a") as f:
                f.write("\n[logins]\nexempt = [" + ", ".join(f'"{a}"' for a in exempt) + "]\n")
        for account in [USER, VICTIM, *USERS]:
            subprocess.run([f"{BIN}/smsync", "user", "add", account, "--password", PASSWORD,
                            "--data", data], check=True, capture_output=True)
        mbox = os.path.join(self.dir, "mail.mbox")
        with open(mbox, "wb") as f:
            for i in range(MESSAGES):
                f.write(b"From bench@example.org Thu Jan  1 00:00:00 2026\n"
                        + _message(i).replace(b"\r\n", b"\n") + b"\n")
        for account in [USER, *USERS]:
            subprocess.run([f"{BIN}/smsync", "import", account, mbox, "--data", data],
                           check=True, capture_output=True)
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [f"{BIN}/twistd", "-n", "--pidfile=", "smsync-imap", "--config",
             os.path.join(data, "smsync.toml"), "--listen", f"tcp:{self.port}:interface=127.0.0.1"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

    def peak_rss_mb(self) -> float:
        return _hwm_kb(self.proc.pid) / 1024

    def rss_mb(self) -> float:
        return int(_rss(self.proc.pid)) / 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Dovecot:
    """Dovecot with the same argon2id hash for every account."""

    def __init__(self, hashed: str, cache: bool):
        self.dir = tempfile.mkdtemp(prefix="dovecot-bench-logins-")
        os.chmod(self.dir, 0o755)
        self.port = _free_port()
        d = self.dir
        for sub in ("run", "state", "home"):
            os.makedirs(f"{d}/{sub}", exist_ok=True)
        with open(f"{d}/users", "w") as f:
            for account in [USER, VICTIM, *USERS]:
                f.write(f"{account}:{{ARGON2ID}}{hashed}\n")
                box = f"{d}/mail/{account}"
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(f"{box}/{sub}", exist_ok=True)
                for i in range(MESSAGES):
                    with open(f"{box}/cur/{1700000000 + i}.M{i}P1.bench:2,", "wb") as m:
                        m.write(_message(i))
        conf = DOVECOT_CONF.format(d=d, port=self.port).replace(
            "args = scheme=PLAIN username_format=%u", "args = username_format=%u")
        if cache:
            conf += "auth_cache_size = 10M\nauth_cache_ttl = 1 hour\n"
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(conf)
        subprocess.run(["chown", "-R", "dovecot:dovecot", f"{d}/mail", f"{d}/home"], check=True)
        subprocess.run(["/usr/sbin/dovecot", "-c", f"{d}/dovecot.conf"], check=True)
        _wait_port(self.port)

    def stop(self):
        subprocess.run(["/usr/sbin/dovecot", "-c", f"{self.dir}/dovecot.conf", "stop"], check=False)
        time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)


class IMAPFrom(imaplib.IMAP4):
    """imaplib from a chosen loopback source address."""

    def __init__(self, port: int, source: str):
        self.source = source
        super().__init__("127.0.0.1", port, timeout=60)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))


def _attacker(port: int, source: str, deadline: float, counts: list) -> None:
    checked = refused = 0
    while time.time() < deadline:
        try:
            try:
                client = IMAPFrom(port, source)
            except imaplib.IMAP4.error:
                refused += 1  # turned away at the greeting: too many not logged in
                continue
            try:
                client.login(VICTIM, f"guess-{checked + refused}")
            except imaplib.IMAP4.error as e:
                if "UNAVAILABLE" in str(e):
                    refused += 1  # locked out, or the password pool full: not hashed
                else:
                    checked += 1
            client.shutdown()
        except OSError:
            time.sleep(0.05)
    counts.append((checked, refused))


def _real_user(port: int, deadline: float, latencies: list, failures: list) -> None:
    while time.time() < deadline:
        client = IMAPFrom(port, "127.0.0.1")
        begun = time.perf_counter()
        try:
            client.login(USER, PASSWORD)
            latencies.append(time.perf_counter() - begun)
        except imaplib.IMAP4.error as e:
            failures.append(str(e))
        client.logout()
        time.sleep(0.1)


def under_attack(server: Smsync, attackers: int, seconds: float, spread: bool) -> dict:
    # The real user logged in once before (a phone that syncs all day).
    _real_user(server.port, time.time() + 0.01, [], [])
    deadline = time.time() + seconds
    counts: list = []
    threads = [threading.Thread(target=_attacker, args=(
        server.port, f"127.0.0.{2 + (i if spread else 0)}", deadline, counts))
        for i in range(attackers)]
    latencies: list = []
    failures: list = []
    threads.append(threading.Thread(target=_real_user, args=(server.port, deadline, latencies, failures)))
    begun = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - begun
    latencies.sort()
    return {
        "p50_ms": _pct(latencies, 50) * 1000 if latencies else float("nan"),
        "p99_ms": _pct(latencies, 99) * 1000 if latencies else float("nan"),
        "logins": len(latencies), "failed": len(failures), "failures": failures[:3],
        "checked_per_s": sum(c for c, _ in counts) / elapsed,
        "refused_per_s": sum(r for _, r in counts) / elapsed,
    }


def _session_loop(port: int, account: str, deadline: float, out: list) -> None:
    n = 0
    while time.time() < deadline:
        client = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        client.login(account, PASSWORD)
        client.select("INBOX")
        client.fetch("1:10", "(FLAGS)")
        client.logout()
        n += 1
    out.append(n)


def sessions(port: int, clients: int, seconds: float) -> float:
    deadline = time.time() + seconds
    out: list = []
    threads = [threading.Thread(target=_session_loop, args=(port, USERS[i % len(USERS)], deadline, out))
               for i in range(clients)]
    begun = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(out) / (time.time() - begun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--attackers", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--no-dovecot", action="store_true")
    args = parser.parse_args()

    def load() -> str:
        return " ".join(open("/proc/loadavg").read().split()[:3])

    print(f"load average before: {load()} on {os.cpu_count()} cores")
    from smsync.auth import MEMORY_COST_KIB, PARALLELISM, TIME_COST, hash_password

    print(f"password hash: argon2id m={MEMORY_COST_KIB} KiB, t={TIME_COST}, p={PARALLELISM}")
    attacker_addresses = [f"127.0.0.{2 + i}" for i in range(args.attackers)]
    scenarios = [
        ("one address", False, ()),
        (f"{args.attackers} addresses", True, ()),
        # What a botnet with more addresses than the limiter can hold back looks like:
        # every guess is hashed; only the bounded pool and the verified cache remain.
        (f"{args.attackers} addresses, limiter off for them", True, attacker_addresses),
    ]
    for where, spread, exempt in scenarios:
        server = Smsync(exempt)
        try:
            idle = server.rss_mb()
            got = under_attack(server, args.attackers, args.seconds, spread)
            print(f"real user's LOGIN while {args.attackers} connections from {where} guess "
                  f"passwords: p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms "
                  f"(target < 500), {got['logins']} logins, {got['failed']} refused "
                  f"{got['failures']}; guesses hashed {got['checked_per_s']:.0f}/s, refused "
                  f"unchecked {got['refused_per_s']:.0f}/s; server RSS {idle:.0f} MB idle, "
                  f"peak {server.peak_rss_mb():.0f} MB (target < 300) [load average {load()}]")
        finally:
            server.stop()

    server = Smsync()
    try:
        ours = sessions(server.port, args.clients, args.seconds)
        print(f"IMAP sessions with LOGIN every loop, {args.clients} clients, smsync: "
              f"{ours:.0f} sessions/s [load average {load()}]")
    finally:
        server.stop()
    if args.no_dovecot or not os.path.exists("/usr/sbin/dovecot"):
        print("Dovecot: not run (--no-dovecot, or apt-get install dovecot-imapd)")
        return
    hashed = hash_password(PASSWORD)
    for cache in (False, True):
        dovecot = Dovecot(hashed, cache)
        try:
            theirs = sessions(dovecot.port, args.clients, args.seconds)
            label = "auth_cache_size = 10M" if cache else "defaults, no auth cache"
            print(f"IMAP sessions with LOGIN every loop, {args.clients} clients, Dovecot "
                  f"({label}): {theirs:.0f} sessions/s; smsync/Dovecot = {ours / theirs:.2f} "
                  f"(target >= 1.0) [load average {load()}]")
        finally:
            dovecot.stop()


if __name__ == "__main__":
    main()
