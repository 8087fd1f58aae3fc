"""SyncML benchmark (issue 15): a device's slow sync of 5,000 contacts into an empty
address book, its incremental syncs of 10 changes, and the memory an open session costs.

    .venv/bin/python benchmarks/bench_syncml.py [--contacts 5000] [--changes 10]
        [--rounds 20] [--sessions 200] [--encodings xml,wbxml] [--store sqlite|memory]

The server is ``twistd -n smsync-syncml`` over a fresh ``sqlite:`` store (the default),
in its own process on a loopback port; the client is this script, one device speaking
SyncML 1.2 the way SyncEvolution and Funambol's clients do, over one keep-alive HTTP
connection per device, messages built with smsync's codec. Per encoding (XML, WBXML):

1. Slow sync (Alert 201) of ``--contacts`` vCard 3.0 contacts from the device into an
   empty address book, the client's package split over messages of its MaxMsgSize
   (150,000 bytes, SyncEvolution's default): items per second over the whole session,
   from the first message to the server's last answer, and the server's CPU seconds.
   Then the same contacts from a second device, slow-syncing into the full address book:
   each must be matched to the stored one (the store still holds 5,000 after it).
2. Incremental sessions (Alert 200, anchors continuing) each sending ``--changes``
   Replace: the server's CPU time per session (its /proc utime + stime over ``--rounds``
   sessions, divided by the rounds) and the median wall time of one session as the
   client sees it (target: under 100 ms of server time). Each session logs in again with
   basic auth in its first message, as devices do; the server remembers a verified
   password for an hour (``smsync.auth.VERIFIED_TTL``), so a device syncing every few
   minutes pays the password hash once -- the slow sync's first message paid it here.
3. Memory per open session: ``--sessions`` devices (of 25 accounts: a server keeps at
   most 8 sessions per account) each log in and alert a sync, then wait; (RSS with them
   open - RSS before) / sessions.

No peer: the issue names none (Funambol's server is a Java stack that would not be
measured on equal terms here).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from smsync.protocols.syncml import codec
from smsync.protocols.syncml.codepages import SYNCML12
from smsync.protocols.syncml.message import Builder, child, children, text

USER = "bench@example.org"
PASSWORD = "bench-password"
MAX_MSG = 150_000
VENV_BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")

b = Builder(SYNCML12.namespace)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def contact(n: int, version: int = 0) -> bytes:
    note = f"NOTE:changed {version}\r\n" if version else ""
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-{n}@example.org\r\nFN:Person {n}\r\n"
            f"N:Surname{n};Person;;;\r\nEMAIL;TYPE=INTERNET:person{n}@example.org\r\n"
            f"TEL;TYPE=CELL:+49 170 {n:07d}\r\nORG:Company {n % 97}\r\n"
            f"ADR;TYPE=WORK:;;Street {n};City {n % 31};;{10000 + n};Germany\r\n{note}"
            "END:VCARD\r\n").encode()


class Server:
    def __init__(self, workdir: Path, store_kind: str, accounts: int):
        self.workdir = workdir
        self.port = free_port()
        self.store_kind = store_kind
        self.accounts = accounts
        self.proc = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.store_kind == "memory":
            args = [sys.executable, "-c", _MEMORY_RUNNER, str(self.port), str(self.accounts)]
        else:
            uri = f"sqlite:///{self.workdir}/store"
            _add_users(uri, self.accounts)
            args = [str(VENV_BIN / "twistd"), "-n", "--pidfile=", "smsync-syncml", "--store", uri,
                    "--listen", f"tcp:{self.port}:interface=127.0.0.1"]
        self.proc = subprocess.Popen(args, cwd=self.workdir, stdout=open(self.workdir / "server.log", "w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + (self.workdir / "server.log").read_text()[-2000:])
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.connect()
                conn.close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def stored_items(self):
        """Items in the store (sqlite: read from its file beside the server), or None."""
        if self.store_kind != "sqlite":
            return None
        import sqlite3

        conn = sqlite3.connect(f"file:{self.workdir}/store/smsync.sqlite3?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
        finally:
            conn.close()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def user(n: int) -> str:
    return USER if n == 0 else f"bench{n}@example.org"


def _add_users(uri: str, accounts: int) -> None:
    code = f"""
from twisted.internet import task
from twisted.internet.defer import Deferred
from smsync.store.registry import open_store
from smsync.auth import hash_password
async def main(reactor):
    store = await open_store({uri!r})
    hashed = hash_password({PASSWORD!r})
    for n in range({accounts}):
        await store.accounts.add({USER!r} if n == 0 else f"bench{{n}}@example.org", hashed)
    await store.close()
task.react(lambda r: Deferred.fromCoroutine(main(r)))
"""
    subprocess.run([sys.executable, "-c", code], check=True)


_MEMORY_RUNNER = f"""
import sys
from twisted.internet import reactor, defer
from smsync.auth import hash_password, make_portal
from smsync.config import Config
from smsync.store.registry import open_store
from smsync.tap.http import HttpRoot, make_site
from smsync.tap.service import mount_http

async def main():
    store = await open_store("memory:")
    hashed = hash_password({PASSWORD!r})
    for n in range(int(sys.argv[2])):
        await store.accounts.add({USER!r} if n == 0 else f"bench{{n}}@example.org", hashed)
    root = HttpRoot()
    mount_http(root, "syncml", store, make_portal(store), Config())
    reactor.listenTCP(int(sys.argv[1]), make_site(root), interface="127.0.0.1")

defer.Deferred.fromCoroutine(main())
reactor.run()
"""


# ---------------------------------------------------------------------------------------
# A device


class Device:
    """One SyncML 1.2 device on one keep-alive connection."""

    def __init__(self, port: int, name: str, account: str, encoding: str):
        self.port, self.name, self.account, self.encoding = port, name, account, encoding
        self.url = f"http://127.0.0.1:{port}/syncml"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.session = 0
        self.msg_id = 0
        self.cmd_id = 0
        self.path = "/syncml"
        self.anchor = None

    def new_session(self):
        self.session += 1
        self.msg_id = 0
        self.path = "/syncml"

    def cmd(self, tag: str, *kids):
        self.cmd_id += 1
        return b.el(tag, b.leaf("CmdID", self.cmd_id), *kids)

    def send(self, *commands, cred: bool = False, final: bool = True):
        self.msg_id += 1
        cred_el = None
        if cred:
            token = base64.b64encode(f"{self.account}:{PASSWORD}".encode()).decode()
            cred_el = b.el("Cred", b.meta(Builder.meta_value("Format", "b64"),
                                          Builder.meta_value("Type", "syncml:auth-basic")),
                           b.leaf("Data", token))
        header = b.el("SyncHdr", b.leaf("VerDTD", "1.2"), b.leaf("VerProto", "SyncML/1.2"),
                      b.leaf("SessionID", self.session), b.leaf("MsgID", self.msg_id),
                      b.loc("Target", self.url), b.loc("Source", self.name, self.account), cred_el,
                      b.meta(Builder.meta_value("MaxMsgSize", MAX_MSG)))
        body = b.el("SyncBody", *commands, b.empty("Final") if final else None)
        data = codec.encode(b.el("SyncML", header, body), self.encoding)
        self.conn.request("POST", self.path, body=data,
                          headers={"Content-Type": codec.content_type(self.encoding)})
        answer = self.conn.getresponse()
        payload = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status}: {payload[:300]!r}")
        root = codec.decode(payload, self.encoding).root
        resp = text(root, "SyncHdr", "RespURI")
        if resp:
            parts = urlsplit(resp)
            self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        for status in children(child(root, "SyncBody"), "Status"):
            code = text(status, "Data")
            if code and code[0] not in "2" and code != "508":
                raise RuntimeError(f"{text(status, 'Cmd')} answered {code}")
        return root

    def alert(self, code: int, last, nxt):
        anchor = Builder.meta_value("Anchor", None, *[
            e for e in (Builder.meta_value("Last", last) if last else None,
                        Builder.meta_value("Next", nxt)) if e is not None])
        return self.cmd("Alert", b.leaf("Data", code), b.el(
            "Item", b.loc("Target", "addressbook"), b.loc("Source", "./contacts"), b.meta(anchor)))

    def acks(self, root) -> list:
        """A Status 200 for the server's header and each of its commands (and each item
        its Sync carries), as a device answers them."""
        msg = text(root, "SyncHdr", "MsgID")
        out = [self.cmd("Status", b.leaf("MsgRef", msg), b.leaf("CmdRef", "0"), b.leaf("Cmd", "SyncHdr"),
                        b.loc("TargetRef", text(root, "SyncHdr", "Source", "LocURI")),
                        b.loc("SourceRef", text(root, "SyncHdr", "Target", "LocURI")), b.leaf("Data", 200))]
        for command in child(root, "SyncBody").children:
            if command.tag in ("Status", "Final"):
                continue
            out.append(self.cmd("Status", b.leaf("MsgRef", msg), b.leaf("CmdRef", text(command, "CmdID")),
                                b.leaf("Cmd", command.tag), b.leaf("Data", 200)))
            if command.tag == "Sync":
                for item in command.children:
                    if item.tag in ("Add", "Replace", "Delete"):
                        out.append(self.cmd("Status", b.leaf("MsgRef", msg),
                                            b.leaf("CmdRef", text(item, "CmdID")), b.leaf("Cmd", item.tag),
                                            b.leaf("Data", 201 if item.tag == "Add" else 200)))
        return out

    def finish(self, root) -> None:
        """Answer the server until it says Final with nothing left to send."""
        for _ in range(1000):
            body = child(root, "SyncBody")
            if child(body, "Final") is not None and not any(
                    c.tag in ("Sync", "Alert", "Results", "Put", "Get", "Map") for c in body.children):
                return
            if child(body, "Final") is None:
                # The server's package goes on: ask for its next message.
                root = self.send(*self.acks(root), self.alert(222, None, "x"), final=False)
                continue
            root = self.send(*self.acks(root))
        raise RuntimeError("the session did not end")

    def sync(self, code: int, commands, message_bytes: int = 0):
        """One session: Alert ``code``, then a Sync carrying ``commands`` over as many
        messages as their size needs, then whatever the server sends, to the end."""
        message_bytes = message_bytes or MAX_MSG * 3 // 4
        self.new_session()
        last, nxt = self.anchor, str(int(time.time() * 1000) + self.session)
        root = self.send(self.alert(code, last, nxt), cred=True)
        if not any(text(s, "Cmd") == "SyncHdr" and text(s, "Data") in ("200", "212")
                   for s in children(child(root, "SyncBody"), "Status")):
            raise RuntimeError("login refused")
        pending = self.acks(root)
        batch, size = [], 0
        for command, n in commands:
            batch.append(command)
            size += n
            if size >= message_bytes:
                root = self.send(*pending, self.cmd("Sync", b.loc("Target", "addressbook"),
                                                    b.loc("Source", "./contacts"), *batch), final=False)
                pending = self.acks(root)
                batch, size = [], 0
        root = self.send(*pending, self.cmd("Sync", b.loc("Target", "addressbook"),
                                            b.loc("Source", "./contacts"), *batch))
        self.finish(root)
        self.anchor = nxt

    def item(self, tag: str, luid: str, data: bytes):
        return (self.cmd(tag, b.meta(Builder.meta_value("Type", "text/vcard")),
                         b.el("Item", b.loc("Source", luid), b.el("Data", text=data.decode()))),
                len(data) + 120)


# ---------------------------------------------------------------------------------------
# Figures


def measure(server: Server, encoding: str, contacts: int, changes: int, rounds: int) -> dict:
    device = Device(server.port, f"bench-{encoding}-{time.time_ns()}", USER, encoding)
    out = {}
    cpu, start = server.cpu_seconds(), time.perf_counter()
    device.sync(201, (device.item("Add", f"l{n}", contact(n)) for n in range(contacts)))
    wall = time.perf_counter() - start
    out["slow_items_s"] = contacts / wall
    out["slow_wall_s"] = wall
    out["slow_cpu_s"] = server.cpu_seconds() - cpu
    walls = []
    cpu = server.cpu_seconds()
    for r in range(rounds):
        start = time.perf_counter()
        device.sync(200, (device.item("Replace", f"l{(r * changes + k) % contacts}",
                                      contact((r * changes + k) % contacts, r + 1))
                          for k in range(changes)))
        walls.append((time.perf_counter() - start) * 1000)
    out["inc_cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / rounds
    out["inc_wall_ms"] = statistics.median(walls)
    # A no-op session too: what a device that changed nothing costs.
    cpu, start = server.cpu_seconds(), time.perf_counter()
    for _ in range(rounds):
        device.sync(200, ())
    out["noop_wall_ms"] = (time.perf_counter() - start) * 1000 / rounds
    out["noop_cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / rounds
    # A second device with the same contacts slow-syncs into the now full address book
    # (a phone restored, a device deleted and set up again): every item must be matched
    # to the one stored, none doubled -- the slow sync's expensive case.
    other = Device(server.port, f"bench-{encoding}-again-{time.time_ns()}", USER, encoding)
    cpu, start = server.cpu_seconds(), time.perf_counter()
    other.sync(201, (other.item("Add", f"m{n}", contact(n)) for n in range(contacts)))
    wall = time.perf_counter() - start
    out["match_items_s"] = contacts / wall
    out["match_cpu_s"] = server.cpu_seconds() - cpu
    out["stored"] = server.stored_items()
    if out["stored"] is not None and out["stored"] != contacts:
        raise RuntimeError(f"the server holds {out['stored']} contacts, not {contacts}")
    return out


def session_memory(server: Server, sessions: int, accounts: int) -> dict:
    # One session per account first, ended: what a server loads once (the login path,
    # the codec) and the password hash of each account's first login (argon2 takes
    # 64 MiB while it runs, which the allocator keeps) are not a session's cost.
    for n in range(accounts):
        Device(server.port, f"warm-up-{n}", user(n), "xml").sync(201, ())
    time.sleep(1)
    before = server.rss_mb()
    devices = []
    for n in range(sessions):
        device = Device(server.port, f"idle-{n}", user(n % accounts), "xml")
        device.new_session()
        device.send(device.alert(201, None, "1"), cred=True)
        devices.append(device)
    time.sleep(2)
    after = server.rss_mb()
    for d in devices:
        d.conn.close()
    return {"sessions": sessions, "rss_before": before, "rss_after": after,
            "kib_per_session": (after - before) * 1024 / sessions}


def main(argv=None):
    global MAX_MSG
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=25)
    parser.add_argument("--encodings", default="xml,wbxml")
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--max-msg", type=int, default=150_000,
                        help="the device's MaxMsgSize (150,000: SyncEvolution's; its messages "
                             "are filled to three quarters of it)")
    args = parser.parse_args(argv)
    MAX_MSG = args.max_msg
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-syncml-"))
    results = {}
    try:
        for encoding in args.encodings.split(","):
            server = Server(tmp / encoding, args.store, 1)
            server.start()
            try:
                results[encoding] = measure(server, encoding, args.contacts, args.changes, args.rounds)
            finally:
                server.stop()
            print(encoding, results[encoding], flush=True)
        server = Server(tmp / "sessions", args.store, args.accounts)
        server.start()
        try:
            memory = session_memory(server, args.sessions, args.accounts)
        finally:
            server.stop()
        print("sessions", memory, flush=True)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    encs = list(results)
    print()
    print(f"smsync-syncml over {args.store}:, MaxMsgSize {MAX_MSG}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("| Measure | Target | " + " | ".join(encs) + " |")
    print("|---|---|" + "---|" * len(encs))
    rows = [
        (f"slow sync of {args.contacts} contacts into an empty address book (items/s)", ">= 500",
         "slow_items_s", "{:.0f}"),
        ("  its server CPU (s)", "", "slow_cpu_s", "{:.2f}"),
        (f"slow sync of the same {args.contacts} from a second device into the full book, "
         "every one matched, none doubled (items/s)", "", "match_items_s", "{:.0f}"),
        ("  its server CPU (s)", "", "match_cpu_s", "{:.2f}"),
        (f"incremental session, {args.changes} Replace: server CPU per session (ms)", "< 100",
         "inc_cpu_ms", "{:.1f}"),
        ("  wall time of the session as the device sees it, median (ms)", "", "inc_wall_ms", "{:.1f}"),
        ("no-op session: server CPU / wall (ms)", "", "noop_cpu_ms", "{:.1f}"),
    ]
    for label, target, key, fmt in rows:
        cells = [fmt.format(results[e][key]) for e in encs]
        if key == "noop_cpu_ms":
            cells = [f"{results[e]['noop_cpu_ms']:.1f} / {results[e]['noop_wall_ms']:.1f}" for e in encs]
        print(f"| {label} | {target} | " + " | ".join(cells) + " |")
    print(f"| memory per open session, {memory['sessions']} sessions (KiB) | reported | "
          f"{memory['kib_per_session']:.1f} ({memory['rss_before']:.0f} -> {memory['rss_after']:.0f} MB) |")
    print()
    for e in encs:
        r = results[e]
        print(f"{e}: slow sync >= 500 items/s: {r['slow_items_s']:.0f} "
              f"({'met' if r['slow_items_s'] >= 500 else 'NOT met'}); incremental < 100 ms server time: "
              f"{r['inc_cpu_ms']:.1f} ms ({'met' if r['inc_cpu_ms'] < 100 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
