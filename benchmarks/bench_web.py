"""The web interface and its JSON API (issue 17, Performance): the server's own time of
the devices page and its API call for an account with 200 devices, and of the admin
account list with 100,000 accounts (paged) -- target under 50 ms each -- and of the
pages beside them (a device's page, the all-devices admin page, the status page).

    .venv/bin/python benchmarks/bench_web.py [--accounts 100000] [--devices 200]
        [--runs 30] [--only devices,admin] [--keep] [--store DIR] [--no-freeze-gc]

What is measured. Every answer of the web interface carries ``Server-Timing:
app;dur=X`` (``smsync/web/app.py``): the milliseconds from the start of
``WebApp.handle`` to its answer being ready -- route, session and admin check, the
store's reads (waits on its reader thread included), rendering. That is the **server
time** the target speaks of. Beside it the **round trip** as the client sees it: from
sending the request to the last byte of the answer read, which adds Twisted's HTTP
parsing and writing, the loopback and the client's own parsing. For each request:
median, p95 and worst of ``--runs`` requests, after one request not counted (its
figures are printed as ``first``: the cold templates and page cache), once over one
persistent (keep-alive) connection and once with a new connection for every request
(as a browser does after its idle connections were closed). The server's CPU time (its
/proc utime + stime) per request is printed too.

How the client signs in: as a browser, it GETs the sign-in form and POSTs it (user and
password), and sends the session cookie with every request after (one sign-in for the
owner of the 200 devices, one for the administrator).

The data. A ``sqlite:`` store in a temporary directory, filled by this script in a
process of its own (``--fill``) before the server starts:

- ``owner@example.org`` with ``--devices`` devices (default 200), written through the
  production path (``smsync.edge.devices.Devices.record`` over the store's
  ``IDeviceRegistry``: ``seen``, ``log``; ``save_state``/``save_states`` for state):
  30% EAS, 15% EWS, 10% SyncML, 15% CalDAV, 15% CardDAV, 15% IMAP, each named and keyed
  as its protocol names it (``smsync.edge.devices.Client``), with 20-200 log lines; EAS
  devices with their DeviceInformation, policy, folder hierarchy (14 folders), last Sync
  request (5 collections) and a sync state per collection (~6 KB each), a few with a
  remote wipe requested; EWS and SyncML devices with sync states of their own, SyncML
  with its DevInf. The device page measured is an EAS device's with 200 log lines.
- ``admin@example.org``, an administrator.
- ``--accounts`` more accounts (default 100,000) with one EAS device each, last synced
  at times spread over three years: rows written straight into the database (one
  ``INSERT`` each for accounts and devices, the SQL the store's own ``add`` and
  ``seen`` run), as ``bench_postgresql.py`` fills its 100,000-message folder -- through
  ``IAccountStore.add`` it would take minutes and measure nothing of the pages.

The server is this script with ``--serve``, in its own process: ``web``, ``eas``,
``ews`` and ``imap`` on one site as ``smsync serve`` starts them
(``smsync.testing.servers.RunningServers``, with its start-up objects frozen out of the
garbage collector's sight as a server process does; ``--no-freeze-gc``: not, to see
what that does), logging to a file; the log is searched for tracebacks at the end. The client is ``http.client`` in this process on 127.0.0.1.
Every answer is checked (status 200, the 200 devices in the API's answer, 50 accounts a
page, the search's matches), and Server-Timing never above the round trip.

The machine's load average is printed: on a shared machine the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchsupport import PASSWORD, ServerProcess, pct  # noqa: E402  (this script's folder is on sys.path)
import benchsupport  # noqa: E402

OWNER = "owner@example.org"
ADMIN = "admin@example.org"
TARGET_MS = 50.0
#: The share of each protocol among the owner's devices.
MIX = (("eas", 0.30), ("ews", 0.15), ("syncml", 0.10), ("caldav", 0.15), ("carddav", 0.15),
       ("imap", 0.15))
_TIMING = re.compile(r"(?:^|,)\s*app;dur=([0-9.]+)")


# ---------------------------------------------------------------------------------------
# Filling the store (``--fill DIR``, its own process)


def _eas_states(rng: random.Random, n: int) -> dict:
    """What the EAS endpoint keeps for a device that has synced for a while, under its
    own keys (``smsync.protocols.eas.state``, ``.commands.settings``)."""
    from smsync.protocols.eas.commands.settings import DEVICE_INFO_KEY
    from smsync.protocols.eas.state import HIERARCHY_KEY, PING_KEY, POLICY_KEY, SYNC_KEY
    from smsync.sync import lanes

    names = [("Inbox", 2), ("Drafts", 3), ("Deleted Items", 4), ("Sent Items", 5), ("Outbox", 6),
             ("Calendar", 8), ("Contacts", 9), ("Tasks", 7), ("Notes", 10), ("Journal", 11),
             ("Archive", 12), ("Lists", 12), ("Work", 13), ("Family", 14)]
    folders = {str(i + 1): ["0", name, kind] for i, (name, kind) in enumerate(names)}
    collections = {cid: {"class": "Email" if folders[cid][2] in (2, 3, 4, 5, 12) else "Calendar",
                         "window": 100, "filter": "3", "truncation": 512, "key": str(rng.randint(2, 900))}
                   for cid in ("1", "4", "6", "7", "8")}
    states = {
        DEVICE_INFO_KEY: {"Model": rng.choice(["iPhone15,2", "SM-S911B", "Pixel 8", "iPad13,1"]),
                          "FriendlyName": f"Phone {n}", "OS": rng.choice(["iOS 17.5", "Android 14"]),
                          "OSLanguage": "en-US", "MobileOperator": "Operator"},
        POLICY_KEY: {"key": rng.randint(1, 2**31), "acknowledged": True},
        HIERARCHY_KEY: {"key": rng.randint(2, 40), "folders": folders, "previous_key": 1,
                        "previous_folders": folders},
        SYNC_KEY: {"collections": collections, "wait": None, "window": 100},
        PING_KEY: {"heartbeat": 900, "folders": list(collections)},
    }
    values = {key: json.dumps(value, sort_keys=True).encode() for key, value in states.items()}
    for cid in collections:
        # A sync adapter's state of a folder of a few hundred items: ids and revisions.
        listing = {f"{cid}:{uid}": rng.randint(1, 10**6) for uid in range(rng.randint(150, 350))}
        values[lanes.lane_key("mail", f"folder-{n}-{cid}", None)] = json.dumps(
            {"token": rng.randint(1, 10**9), "items": listing}).encode()
    return values


def _adapter_states(rng: random.Random, n: int, kinds: tuple) -> dict:
    from smsync.sync import lanes

    values = {}
    for kind in kinds:
        listing = {f"{kind}-{uid}": rng.randint(1, 10**6) for uid in range(rng.randint(100, 300))}
        values[lanes.lane_key(kind, f"{kind}-{n}", None)] = json.dumps(
            {"token": rng.randint(1, 10**9), "items": listing}).encode()
    return values


async def _fill_owner(store, count: int) -> dict:
    """The owner's devices through the production recording path; returns facts the
    client needs (the id of the device whose page is measured)."""
    from twisted.internet import defer

    from smsync.edge.devices import Client, Devices, request_wipe
    from smsync.protocols.syncml.databases import DEVINF_KEY

    rng = random.Random(17)
    devices = Devices(store)
    plan = []
    for protocol, share in MIX:
        plan += [protocol] * round(count * share)
    plan = (plan + ["eas"] * count)[:count]
    rng.shuffle(plan)
    measured = None
    for n, protocol in enumerate(plan):
        host = f"192.0.2.{n % 250 + 1}"
        if protocol == "eas":
            model = rng.choice(["iPhone", "Android", "iPad", "WindowsMail"])
            client = Client.eas(f"{model.upper()}{n:08X}{rng.getrandbits(40):010X}", model,
                                f"{model}/{rng.randint(10, 17)}.{rng.randint(0, 9)}", host)
        elif protocol == "ews":
            client = Client.http("ews", rng.choice(["Mac OS X/14.5 (23F79); ExchangeWebServices/",
                                                    "Microsoft Office/16.0 (Macintosh; Outlook 16.85)",
                                                    "exchangelib/5.4 (python-requests/2.31)"]) + str(n), host)
        elif protocol == "syncml":
            client = Client.syncml(f"IMEI:35{n:013d}", f"SyncEvolution/2.0.{n}", host)
        elif protocol in ("caldav", "carddav"):
            client = Client.http(protocol, rng.choice(["DAVx5/4.3.14-ose (2024/04/11; dav4jvm; okhttp/4.12.0)",
                                                       "macOS/14.5 (23F79) CalendarAgent/988",
                                                       "Mozilla/5.0 Thunderbird/115.11"]) + f" #{n}", host)
        else:
            client = Client.imap({"name": rng.choice(["Thunderbird", "Apple Mail", "K-9 Mail"]),
                                  "version": f"{n}.0"}, host, OWNER)
        await devices.record(OWNER, protocol, client)
        lines = 200 if measured is None and protocol == "eas" else rng.randint(20, 120)
        # A device's log grows a line a sync round; concurrent lines go in one write.
        for first in range(0, lines, 50):
            await defer.gatherResults([
                defer.ensureDeferred(store.devices.log(
                    OWNER, client.device_id, f"sync round {i}: {rng.randint(0, 40)} changes sent, "
                                             f"{rng.randint(0, 5)} received"))
                for i in range(first, min(first + 50, lines))])
        if protocol == "eas":
            await store.devices.save_states(OWNER, client.device_id, _eas_states(rng, n))
            if measured is None:
                measured = client.device_id
            elif rng.random() < 0.05:
                await request_wipe(store.devices, OWNER, client.device_id, account_only=rng.random() < 0.5)
        elif protocol == "ews":
            await store.devices.save_states(OWNER, client.device_id,
                                            _adapter_states(rng, n, ("mail", "calendar", "contacts")))
        elif protocol == "syncml":
            values = _adapter_states(rng, n, ("contacts", "calendar"))
            values[DEVINF_KEY] = json.dumps({
                "manufacturer": "Nokia", "model": f"E{n}", "software": "SyncML 1.2",
                "receives": {"./contacts": ["text/x-vcard", "2.1"],
                             "./calendar": ["text/x-vcalendar", "1.0"]}}).encode()
            await store.devices.save_states(OWNER, client.device_id, values)
    return {"device": measured, "protocols": {p: plan.count(p) for p, _ in MIX}}


def fill(directory: str, devices: int) -> None:
    from twisted.internet import defer, task

    async def main(_reactor):
        from smsync.admin.accounts import set_admin
        from smsync.auth import hash_password
        from smsync.store.registry import open_store

        store = await open_store(f"sqlite:///{directory}/store")
        hashed = hash_password(PASSWORD)
        await store.accounts.add(OWNER, hashed)
        await store.accounts.add(ADMIN, hashed)
        await set_admin(store, ADMIN, True)
        began = time.perf_counter()
        facts = await _fill_owner(store, devices)
        facts["owner_seconds"] = time.perf_counter() - began
        await store.close()
        with open(os.path.join(directory, "facts.json"), "w") as f:
            json.dump(facts, f)

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))


def fill_bulk(directory: str, accounts: int) -> None:
    """The other accounts, one EAS device each, straight into the database."""
    (db,) = [p for p in Path(directory, "store").glob("*.sqlite3")]
    conn = sqlite3.connect(db)
    conn.executemany("INSERT INTO accounts (name, password_hash) VALUES (?, 'x')",
                     ((f"user{n:06d}@d{n % 100}.example",) for n in range(accounts)))
    # Last synced at a spread of times over three years (microseconds since the epoch).
    now = int(time.time() * 1_000_000)
    conn.execute("INSERT INTO devices (account_id, device_id, name, protocol, user_agent, first_seen,"
                 " last_sync, conflict_policy) SELECT id, 'eas-PHONE' || id, 'Phone', 'eas', 'Android/14',"
                 " ?, ? - (id * 7919 % 1095) * 86400000000, 'server-wins' FROM accounts"
                 " WHERE name LIKE 'user%'", (now - 1095 * 86_400_000_000, now))
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


# ---------------------------------------------------------------------------------------
# The server (``--serve DIR``, its own process)


def serve(directory: str, spec_file: str) -> None:
    benchsupport.serve(directory, spec_file, ("web", "eas", "ews", "imap"))


class Server(ServerProcess):
    def __init__(self, directory: str, freeze_gc: bool = True):
        super().__init__(__file__, {"freeze_gc": freeze_gc}, directory, start_timeout=300)
        self.port = self.ports["http"]


# ---------------------------------------------------------------------------------------
# The client


class Browser:
    """One signed-in user's requests, over a kept connection or a new one each time."""

    def __init__(self, port: int, user: str):
        self.port = port
        self.conn = None
        self.cookie = self._sign_in(user)

    def _connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def _sign_in(self, user: str) -> str:
        conn = self._connect()
        conn.request("GET", "/web/signin")
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        conn.request("POST", "/web/signin", urlencode({"user": user, "password": PASSWORD, "next": "/web/"}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        assert answer.status == 303, answer.status
        return answer.getheader("Set-Cookie").split(";")[0]

    def get(self, path: str, persistent: bool) -> tuple[int, bytes, float, float]:
        """(status, body, round trip ms, server ms)."""
        if not persistent or self.conn is None:
            if self.conn is not None:
                self.conn.close()
            self.conn = self._connect()
        began = time.perf_counter()
        self.conn.request("GET", path, headers={"Cookie": self.cookie, "Accept": "text/html,application/json"})
        answer = self.conn.getresponse()
        body = answer.read()
        round_trip = (time.perf_counter() - began) * 1000
        found = _TIMING.search(answer.getheader("Server-Timing") or "")
        assert found, (path, answer.getheader("Server-Timing"))
        if not persistent:
            self.conn.close()
            self.conn = None
        return answer.status, body, round_trip, float(found.group(1))


def measure(server: Server, browser: Browser, path: str, runs: int, persistent: bool, check) -> dict:
    browser.conn = None
    status, body, first_rt, first_srv = browser.get(path, persistent)
    assert status == 200, (path, status, body[:300])
    check(body)
    rts, srvs = [], []
    cpu0 = server.cpu()
    for _ in range(runs):
        status, body, rt, srv = browser.get(path, persistent)
        assert status == 200, (path, status)
        assert srv <= rt + 0.01, (path, srv, rt)
        rts.append(rt)
        srvs.append(srv)
    cpu_ms = (server.cpu() - cpu0) * 1000 / runs
    check(body)
    if browser.conn is not None:
        browser.conn.close()
        browser.conn = None
    return {"server": (statistics.median(srvs), pct(srvs, 95), max(srvs)),
            "round_trip": (statistics.median(rts), pct(rts, 95), max(rts)),
            "first": (first_srv, first_rt), "cpu_ms": cpu_ms, "bytes": len(body)}


def _json_items(count=None, at_least=None, total=None):
    def check(body):
        doc = json.loads(body)
        n = len(doc["items"])
        assert count is None or n == count, (n, count)
        assert at_least is None or n >= at_least, (n, at_least)
        assert total is None or doc.get("total") == total, (doc.get("total"), total)
    return check


def _html_has(*needles: bytes, rows=None):
    def check(body):
        for needle in needles:
            assert needle in body, needle
        if rows is not None:
            found = body.count(b"<tr") - 1  # the header row
            assert found >= rows, (found, rows)
    return check


def requests_to_time(args, facts: dict) -> list:
    """(who, label, path, check, has a target) of every request measured."""
    total = args.accounts + 2
    half = args.accounts // 2
    middle = f"user{half:06d}@d{half % 100}.example"
    following = f"user{half + 1:06d}@".encode()
    prefix = f"user{max(0, args.accounts - 100):06d}"[:8]
    device = facts["device"]
    return [
        ("owner", f"devices page ({args.devices} devices)", "/web/devices", _html_has(b"Synchronized Devices", rows=args.devices), True),
        ("owner", f"GET /api/v1/devices ({args.devices} devices)", "/api/v1/devices", _json_items(count=args.devices), True),
        ("owner", "a device's page (EAS, 200 log lines)", "/web/devices/" + quote(device, safe=""),
         _html_has(b"sync round", b"Mail"), False),
        ("owner", "GET /api/v1/devices/{id}", "/api/v1/devices/" + quote(device, safe=""),
         lambda body: json.loads(body)["id"] == device or (_ for _ in ()).throw(AssertionError(body[:200])), False),
        ("admin", "admin accounts, first page", "/web/admin/accounts", _html_has(b"user000000@d0.example"), True),
        ("admin", "GET /api/v1/admin/accounts, first page", "/api/v1/admin/accounts?limit=50",
         _json_items(count=50, total=total), True),
        ("admin", "admin accounts, middle page (cursor)",
         "/web/admin/accounts?" + urlencode({"after": middle}), _html_has(following), True),
        ("admin", "GET /api/v1/admin/accounts, middle page (cursor)",
         "/api/v1/admin/accounts?" + urlencode({"after": middle, "limit": 50}), _json_items(count=50, total=total), True),
        ("admin", "admin accounts, search 'd42.example' (1% match)",
         "/web/admin/accounts?search=d42.example", _html_has(b"d42.example"), True),
        ("admin", "GET /api/v1/admin/accounts, search 'd42.example'",
         "/api/v1/admin/accounts?search=d42.example&limit=50",
         _json_items(count=min(50, args.accounts // 100), total=total), True),
        ("admin", f"admin accounts, prefix search '{prefix}' (100 match)",
         f"/web/admin/accounts?search={prefix}&match=prefix", _html_has(f"{prefix}00@".encode()), True),
        ("admin", "admin accounts, search matching nothing",
         "/web/admin/accounts?search=nobody-has-this", _html_has(b"Accounts"), True),
        ("admin", "all devices (admin), first page", "/web/admin/devices", _html_has(b"Phone"), False),
        ("admin", "all devices, EAS older than 30 days", "/web/admin/devices?protocol=eas&older_than_days=30",
         _html_has(b"Phone"), False),
        ("admin", "GET /api/v1/admin/devices", "/api/v1/admin/devices?limit=50", _json_items(count=50), False),
        ("admin", "status page", "/web/admin/status", _html_has(b"sqlite"), False),
        ("admin", "GET /api/v1/admin/status", "/api/v1/admin/status",
         lambda body: json.loads(body)["accounts"] == total or (_ for _ in ()).throw(AssertionError(body[:300])),
         False),
    ]


def main(args) -> int:
    load_before = os.getloadavg()
    directory = args.store or tempfile.mkdtemp(prefix="smsync-bench-web-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    server = None
    try:
        if not os.path.exists(os.path.join(directory, "facts.json")):
            began = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--fill", directory, "--devices", str(args.devices)], env=env, cwd=ROOT, check=True)
            owner_time = time.perf_counter() - began
            began = time.perf_counter()
            fill_bulk(directory, args.accounts)
            print(f"filled: {args.devices} devices of {OWNER} through IDeviceRegistry in {owner_time:.1f} s; "
                  f"{args.accounts:,} accounts and their devices (SQL) in {time.perf_counter() - began:.1f} s",
                  flush=True)
        with open(os.path.join(directory, "facts.json")) as f:
            facts = json.load(f)
        print("owner's devices by protocol: " + ", ".join(f"{p} {n}" for p, n in facts["protocols"].items()))
        server = Server(directory, not args.no_freeze_gc)
        browsers = {"owner": Browser(server.port, OWNER), "admin": Browser(server.port, ADMIN)}
        only = set(args.only.split(",")) if args.only else None
        rows = []
        for who, label, path, check, targeted in requests_to_time(args, facts):
            if only and (("devices" if who == "owner" else "admin") not in only):
                continue
            for persistent in (True, False):
                got = measure(server, browsers[who], path, args.runs, persistent, check)
                rows.append((label, path, persistent, targeted, got))
                s, r = got["server"], got["round_trip"]
                print(f"  {label:52s} {'kept' if persistent else 'new ':4s} server {s[0]:6.2f} / {s[1]:6.2f} / "
                      f"{s[2]:6.2f}  round trip {r[0]:6.2f} / {r[1]:6.2f} / {r[2]:6.2f} ms", flush=True)
        load_after = os.getloadavg()
        tracebacks = server.problems()
        print()
        print(f"Web interface benchmark: {args.devices} devices of one account, {args.accounts:,} accounts; "
              f"{args.runs} requests each after one not counted; target: server time < {TARGET_MS:.0f} ms"
              + ("; server gc NOT frozen" if args.no_freeze_gc else ""))
        print()
        print("| request | connection | server median / p95 / worst (ms) | round trip median / p95 / worst (ms) "
              "| first: server / round trip (ms) | server CPU (ms) | answer (KB) | target |")
        print("|---|---|---|---|---|---|---|---|")
        missed = 0
        for label, path, persistent, targeted, got in rows:
            s, r, first = got["server"], got["round_trip"], got["first"]
            if targeted:
                verdict = "< 50 ms ok" if s[1] < TARGET_MS else (
                    "median ok, p95 over" if s[0] < TARGET_MS else "MISSED")
                missed += s[0] >= TARGET_MS
            else:
                verdict = "(none)"
            print(f"| {label} | {'persistent' if persistent else 'new each'} | {s[0]:.2f} / {s[1]:.2f} / {s[2]:.2f} "
                  f"| {r[0]:.2f} / {r[1]:.2f} / {r[2]:.2f} | {first[0]:.1f} / {first[1]:.1f} | {got['cpu_ms']:.2f} "
                  f"| {got['bytes'] / 1024:.1f} | {verdict} |")
        print()
        print(f"target (server time median < {TARGET_MS:.0f} ms on every targeted request): "
              f"{'met' if not missed else f'MISSED on {missed}'}")
        print(f"tracebacks in the server's log: {tracebacks}")
        print("load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(*load_before, *load_after))
        return 1 if missed or tracebacks else 0
    finally:
        if server is not None:
            server.stop()
        if not args.store and not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
        elif args.keep:
            print(f"store kept in {directory} (--store {directory} to run again over it)")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", default="", help="devices,admin")
    parser.add_argument("--store", default="", help="a directory filled by an earlier --keep run")
    parser.add_argument("--keep", action="store_true", help="keep the filled store")
    parser.add_argument("--no-freeze-gc", action="store_true",
                        help="the server does not freeze its start-up objects (as before e469c5d)")
    parser.add_argument("--fill", default="", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.fill:
        fill(options.fill, options.devices)
        sys.exit(0)
    sys.exit(main(options))
