"""Exchange ActiveSync benchmark (issue 12): direct push and initial Sync, end to end.

    .venv/bin/python benchmarks/bench_eas.py [--quick] [--only ping,push,mail,calendar]
        [--ping-accounts 100] [--ping-devices 100] [--push-accounts 100]
        [--push-devices 10] [--items 10000] [--window 100] [--profile DIR]
        [--tracemalloc DIR]

``--quick`` is a smoke run with small sizes (500 Pings, 100 pushes, 200 items).
``--profile DIR`` runs each server under cProfile once it is ready and writes
``DIR/<figure>.pstats`` (the reactor thread only; the store's threads are not in it).
``--tracemalloc DIR`` traces the Ping server's allocations from when it is ready and
writes the largest, with the Pings waiting, to ``DIR/ping.txt`` (its RSS is then not
the figure: tracing costs memory of its own).

Figures and targets:

1. ``ping RSS``: 10,000 concurrent Ping long-polls (100 accounts x 100 devices, each with
   its own DeviceId, provisioned and FolderSync'ed, then a Ping on its Inbox with
   HeartbeatInterval 3000): resident memory of the whole server process once they all
   wait. Target <= 300 MB. The RSS of the idle server before the devices came is
   printed beside it, and the run checks that every Ping is still waiting.
2. ``push p99``: 1,000 Pings waiting (100 accounts x 10 devices); one message per
   account is delivered over LMTP, one account after the other; latency from the LMTP
   reply to the DATA to each of that account's Ping answers (Status 2 naming the Inbox).
   Answered devices Ping again at once, so 1,000 stay waiting. Target p99 < 100 ms.
3. ``mail sync``: initial Sync of a 10,000-message Inbox in windows of 100, WBXML,
   bodies truncated to 512 bytes (BodyPreference Type 1, TruncationSize 512): items per
   second from the first windowed request to the last answer, over one keep-alive
   connection (``persistent``) and with a new connection for every request
   (``re-connect``). Target >= 2,000 items/s.
4. ``calendar sync``: the same for 10,000 events (a VTIMEZONE each, every fourth
   recurring, an organizer and attendees). Target >= 1,000 items/s. Needs
   ``smsync.protocols.eas.calendar``; without it the figure says so and is skipped.
5. ``CPU per round``: the server process's user+system CPU (all its threads, from
   /proc/<pid>/stat) over figures 3 and 4 divided by the windows of 100 they took, in ms,
   and the part of it spent in the main thread (reactor and protocol code; the rest is
   the store's reader and writer threads). Two shared cores disturb it less than items
   per second.

Every Sync answer is checked: HTTP 200, collection Status 1, only Add commands, each
with ApplicationData and a body no longer than asked; the Add ServerIds must be exactly
as many as the items stored, without duplicates. The client's own CPU time during the
Sync loop is printed too: the client shares the machine's two cores with the server.

Each server runs in its own process (this script with ``--serve``), as ``smsync serve``
would run EAS and LMTP together (``smsync.testing.servers.RunningServers``, which starts
them through the production start-up path), over the ``sqlite:`` store in a temporary
directory, logging to a file there as twistd would. The accounts (and the Sync figures'
messages and events) are put in the store before the server starts, all accounts sharing
one password hash. The clients are raw HTTP/1.1 over asyncio on 127.0.0.1 (loopback may
carry a password in clear text), built with smsync's own WBXML codec. The machine's load
average is printed with the figures: on a shared machine, compare runs made under
similar load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # The smsync beside this script, not whichever one the interpreter has installed.
    sys.path.insert(0, str(ROOT))

from benchsupport import (  # noqa: E402  (this script's folder is on sys.path)
    DOMAIN, LMTP, PASSWORD, VTIMEZONE, HTTPError, ServerProcess, account, add_accounts, bounded, expect,
    fill_calendar, fill_inbox, fold, make_message, pct, raise_fd_limit,
)
import benchsupport  # noqa: E402
from smsync.protocols.eas.request import EASRequest, plain_query  # noqa: E402
from smsync.protocols.eas.wbxml import Element, decode, encode  # noqa: E402

VERSION = "14.1"
EAS_PATH = "/Microsoft-Server-ActiveSync"
HEARTBEAT = 3000

AS, BASE, FH, PING, PROV = "AirSync:", "AirSyncBase:", "FolderHierarchy:", "Ping:", "Provision:"
INBOX_TYPE, CALENDAR_TYPE = "2", "8"
TRUNCATION = 512

TARGETS = {"ping_rss_mb": 300, "push_p99_ms": 100, "mail_items_s": 2000, "calendar_items_s": 1000}


# ---------------------------------------------------------------------------------------
# Test data


def make_event(i: int) -> bytes:
    """A VEVENT object in Europe/Berlin time with an organizer, attendees, an alarm and
    a description longer than the truncation; every fourth recurs weekly."""
    day = 1 + i % 28
    month = 1 + (i // 28) % 12
    year = 2024 + (i // 336) % 3
    hour = 8 + i % 10
    start = f"{year}{month:02d}{day:02d}T{hour:02d}0000"
    end = f"{year}{month:02d}{day:02d}T{hour:02d}4500"
    description = ("Agenda: review of the quarter, next steps, open questions. " * 12).strip()
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//smsync//bench//EN", *VTIMEZONE.split("\n"),
        "BEGIN:VEVENT", f"UID:eas-bench-event-{i}@{DOMAIN}", "DTSTAMP:20240101T000000Z",
        f"DTSTART;TZID=Europe/Berlin:{start}", f"DTEND;TZID=Europe/Berlin:{end}",
        f"SUMMARY:Meeting {i} about topic {i % 53}", f"LOCATION:Room {i % 20}",
        f"DESCRIPTION:{description}",
        f"ORGANIZER;CN=Organizer {i % 7}:mailto:organizer{i % 7}@{DOMAIN}",
        f"ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ann@{DOMAIN}",
        f"ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bob@{DOMAIN}",
        f"ATTENDEE;CN=Cy;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:cy{i % 5}@{DOMAIN}",
    ]
    if i % 4 == 0:
        lines.append("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20")
        if i % 8 == 0:
            lines.append(f"EXDATE;TZID=Europe/Berlin:{start}")
    lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M",
              "END:VALARM", "END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(fold(x) for x in lines) + "\r\n").encode()


# ---------------------------------------------------------------------------------------
# The server process


def serve(directory: str, spec_file: str) -> None:
    """Fill a fresh SQLite store as the spec says, then serve EAS and LMTP over it on
    127.0.0.1 until SIGTERM; the ports go to ``directory/ports``."""
    benchsupport.serve(directory, spec_file, ("eas", "lmtp"), _fill, ports=("eas", "lmtp"), tracemalloc_frames=8)


async def _fill(uri: str, spec: dict) -> None:
    from smsync.store.registry import open_store

    store = await open_store(uri)
    await add_accounts(store, spec["accounts"])
    for name, count in spec.get("messages", {}).items():
        await fill_inbox(store, name, count)
    for name, count in spec.get("events", {}).items():
        await fill_calendar(store, name, count, make_event)
    await store.close()


class Server(ServerProcess):
    """This script's ``--serve`` in a child process, with ``spec`` loaded first."""

    tracemalloc = None

    def __init__(self, label: str, spec: dict, profile_dir=None, tracemalloc_dir=None):
        if profile_dir:
            spec = dict(spec, profile=os.path.join(os.path.abspath(profile_dir), f"{label}.pstats"))
        if tracemalloc_dir:
            self.tracemalloc = os.path.join(os.path.abspath(tracemalloc_dir), f"{label}.txt")
            spec = dict(spec, tracemalloc=self.tracemalloc)
        super().__init__(__file__, spec, label=label)
        self.eas, self.lmtp = self.ports["eas"], self.ports["lmtp"]


# ---------------------------------------------------------------------------------------
# The client: raw HTTP/1.1 over asyncio


class Device:
    """One phone: its account, DeviceId, policy key and keep-alive connection."""

    def __init__(self, port: int, user: str, device_id: str):
        self.port = port
        self.user = user
        self.device_id = device_id
        self.policy_key = None
        self.reader = self.writer = None
        self.folders: dict[str, str] = {}  # EAS folder type -> ServerId
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        self.auth = f"Basic {token}"

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    def send(self, command: str, body=None, close: bool = False) -> None:
        """Write one request (the answer is read by ``receive``)."""
        query, headers = plain_query(EASRequest(
            command=command, device_id=self.device_id, device_type="bench", user=self.user,
            version=VERSION, policy_key=self.policy_key))
        data = encode(body) if body is not None else b""
        head = [f"POST {EAS_PATH}?{query} HTTP/1.1", "Host: 127.0.0.1",
                f"Authorization: {self.auth}", "Content-Type: application/vnd.ms-sync.wbxml",
                f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if close:
            head.append("Connection: close")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)

    async def receive(self) -> tuple[int, bytes]:
        """The status and body of the next answer on the connection."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise HTTPError(f"unexpected Transfer-Encoding {value.strip()}")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body

    async def post(self, command: str, body=None, reconnect: bool = False):
        """Send a command and read its answer: (HTTP status, decoded WBXML or None)."""
        if self.writer is None or reconnect:
            self.close()
            await self.connect()
        self.send(command, body, close=reconnect)
        status, raw = await self.receive()
        if reconnect:
            self.close()
        return status, (decode(raw) if raw else None), raw

    async def provision(self) -> None:
        policy = Element(PROV, "Policies", (Element(PROV, "Policy", (
            Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),)),))
        status, tree, _ = await self.post("Provision", Element(PROV, "Provision", (policy,)))
        expect(status == 200 and tree is not None, f"Provision: HTTP {status}")
        temporary = tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text
        ack = Element(PROV, "Policies", (Element(PROV, "Policy", (
            Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),
            Element(PROV, "PolicyKey", (), temporary), Element(PROV, "Status", (), "1"))),))
        self.policy_key = int(temporary)
        status, tree, _ = await self.post("Provision", Element(PROV, "Provision", (ack,)))
        expect(status == 200 and tree is not None, f"Provision ack: HTTP {status}")
        self.policy_key = int(tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text)

    async def folder_sync(self) -> None:
        status, tree, _ = await self.post("FolderSync", Element(FH, "FolderSync", (
            Element(FH, "SyncKey", (), "0"),)))
        expect(status == 200 and tree.find(FH, "Status").text == "1", f"FolderSync: HTTP {status}")
        for change in tree.find(FH, "Changes").children:
            if change.tag == "Add":
                self.folders.setdefault(change.find(FH, "Type").text, change.find(FH, "ServerId").text)

    async def ready(self) -> None:
        """Provisioned, and the folder list known (what a phone does first)."""
        await self.connect()
        await self.provision()
        await self.folder_sync()

    def send_ping(self) -> None:
        self.send("Ping", Element(PING, "Ping", (
            Element(PING, "HeartbeatInterval", (), str(HEARTBEAT)),
            Element(PING, "Folders", (Element(PING, "Folder", (
                Element(PING, "Id", (), self.folders[INBOX_TYPE]),
                Element(PING, "Class", (), "Email"))),)))))


# ---------------------------------------------------------------------------------------
# 1. Many Pings waiting


async def _ping_swarm(server: Server, accounts: list[str], per_account: int, prefix: str):
    """Every device of every account ready, its Ping sent; (devices, their answer tasks)."""
    devices = [Device(server.eas, user, f"{prefix}{a}x{d}")
               for a, user in enumerate(accounts) for d in range(per_account)]

    async def start(device: Device):
        await device.ready()
        device.send_ping()
        return asyncio.ensure_future(_ping_answer(device))

    # A device's first request per account checks the password (argon2, a few at a
    # time server-side): warm each account once, then the rest in parallel.
    waiting = await bounded([start(d) for d in devices[::per_account]], 8)
    rest = [d for i, d in enumerate(devices) if i % per_account]
    waiting_rest = await bounded([start(d) for d in rest], 64)
    tasks = {}
    for d, t in zip(devices[::per_account], waiting):
        tasks[d] = t
    for d, t in zip(rest, waiting_rest):
        tasks[d] = t
    return devices, tasks


async def _ping_answer(device: Device):
    """(time the answer was read, HTTP status, Ping Status, folders named)."""
    status, raw = await device.receive()
    when = time.perf_counter()
    tree = decode(raw) if raw else None
    ping_status = tree.find(PING, "Status").text if tree is not None else None
    folders = tree.find(PING, "Folders") if tree is not None else None
    named = [f.text for f in folders.children] if folders is not None else []
    return when, status, ping_status, named


async def ping_figure(args, rows: dict) -> None:
    count = args.ping_accounts * args.ping_devices
    accounts = [account(a) for a in range(args.ping_accounts)]
    print(f"[ping] starting a server with {len(accounts)} accounts", flush=True)
    server = Server("ping", {"accounts": accounts}, args.profile, args.tracemalloc)
    try:
        await server.settle()
        rows["ping_rss_before_mb"] = server.rss_mb()
        print(f"[ping] {count} devices: Provision, FolderSync, Ping ...", flush=True)
        started = time.monotonic()
        devices, tasks = await _ping_swarm(server, accounts, args.ping_devices, "p")
        rows["ping_setup_s"] = time.monotonic() - started
        await server.settle()
        await asyncio.sleep(1)
        rows["ping_rss_mb"] = server.rss_mb()
        if server.tracemalloc:
            server.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(5)
            print(f"[ping] the largest allocations since the server was ready: {server.tracemalloc}")
        answered = [t for t in tasks.values() if t.done()]
        rows["ping_waiting"] = f"{count - len(answered)}/{count}"
        if answered:
            sample = answered[0].exception() or answered[0].result()
            print(f"[ping] {len(answered)} Pings answered early, e.g. {sample!r}")
        for t in tasks.values():
            t.cancel()
        for d in devices:
            d.close()
    finally:
        rows["ping_log_tracebacks"] = server.problems()
        server.stop()


# ---------------------------------------------------------------------------------------
# 2. Push latency


async def push_figure(args, rows: dict) -> None:
    accounts = [account(a) for a in range(args.push_accounts)]
    per = args.push_devices
    print(f"[push] {len(accounts) * per} devices waiting in Ping; "
          f"{len(accounts)} deliveries over LMTP", flush=True)
    server = Server("push", {"accounts": accounts}, args.profile)
    try:
        devices, tasks = await _ping_swarm(server, accounts, per, "q")
        await server.settle()
        lmtp = LMTP()
        await lmtp.connect(server.lmtp)
        latencies, wrong, missing = [], 0, 0
        for a, user in enumerate(accounts):
            mine = devices[a * per:(a + 1) * per]
            t0 = await lmtp.deliver(user, make_message(10**6 + a, user))
            done, pending = await asyncio.wait([tasks[d] for d in mine], timeout=10)
            missing += len(pending)
            for d in mine:
                task = tasks[d]
                if task not in done:
                    task.cancel()
                    continue
                when, status, ping_status, named = task.result()
                if status != 200 or ping_status != "2" or named != [d.folders[INBOX_TYPE]]:
                    wrong += 1
                    continue
                latencies.append(when - t0)
                # Ping again at once, as a phone does after its Sync: 1,000 stay waiting.
                d.send_ping()
                tasks[d] = asyncio.ensure_future(_ping_answer(d))
        lmtp.close()
        rows["push_answers"] = len(latencies)
        rows["push_expected"] = len(accounts) * per
        rows["push_wrong"], rows["push_missing"] = wrong, missing
        rows["push_p50_ms"] = pct(latencies, 50) * 1000
        rows["push_p99_ms"] = pct(latencies, 99) * 1000 if not (wrong or missing) else float("inf")
        rows["push_max_ms"] = max(latencies) * 1000 if latencies else float("nan")
        for t in tasks.values():
            t.cancel()
        for d in devices:
            d.close()
    finally:
        rows["push_log_tracebacks"] = server.problems()
        server.stop()


# ---------------------------------------------------------------------------------------
# 3, 4, 5. Initial Sync


def _a(tag, *children, text=None) -> Element:
    return Element(AS, tag, children, text)


def _sync_body(key: str, folder: str, window: int) -> Element:
    collection = [_a("SyncKey", text=key), _a("CollectionId", text=folder)]
    if key != "0":
        collection += [_a("DeletesAsMoves", text="1"), _a("GetChanges", text="1"),
                       _a("WindowSize", text=str(window)),
                       _a("Options", Element(BASE, "BodyPreference", (
                           Element(BASE, "Type", (), "1"),
                           Element(BASE, "TruncationSize", (), str(TRUNCATION)))))]
    return _a("Sync", _a("Collections", _a("Collection", *collection)))


def _check_window(tree, folder: str, seen: set) -> tuple[str, bool, int]:
    """Check one Sync answer; add its ServerIds to ``seen``. (new key, more, adds)."""
    expect(tree is not None, "Sync: empty answer")
    collection = tree.find(AS, "Collections").find(AS, "Collection")
    expect(collection.find(AS, "CollectionId").text == folder, "Sync: another collection")
    status = collection.find(AS, "Status").text
    expect(status == "1", f"Sync: Status {status}")
    commands = collection.find(AS, "Commands")
    adds = 0
    for command in commands.children if commands is not None else ():
        expect(command.tag == "Add", f"Sync: a {command.tag} in an initial sync")
        sid = command.find(AS, "ServerId").text
        expect(sid not in seen, f"Sync: ServerId {sid} sent twice")
        seen.add(sid)
        data = command.find(AS, "ApplicationData")
        expect(data is not None, f"Sync: {sid} without ApplicationData")
        body = data.find(BASE, "Body")
        if body is not None and body.find(BASE, "Data") is not None:
            text = body.find(BASE, "Data").text or ""
            expect(len(text.encode("utf-8")) <= TRUNCATION, f"Sync: {sid}'s body is not truncated")
        adds += 1
    return (collection.find(AS, "SyncKey").text, collection.find(AS, "MoreAvailable") is not None,
            adds)


async def initial_sync(server: Server, user: str, device_id: str, folder_type: str,
                       expected: int, window: int, reconnect: bool) -> dict:
    """One device's initial Sync of a whole folder, timed and checked."""
    device = Device(server.eas, user, device_id)
    await device.ready()
    folder = device.folders[folder_type]
    status, tree, _ = await device.post("Sync", _sync_body("0", folder, window), reconnect=reconnect)
    expect(status == 200, f"Sync 0: HTTP {status}")
    key, _, _ = _check_window(tree, folder, set())
    seen: set = set()
    rounds, received = 0, 0
    cpu0, main0 = server.cpu(), server.reactor_cpu()
    client0, t0 = time.process_time(), time.perf_counter()
    more = True
    while more:
        status, tree, raw = await device.post("Sync", _sync_body(key, folder, window), reconnect=reconnect)
        expect(status == 200, f"Sync: HTTP {status}")
        key, more, adds = _check_window(tree, folder, seen)
        rounds += 1
        received += len(raw)
        expect(adds > 0 or not more, "Sync: MoreAvailable with nothing sent")
    elapsed = time.perf_counter() - t0
    cpu, main = server.cpu() - cpu0, server.reactor_cpu() - main0
    client = time.process_time() - client0
    device.close()
    expect(len(seen) == expected, f"Sync: {len(seen)} items received, {expected} stored")
    return {"items_s": expected / elapsed, "seconds": elapsed, "rounds": rounds,
            "cpu_ms_per_round": cpu * 1000 / max(expected / window, 1),
            "reactor_ms_per_round": main * 1000 / max(expected / window, 1),
            "client_cpu_s": client, "kb_per_round": received / 1024 / rounds}


async def sync_figures(args, rows: dict, kinds: list[str]) -> None:
    user = account(0, "sync")
    spec = {"accounts": [user]}
    if "mail" in kinds:
        spec["messages"] = {user: args.items}
    if "calendar" in kinds:
        spec["events"] = {user: args.items}
    print(f"[sync] starting a server with {args.items} items of {' and '.join(kinds)}", flush=True)
    server = Server("sync", spec, args.profile)
    try:
        await server.settle()
        for kind in kinds:
            folder_type = INBOX_TYPE if kind == "mail" else CALENDAR_TYPE
            for mode, reconnect in (("persistent", False), ("re-connect", True)):
                print(f"[sync] {kind}, {mode}", flush=True)
                rows[f"{kind}_{mode}"] = await initial_sync(
                    server, user, f"s{kind[:3]}{mode[:2]}", folder_type, args.items, args.window,
                    reconnect)
    finally:
        rows["sync_log_tracebacks"] = server.problems()
        server.stop()


def calendar_converter_merged() -> bool:
    from smsync.model import CollectionKind
    from smsync.protocols.eas import kinds

    return kinds.converter(CollectionKind.CALENDAR) is not None


# ---------------------------------------------------------------------------------------


def report(rows: dict, args) -> None:
    print()
    print(f"EAS benchmark (store sqlite, protocol {VERSION}, window {args.window})")
    print(f"{'figure':58}{'value':>12}  target")

    def line(label, key, fmt, target="", verdict=None):
        value = rows
        try:
            for part in key.split("."):
                value = value[part]
        except (KeyError, TypeError):
            print(f"{label:58}{'n/a':>12}  {target}")
            return
        text = format(value, fmt) if not isinstance(value, str) else value
        mark = ""
        if verdict is not None and not isinstance(value, str):
            mark = "  ok" if verdict(value) else "  MISSED"
        print(f"{label:58}{text:>12}  {target}{mark}")

    pings = args.ping_accounts * args.ping_devices
    if "ping" in args.figures:
        line("server RSS before the devices (MB)", "ping_rss_before_mb", ".0f")
        line(f"server RSS with {pings} Pings waiting (MB)", "ping_rss_mb", ".0f",
             f"<= {TARGETS['ping_rss_mb']} MB", lambda v: v <= TARGETS["ping_rss_mb"])
        line("  Pings still waiting when measured", "ping_waiting", "")
        line(f"  setting up {pings} devices (s)", "ping_setup_s", ".1f")
    waiting = args.push_accounts * args.push_devices
    if "push" in args.figures:
        line(f"LMTP delivery -> Ping answer, p99 ({waiting} waiting, ms)", "push_p99_ms", ".1f",
             f"< {TARGETS['push_p99_ms']} ms", lambda v: v < TARGETS["push_p99_ms"])
        line("  p50 (ms)", "push_p50_ms", ".1f")
        line("  max (ms)", "push_max_ms", ".1f")
        from smsync.protocols.eas.commands.ping import GATHER

        # Ping answers a change only after waiting this long for more to come with it.
        print(f"  (each includes Ping's gathering wait, GATHER = {GATHER * 1000:.0f} ms)")
        if "push_answers" in rows:
            print(f"  Ping answers {rows['push_answers']}/{rows['push_expected']} "
                  f"(wrong {rows['push_wrong']}, none within 10 s {rows['push_missing']})")
    for kind, target in (("mail", TARGETS["mail_items_s"]), ("calendar", TARGETS["calendar_items_s"])):
        if kind not in args.figures:
            continue
        if rows.get(f"{kind}_skipped"):
            print(f"{kind}: {rows[f'{kind}_skipped']}")
            continue
        for mode in ("persistent", "re-connect"):
            line(f"{kind} initial Sync of {args.items}, {mode} (items/s)", f"{kind}_{mode}.items_s",
                 ".0f", f">= {target}/s", lambda v, t=target: v >= t)
        for mode in ("persistent", "re-connect"):
            line(f"  server CPU per round of {args.window}, {mode} (ms)",
                 f"{kind}_{mode}.cpu_ms_per_round", ".1f")
        for mode in ("persistent", "re-connect"):
            line(f"    of which the reactor thread, {mode} (ms)",
                 f"{kind}_{mode}.reactor_ms_per_round", ".1f")
        for mode in ("persistent", "re-connect"):
            line(f"  client CPU during the Sync, {mode} (s)", f"{kind}_{mode}.client_cpu_s", ".2f")
        line("  answer size per round (KB)", f"{kind}_persistent.kb_per_round", ".1f")
    tracebacks = sum(v for k, v in rows.items() if k.endswith("_log_tracebacks"))
    print(f"tracebacks in the servers' logs: {tracebacks}")
    print("load average before/after: %s / %s" % (
        " ".join(f"{x:.2f}" for x in args.load_before), " ".join(f"{x:.2f}" for x in os.getloadavg())))


async def run(args) -> dict:
    rows: dict = {}
    only = args.figures
    limit = raise_fd_limit()
    needed = max(args.ping_accounts * args.ping_devices, args.push_accounts * args.push_devices) + 200
    if needed > limit:
        raise SystemExit(f"open-file limit {limit} is too low for {needed} connections")
    if "ping" in only:
        await ping_figure(args, rows)
    if "push" in only:
        await push_figure(args, rows)
    kinds = [k for k in ("mail", "calendar") if k in only]
    if "calendar" in kinds and not calendar_converter_merged():
        rows["calendar_skipped"] = "converter not merged yet"
        kinds.remove("calendar")
    if kinds:
        await sync_figures(args, rows, kinds)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", help="comma-separated: ping, push, mail, calendar")
    ap.add_argument("--ping-accounts", type=int, default=100)
    ap.add_argument("--ping-devices", type=int, default=100)
    ap.add_argument("--push-accounts", type=int, default=100)
    ap.add_argument("--push-devices", type=int, default=10)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--profile", help="write each server's cProfile statistics in this directory")
    ap.add_argument("--tracemalloc", help="write the ping server's largest allocations, "
                    "traced from when it is ready (slow), in this directory")
    ap.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    if args.quick:
        args.ping_accounts, args.ping_devices = 10, 50
        args.push_accounts, args.push_devices = 10, 10
        args.items = 200
    for directory in (args.profile, args.tracemalloc):
        if directory:
            os.makedirs(directory, exist_ok=True)
    args.figures = set(args.only.split(",")) if args.only else {"ping", "push", "mail", "calendar"}
    args.load_before = os.getloadavg()
    rows = asyncio.run(run(args))
    report(rows, args)


if __name__ == "__main__":
    main()
