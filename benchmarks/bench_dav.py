"""CalDAV benchmark: smsync beside Radicale and Xandikos (from PyPI) with the same load.

    .venv/bin/python benchmarks/bench_dav.py [--events 10000] [--store sqlite|memory]
        [--peers-venv DIR] [--no-peers] [--repeat 5] [--save-peers FILE | --peers-from FILE]
        [--rss-sizes 10000,50000]

Figures (issue 5), for one calendar of ``--events`` events:

1. PUT of every event, 8 concurrent keep-alive connections: items per second.
2. sync-collection: initial (every item, getetag) and after 10 changes.
3. calendar-query over one month (getetag and calendar-data).
4. calendar-multiget of 500 hrefs (getetag and calendar-data).
5. PROPFIND Depth 1 on the calendar (getetag, getcontenttype).
6. Server RSS with the calendar loaded.
7. Server RSS at rest (idle 2 s) after each of ``--rss-sizes`` events (the calendar
   filled on to that size after the figures above), and the memory an event costs:
   (RSS at the largest size - RSS when empty) / events.
8. Latency of other requests during a large REPORT: a CalDAV GET on another connection,
   repeated while a calendar-multiget of 10,000 events (calendar-data) runs, with the
   calendar at its largest size (p99 and max; ``smsync.testing.stall_probe``).

Each read figure is the median of ``--repeat`` runs. Every server runs in its own
process on a loopback port: smsync through ``twistd -n smsync-caldav`` over ``sqlite:``
(or ``memory:``), Radicale and Xandikos from a separate virtualenv (``--peers-venv``,
made with ``pip install radicale xandikos`` when missing) over their own filesystem
storage. The peers take about 10 PUTs a second once a calendar holds a few thousand
events, so each PUTs for ``PEER_PUT_SECONDS`` (its PUT figure is the rate over those) and
the rest of its calendar is written straight into its storage (``Server.seed``: files for
Radicale, one git commit for Xandikos), so every server is read at the same size. The
RSS at rest is taken after one PROPFIND Depth 1 listing of the calendar, for all alike.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

USER = "bench@example.org"
PASSWORD = "bench-password"
PUT_DEADLINE = 600.0
#: How long a peer gets to PUT (its PUT rate is taken over what it stored in that time);
#: the rest of its calendar is written straight into its storage (``Server.seed``).
PEER_PUT_SECONDS = 120.0
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(i: int) -> bytes:
    start = datetime(2026, 1, 1, 8, tzinfo=timezone.utc) + timedelta(hours=(i * 7) % (365 * 24))
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:bench-{i}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(minutes=45):%Y%m%dT%H%M%SZ}\r\n"
            f"SUMMARY:Benchmark event {i}\r\nLOCATION:Room {i % 17}\r\n"
            f"DESCRIPTION:An event to fill a calendar with\\, number {i}.\r\n"
            f"END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


class Client:
    """Keep-alive HTTP connections, one per thread."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.auth = f"Basic {token}"

    def conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        return c

    def request(self, method, path, body=b"", headers=None):
        hdrs = {"Authorization": self.auth, **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        for attempt in (1, 2):
            c = self.conn()
            try:
                c.request(method, path, body=body or None, headers=hdrs)
                resp = c.getresponse()
                return resp.status, dict(resp.getheaders()), resp.read()
            except (http.client.HTTPException, ConnectionError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise


# ---------------------------------------------------------------------------------------
# Servers


class Server:
    name = ""
    note = ""
    #: Seconds a server gets to PUT its events; what is left is ``seed``ed.
    put_seconds = PUT_DEADLINE

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.proc = None

    def log(self):
        # A file, not a pipe: servers logging every request would fill a pipe and stall.
        return open(self.workdir / "server.log", "w")

    def log_tail(self) -> str:
        try:
            return (self.workdir / "server.log").read_text()[-2000:]
        except OSError:
            return ""

    def wait_ready(self, path="/"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Smsync(Server):
    name = "smsync"

    def __init__(self, workdir, store_kind):
        super().__init__(workdir)
        self.store_kind = store_kind
        self.calendar = f"/dav/calendars/{USER}/calendar/"

    def start(self):
        if self.store_kind == "memory":
            uri = "memory:"
            self.note = "memory: store"
        else:
            uri = f"sqlite:///{self.workdir}/store"
            self.note = "sqlite: store"
            self._add_user(uri)
        args = [str(VENV_BIN / "twistd"), "-n", "--pidfile=", "smsync-caldav", "--store", uri,
                "--listen", f"tcp:{self.port}:interface=127.0.0.1"]
        if self.store_kind == "memory":
            # A memory store is empty at start: run the server in a wrapper adding the user.
            args = [sys.executable, "-c", _MEMORY_RUNNER, str(self.port)]
        self.proc = subprocess.Popen(args, cwd=self.workdir, stdout=self.log(),
                                     stderr=subprocess.STDOUT)
        self.wait_ready()

    def _add_user(self, uri):
        code = f"""
from twisted.internet import task
from smsync.store.registry import open_store
from smsync.auth import hash_password
async def main(reactor):
    store = await open_store({uri!r})
    await store.accounts.add({USER!r}, hash_password({PASSWORD!r}))
    await store.close()
task.react(lambda r: __import__('twisted.internet.defer', fromlist=['x']).Deferred.fromCoroutine(main(r)))
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
    await store.accounts.add({USER!r}, hash_password({PASSWORD!r}))
    root = HttpRoot()
    mount_http(root, "caldav", store, make_portal(store), Config())
    reactor.listenTCP(int(sys.argv[1]), make_site(root), interface="127.0.0.1")

defer.Deferred.fromCoroutine(main())
reactor.run()
"""


class Radicale(Server):
    name = "Radicale"
    put_seconds = PEER_PUT_SECONDS

    def __init__(self, workdir, venv):
        super().__init__(workdir)
        self.venv = venv
        self.calendar = f"/{USER}/calendar/"

    def start(self):
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "python"), "-m", "radicale",
             "--storage-filesystem-folder", str(self.workdir / "collections"),
             "--auth-type", "none", "--rights-type", "owner_only",
             "--server-hosts", f"127.0.0.1:{self.port}", "--logging-level", "warning"],
            cwd=self.workdir, stdout=self.log(), stderr=subprocess.STDOUT)
        self.wait_ready()
        client = Client(self.port)
        status, _, body = client.request("MKCALENDAR", self.calendar)
        if status not in (201, 405):
            raise RuntimeError(f"Radicale MKCALENDAR: {status} {body[:200]!r}")

    def seed(self, first: int, last: int) -> None:
        # Radicale keeps one file per item, named by its href, and reads the folder at
        # each request: a file written here is an item PUT there, minus the PUT's cost.
        folder = self.workdir / "collections" / "collection-root" / USER / "calendar"
        for i in range(first, last):
            (folder / f"bench-{i}.ics").write_bytes(event(i))


class Xandikos(Server):
    name = "Xandikos"
    put_seconds = PEER_PUT_SECONDS

    def __init__(self, workdir, venv):
        super().__init__(workdir)
        self.venv = venv
        self.calendar = "/user/calendars/calendar/"

    def start(self):
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "xandikos"), "-d", str(self.workdir / "x"), "--defaults",
             "--port", str(self.port), "-l", "127.0.0.1", "--current-user-principal", "/user/"],
            cwd=self.workdir, stdout=self.log(), stderr=subprocess.STDOUT)
        self.wait_ready()

    def seed(self, first: int, last: int) -> None:
        # Xandikos keeps a calendar as a git repository with a work tree, one file per
        # item, and reads the branch's tree at each request: one commit of the files is
        # what its PUTs (one commit each) would have left.
        repo = self.workdir / "x" / "user" / "calendars" / "calendar"
        for i in range(first, last):
            (repo / f"bench-{i}.ics").write_bytes(event(i))
        env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.org",
                   GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.org")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
        subprocess.run(["git", "commit", "-q", "-m", f"seed {first}-{last}"], cwd=repo, check=True, env=env)


# ---------------------------------------------------------------------------------------
# Load


def put_all(server, client, n: int):
    """PUT ``n`` events 8 at a time for at most ``server.put_seconds``, then seed the rest
    (peers only); returns (items PUT, items/s)."""
    start = time.perf_counter()
    done = put_range(server, client, 0, n, server.put_seconds)
    rate = done / (time.perf_counter() - start)
    fill(server, client, done, n)
    return done, rate


def fill(server, client, first: int, last: int) -> None:
    """Make the calendar hold events ``first`` to ``last - 1``: PUT by smsync, written into
    their storage for the peers (they take ~10 PUTs a second at these sizes)."""
    if last <= first:
        return
    if hasattr(server, "seed"):
        server.seed(first, last)
    elif put_range(server, client, first, last) != last - first:
        raise RuntimeError(f"{server.name}: PUT of events {first}-{last} did not finish")


def timed(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def check(status, headers, body, want=207):
    if status != want:
        raise RuntimeError(f"answer {status}: {body[:300]!r}")
    return body


SYNC = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}'
        "</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>"
        "</D:sync-collection>")
QUERY = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
         "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
         '<C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260401T000000Z"/>'
         "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")
PROPFIND = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            "<D:getcontenttype/></D:prop></D:propfind>")


def multiget_body(server, count):
    hrefs = "".join(f"<D:href>{server.calendar}bench-{i}.ics</D:href>" for i in range(count))
    return ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            f"</D:prop>{hrefs}</C:calendar-multiget>")


def token_of(body: bytes) -> str:
    m = re.search(rb"<(?:\w+:)?sync-token>([^<]+)</(?:\w+:)?sync-token>", body)
    return m.group(1).decode() if m else ""


def put_range(server, client, first: int, last: int, seconds: float = PUT_DEADLINE) -> int:
    """PUT events ``first`` to ``last - 1`` 8 at a time (within ``seconds``); how many were
    stored (the first that many: a late one is not started)."""
    done = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def one(i):
        if time.monotonic() > stop_at:
            return
        status, _, body = client.request("PUT", f"{server.calendar}bench-{i}.ics", event(i),
                                         {"Content-Type": "text/calendar; charset=utf-8"})
        if status not in (200, 201, 204):
            raise RuntimeError(f"{server.name} PUT {i}: {status} {body[:200]!r}")
        with lock:
            done[0] += 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(first, last)))
    return done[0]


def at_rest_rss(server, client=None) -> float:
    """RSS once the server has listed the calendar (one PROPFIND Depth 1 with getetag) and
    been idle a moment: what it keeps of a calendar it serves, not what it is doing. The
    listing makes every server read what it holds, the peers' seeded files included."""
    if client is not None:
        check(*client.request("PROPFIND", server.calendar, PROPFIND,
                              {"Depth": "1", "Content-Type": "application/xml"}))
    time.sleep(2)
    return server.rss_mb()


def stall(server, stored: int) -> dict:
    """p99/max of a GET on another connection during a calendar-multiget of up to 10,000
    events (``smsync.testing.stall_probe``, run as a separate client process)."""
    probe = Path(__file__).resolve().parent.parent / "smsync" / "testing" / "stall_probe.py"
    count = min(stored, MULTIGET_PROBE)
    result = subprocess.run(
        [sys.executable, str(probe), "--http", str(server.port), "--user", USER, "--password", PASSWORD,
         "--calendar", server.calendar, "--count", str(count), "--pattern", "bench-{}.ics",
         "--no-propfind", "--rounds", "10"],
        capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{server.name}: stall probe failed: {result.stderr[-500:]}")
    figures = json.loads(result.stdout)
    runs = figures["heavy"]["multiget"]
    if any(r["status"] != 207 for r in runs):
        raise RuntimeError(f"{server.name}: multiget during the probe: {runs}")
    get = figures.get("caldav_get") or {}
    return {"stall_p99": get.get("p99_ms", float("nan")), "stall_max": get.get("max_ms", float("nan")),
            "stall_report_s": statistics.median(r["seconds"] for r in runs), "stall_count": count}


#: Events the calendar-multiget of the latency figure names (its body stays under
#: smsync's default 1 MiB XML limit).
MULTIGET_PROBE = 10_000


def measure(server, n: int, repeat: int, rss_sizes=()) -> dict:
    client = Client(server.port)
    rss_empty = at_rest_rss(server)
    put_count, rate = put_all(server, client, n)
    stored = n
    out = {"stored": n, "put": rate, "put_count": put_count, "put_seconds": server.put_seconds,
           "rss_empty": rss_empty}
    cal = server.calendar
    report = {"Depth": "1", "Content-Type": "application/xml"}

    token = [""]

    def initial():
        body = check(*client.request("REPORT", cal, SYNC.format(token=""), report))
        token[0] = token_of(body)

    out["sync_initial"] = timed(initial, repeat)
    first = token[0]
    for i in range(10):
        status, _, body = client.request("PUT", f"{cal}bench-{i}.ics",
                                         event(i).replace(b"Benchmark", b"Changed"),
                                         {"Content-Type": "text/calendar"})
        if status not in (200, 201, 204):
            raise RuntimeError(f"{server.name} changing PUT: {status} {body[:200]!r}")

    def incremental():
        body = check(*client.request("REPORT", cal, SYNC.format(token=first), report))
        # The ten changed items, whatever else a server adds.
        if body.count(b"<D:response>") + body.count(b"<response>") + body.count(b"<ns0:response>") < 10 \
                and body.count(b"bench-") < 10:
            raise RuntimeError(f"{server.name}: incremental sync lacks the changes: {body[:300]!r}")

    out["sync_incremental"] = timed(incremental, max(repeat, 20))
    out["query_month"] = timed(lambda: check(*client.request("REPORT", cal, QUERY, report)), repeat)
    body = multiget_body(server, min(500, stored))
    out["multiget_500"] = timed(lambda: check(*client.request("REPORT", cal, body, report)), repeat)
    out["propfind_1"] = timed(lambda: check(*client.request("PROPFIND", cal, PROPFIND, report)), repeat)
    out["rss_mb"] = server.rss_mb()
    # A peer that took fewer events than asked is measured at what it took.
    out["rss_at"] = {n: at_rest_rss(server, client)}
    for size in sorted(rss_sizes):
        if size > n:
            fill(server, client, n, size)
            n = size
        if size == n and size not in out["rss_at"]:
            out["rss_at"][size] = at_rest_rss(server, client)
    stored = n
    out["stored_max"] = stored
    out.update(stall(server, stored))
    return out


def ensure_peers(venv: Path) -> bool:
    if (venv / "bin" / "xandikos").exists() and (venv / "bin" / "python").exists():
        return True
    print(f"making {venv} with radicale and xandikos from PyPI ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "radicale", "xandikos"], check=True)
        return True
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"cannot install the peers: {e}")
        return False


ROWS = [
    ("put", "PUT of {n} events, 8 concurrent (items/s)", "{:.0f}"),
    ("sync_initial", "sync-collection, initial (ms)", "{:.1f}"),
    ("sync_incremental", "sync-collection after 10 changes (ms)", "{:.2f}"),
    ("query_month", "calendar-query over one month (ms)", "{:.1f}"),
    ("multiget_500", "calendar-multiget of 500 hrefs (ms)", "{:.1f}"),
    ("propfind_1", "PROPFIND depth 1 (ms)", "{:.1f}"),
    ("rss_mb", "server RSS with the calendar loaded (MB)", "{:.0f}"),
]


def per_event_kib(r: dict):
    """(KiB of RSS each event costs at the largest size measured, that size), or (None, None)."""
    at = r.get("rss_at") or {}
    if not at or "rss_empty" not in r:
        return None, None
    size = max(at)
    return (at[size] - r["rss_empty"]) * 1024 / size, size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--peers-venv", default="/tmp/smsync-bench-peers")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rss-sizes", default="10000,50000",
                        help="event counts after which the RSS at rest is measured (comma-separated)")
    parser.add_argument("--save-peers", metavar="FILE",
                        help="write the peers' figures (JSON) for --peers-from")
    parser.add_argument("--peers-from", metavar="FILE",
                        help="compare with the peers' figures of an earlier run instead of "
                             "running them again (their 10-minute PUT windows hold the shared "
                             "benchmark lock for half an hour; their figures do not depend on smsync)")
    parser.add_argument("--peer-put-seconds", type=float, default=PEER_PUT_SECONDS,
                        help="how long each peer PUTs before the rest is written to its storage")
    args = parser.parse_args(argv)
    Radicale.put_seconds = Xandikos.put_seconds = args.peer_put_seconds
    rss_sizes = [int(x) for x in args.rss_sizes.split(",") if x.strip()]

    results = {}
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dav-"))
    servers = [Smsync(tmp / "smsync", args.store)]
    saved_peers = {}
    if args.peers_from:
        saved = json.loads(Path(args.peers_from).read_text())
        saved_peers = saved["results"]
        for r in saved_peers.values():
            r["rss_at"] = {int(k): v for k, v in r.get("rss_at", {}).items()}  # JSON keys are strings
        print(f"peers' figures from {args.peers_from}: {saved['note']}", flush=True)
    elif not args.no_peers and ensure_peers(Path(args.peers_venv)):
        servers += [Radicale(tmp / "radicale", Path(args.peers_venv)),
                    Xandikos(tmp / "xandikos", Path(args.peers_venv))]
    def run(server, n):
        server.workdir.mkdir(parents=True)
        print(f"{server.name}: starting ({n} events)", flush=True)
        server.start()
        try:
            return measure(server, n, args.repeat, rss_sizes if n == args.events else ())
        finally:
            server.stop()

    try:
        for server in servers:
            results[server.name] = run(server, args.events)
            print(f"{server.name}: {results[server.name]}", flush=True)
        results.update(saved_peers)
        if args.save_peers:
            peers_only = {n: r for n, r in results.items() if n != "smsync"}
            note = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.events} events asked, "
                    f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
            Path(args.save_peers).write_text(json.dumps({"note": note, "results": peers_only}, indent=1))
        # A peer that took fewer events is compared with smsync at that size.
        for size in sorted({r["stored"] for n, r in results.items() if n != "smsync"}):
            if size < results["smsync"]["stored"]:
                again = Smsync(tmp / f"smsync-{size}", args.store)
                results[f"smsync@{size}"] = run(again, size)
                print(f"smsync@{size}: {results[f'smsync@{size}']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    names = list(results)
    print()
    print(f"smsync over {servers[0].note}; {args.repeat} runs a read figure (median); load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after.")
    print("| Measure | " + " | ".join(f"{n} ({results[n]['stored']} events)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for key, label, fmt in ROWS:
        cells = []
        for name in names:
            r = results[name]
            cell = fmt.format(r[key])
            if key == "put" and r.get("put_count", r["stored"]) < args.events:
                cell += (f" ({r.get('put_count', r['stored'])} PUT in "
                         f"{r.get('put_seconds', PUT_DEADLINE):.0f} s, the rest written to its storage)")
            cells.append(cell)
        print(f"| {label.format(n=args.events)} | " + " | ".join(cells) + " |")
    for size in rss_sizes:
        cells = [f"{results[n]['rss_at'][size]:.0f}" if size in results[n].get("rss_at", {}) else "-"
                 for n in names]
        print(f"| server RSS at rest after {size} events (MB) | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        kib, size = per_event_kib(results[n])
        cells.append(f"{kib:.2f} (at {size})" if kib is not None else "-")
    print("| memory per event: (RSS at rest - RSS empty) / events (KiB) | " + " | ".join(cells) + " |")
    cells = [f"{results[n]['stall_p99']:.1f} / {results[n]['stall_max']:.1f}" if "stall_p99" in results[n]
             else "-" for n in names]
    print("| GET p99 / max during a calendar-multiget of "
          + "/".join(sorted({str(results[n].get("stall_count", "-")) for n in names}))
          + " events (ms) | " + " | ".join(cells) + " |")
    peers = [n for n in names if not n.startswith("smsync")]
    if peers:
        print()
        ours = results["smsync"]
        print(f"PUT target >= 1000 items/s: {ours['put']:.0f} ({'met' if ours['put'] >= 1000 else 'NOT met'})")
        for key, label, _ in ROWS[1:6]:
            factors = []
            for peer in peers:
                size = results[peer]["stored"]
                mine = results["smsync"] if size >= ours["stored"] else results[f"smsync@{size}"]
                factors.append((results[peer][key] / mine[key] if mine[key] else float("inf"), peer, size))
            factor, peer, size = min(factors)
            print(f"{label.format(n=args.events)}: {factor:.1f}x the faster peer ({peer} at {size} "
                  f"events) ({'met' if factor >= 5 else 'NOT met'})")
        inc = ours["sync_incremental"]
        print(f"incremental sync-collection < 20 ms: {inc:.2f} ms ({'met' if inc < 20 else 'NOT met'})")
        p99 = ours.get("stall_p99", float("nan"))
        print(f"GET p99 during a large REPORT < 50 ms: {p99:.1f} ms ({'met' if p99 < 50 else 'NOT met'})")
        mine, size = per_event_kib(ours)
        theirs = [per_event_kib(results[p]) for p in peers]
        theirs = [t for t in theirs if t[0] is not None]
        if mine is not None and theirs:
            best, at = min(theirs)
            print(f"memory per event <= the best peer's: {mine:.2f} KiB at {size} events vs {best:.2f} "
                  f"at {at} ({'met' if mine <= best else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
