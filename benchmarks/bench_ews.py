"""Exchange Web Services benchmark (issue 16): reading a large Inbox, and notifications.

    .venv/bin/python benchmarks/bench_ews.py [--quick] [--only find,get,rss,push]
        [--items 10000] [--page 100] [--streams 5000] [--stream-accounts 50]
        [--push-streams 1000] [--push-accounts 100] [--profile DIR] [--no-freeze-gc]

``--quick`` is a smoke run with small sizes (500 messages, 500 streams, 100 pushed).
``--profile DIR`` runs each server under cProfile once it is ready and writes
``DIR/<figure>.pstats`` (the reactor thread only).

Figures and targets:

1. ``FindItem``: paging through a 10,000-message Inbox 100 at a time
   (IndexedPageItemView, BaseShape IdOnly plus item:Subject): items per second from the
   first request to the last answer, over one keep-alive connection (``persistent``)
   and with a new connection (and login) for every request (``re-connect``). Target
   >= 3,000 items/s. Every answer is checked: HTTP 200, NoError, 100 messages (the last
   page the rest), each with a Subject; the ids must be 10,000 distinct ones.
2. ``GetItem``: the same 10,000 messages, 100 ids per request, BaseShape Default
   (bodies included, as text): items per second, persistent and re-connect. Target
   >= 1,000 items/s. Every answer: HTTP 200, 100 NoError messages, each with a Body.
3. ``streams RSS``: 5,000 open GetStreamingEvents connections (50 accounts x 100, each
   connection its own streaming subscription on the account's Inbox, ConnectionTimeout
   30 minutes): resident memory of the server process once they all wait (each has had
   its first keep-alive). Target <= 200 MB. The idle server's RSS is printed beside it.
4. ``LMTP -> event``: 1,000 streams waiting (100 accounts x 10); one message per account
   delivered over LMTP, one account after the other; latency from the moment the end of
   the DATA is sent to each of that account's streams reading its NewMailEvent. Target
   p99 < 100 ms. (Measured from before the LMTP reply, so it includes the delivery.)

Each server runs in its own process (this script with ``--serve``), EWS and LMTP
together as ``smsync serve`` runs them (``smsync.testing.servers.RunningServers``,
the production start-up path), over the ``sqlite:`` store in a temporary directory,
logging to a file there as twistd would. Accounts and the Inbox's messages are put in
the store before the server starts (bulk, through the store). Clients are raw HTTP/1.1
over asyncio on 127.0.0.1. The machine's load average is printed with the figures: on
a shared machine, compare runs made under similar load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchsupport import (  # noqa: E402  (this script's folder is on sys.path)
    LMTP, PASSWORD, HTTPError, ServerProcess, account, add_accounts, bounded, expect, fill_inbox, make_message,
    pct, raise_fd_limit,
)
import benchsupport  # noqa: E402

EWS_PATH = "/EWS/Exchange.asmx"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
S = "http://schemas.xmlsoap.org/soap/envelope/"
#: Whether the servers freeze their start-up objects as a server process does (``--no-freeze-gc``: not).
FREEZE_GC = True
TARGETS = {"find_items_s": 3000, "get_items_s": 1000, "streams_rss_mb": 200, "push_p99_ms": 100}


# ---------------------------------------------------------------------------------------
# The server process


def serve(directory: str, spec_file: str) -> None:
    """Fill a fresh SQLite store as the spec says, then serve EWS and LMTP over it on
    127.0.0.1 until SIGTERM; the ports go to ``directory/ports``."""
    benchsupport.serve(directory, spec_file, ("ews", "lmtp"), _fill, ports=("http", "lmtp"))


async def _fill(uri: str, spec: dict) -> None:
    from smsync.store.registry import open_store

    store = await open_store(uri)
    await add_accounts(store, spec["accounts"])
    for name, count in spec.get("messages", {}).items():
        await fill_inbox(store, name, count)
    await store.close()


class Server(ServerProcess):
    """This script's ``--serve`` in a child process, with ``spec`` loaded first."""

    def __init__(self, label: str, spec: dict, profile_dir=None):
        spec = dict(spec, freeze_gc=FREEZE_GC)
        if profile_dir:
            spec = dict(spec, profile=os.path.join(os.path.abspath(profile_dir), f"{label}.pstats"))
        super().__init__(__file__, spec, label=label)
        self.http, self.lmtp = self.ports["http"], self.ports["lmtp"]


# ---------------------------------------------------------------------------------------
# The client: raw HTTP/1.1 over asyncio


def envelope(operation: str, inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}" xmlns:m="{M}" '
            f'xmlns:t="{T}"><s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
            f"<s:Body><m:{operation}>{inner}</m:{operation}></s:Body></s:Envelope>").encode()


class Client:
    """One account's HTTP/1.1 connection to the EWS endpoint."""

    def __init__(self, port: int, user: str):
        self.port = port
        self.user = user
        self.reader = self.writer = None
        self.auth = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    def send(self, body: bytes, close: bool = False) -> None:
        head = [f"POST {EWS_PATH} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {self.auth}",
                "Content-Type: text/xml; charset=utf-8", f"Content-Length: {len(body)}"]
        if close:
            head.append("Connection: close")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    async def head(self) -> tuple[int, dict]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def receive(self) -> tuple[int, bytes]:
        status, headers = await self.head()
        if "content-length" not in headers:
            raise HTTPError(f"no Content-Length ({headers})")
        body = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    async def post(self, body: bytes, reconnect: bool = False) -> tuple[int, bytes]:
        if self.writer is None or reconnect:
            self.close()
            await self.connect()
        self.send(body, close=reconnect)
        answer = await self.receive()
        if reconnect:
            self.close()
        return answer


_ITEM_ID = re.compile(rb'<t:ItemId Id="([^"]+)"')


def find_page(offset: int, page: int) -> bytes:
    return envelope("FindItem", (
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>'
        f'<m:IndexedPageItemView MaxEntriesReturned="{page}" Offset="{offset}" BasePoint="Beginning"/>'
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds>'))


def get_items(item_ids: list) -> bytes:
    wanted = "".join(f'<t:ItemId Id="{i}"/>' for i in item_ids)
    return envelope("GetItem", (
        "<m:ItemShape><t:BaseShape>Default</t:BaseShape><t:BodyType>Text</t:BodyType></m:ItemShape>"
        f"<m:ItemIds>{wanted}</m:ItemIds>"))


async def find_all(client: Client, total: int, page: int, reconnect: bool) -> tuple[float, list]:
    """Page through the Inbox: (seconds, item ids)."""
    found: list = []
    start = time.perf_counter()
    offset = 0
    while True:
        status, body = await client.post(find_page(offset, page), reconnect)
        expect(status == 200 and b"<m:ResponseCode>NoError</m:ResponseCode>" in body,
                f"FindItem at {offset}: HTTP {status} {body[:300]!r}")
        ids = _ITEM_ID.findall(body)
        expect(body.count(b"<t:Subject>") == len(ids), "FindItem: an item without its Subject")
        found += ids
        offset += len(ids)
        if b'IncludesLastItemInRange="true"' in body or not ids:
            break
        expect(len(ids) == page, f"FindItem: a page of {len(ids)}")
    elapsed = time.perf_counter() - start
    expect(len(found) == total and len(set(found)) == total,
            f"FindItem: {len(found)} ids, {len(set(found))} distinct, of {total}")
    return elapsed, found


async def get_all(client: Client, item_ids: list, page: int, reconnect: bool) -> float:
    start = time.perf_counter()
    for first in range(0, len(item_ids), page):
        chunk = [i.decode() for i in item_ids[first:first + page]]
        status, body = await client.post(get_items(chunk), reconnect)
        expect(status == 200, f"GetItem: HTTP {status} {body[:300]!r}")
        expect(body.count(b"<m:ResponseCode>NoError</m:ResponseCode>") == len(chunk)
                and body.count(b"<t:Body ") == len(chunk), f"GetItem: not {len(chunk)} bodies")
    return time.perf_counter() - start


async def read_figures(args, rows: dict) -> None:
    user = account(0)
    print(f"[read] filling an Inbox of {args.items} messages", flush=True)
    server = Server("read", {"accounts": [user], "messages": {user: args.items}}, args.profile)
    try:
        client = Client(server.http, user)
        ids: list = []
        for mode, reconnect in (("persistent", False), ("re-connect", True)):
            if "find" in args.figures:
                await find_all(client, args.items, args.page, reconnect)  # warm the caches
                cpu0 = server.cpu()
                elapsed, ids = await find_all(client, args.items, args.page, reconnect)
                rows[f"find_{mode}"] = {"items_s": args.items / elapsed,
                                        "cpu_ms": (server.cpu() - cpu0) * 1000 / (args.items / args.page)}
                print(f"  FindItem {mode}: {args.items / elapsed:.0f} items/s", flush=True)
            if "get" in args.figures:
                if not ids:
                    _, ids = await find_all(client, args.items, args.page, False)
                cpu0 = server.cpu()
                elapsed = await get_all(client, ids, args.page, reconnect)
                rows[f"get_{mode}"] = {"items_s": len(ids) / elapsed,
                                       "cpu_ms": (server.cpu() - cpu0) * 1000 / (len(ids) / args.page)}
                print(f"  GetItem {mode}: {len(ids) / elapsed:.0f} items/s", flush=True)
        client.close()
    finally:
        rows["read_log_tracebacks"] = server.problems()
        server.stop()


# ---------------------------------------------------------------------------------------
# Streaming


STREAMING = ('<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
             "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType>"
             "<t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest>")


class Listener:
    """One streaming subscription and its open GetStreamingEvents connection."""

    def __init__(self, port: int, user: str):
        self.client = Client(port, user)
        self.sub_id = None
        self.buffer = b""
        self.waiter = None

    async def subscribe(self) -> None:
        status, body = await self.client.post(envelope("Subscribe", STREAMING))
        found = re.search(rb"<m:SubscriptionId>([^<]+)</m:SubscriptionId>", body)
        expect(status == 200 and found is not None, f"Subscribe: HTTP {status} {body[:300]!r}")
        self.sub_id = found.group(1).decode()

    async def open(self) -> None:
        """GetStreamingEvents on the same connection; back once the first keep-alive came."""
        self.client.send(envelope("GetStreamingEvents", (
            f"<m:SubscriptionIds><t:SubscriptionId>{self.sub_id}</t:SubscriptionId></m:SubscriptionIds>"
            "<m:ConnectionTimeout>30</m:ConnectionTimeout>")))
        status, headers = await self.client.head()
        expect(status == 200 and headers.get("transfer-encoding") == "chunked",
                f"GetStreamingEvents: HTTP {status} {headers}")
        await self.until(b"<m:ConnectionStatus>OK</m:ConnectionStatus>")

    async def until(self, marker: bytes) -> float:
        """Read until ``marker`` has come; the perf_counter time it did."""
        while marker not in self.buffer:
            data = await self.client.reader.read(65536)
            if not data:
                raise HTTPError("the stream ended")
            self.buffer += data
        when = time.perf_counter()
        self.buffer = self.buffer[self.buffer.index(marker) + len(marker):]
        return when

    def close(self) -> None:
        self.client.close()


async def _open_streams(port: int, accounts: list, per: int) -> list:
    listeners = [Listener(port, user) for user in accounts for _ in range(per)]

    async def start(listener):
        await listener.subscribe()
        await listener.open()

    await bounded([start(lst) for lst in listeners], 100)
    return listeners


async def rss_figure(args, rows: dict) -> None:
    accounts = [account(a, "s") for a in range(args.stream_accounts)]
    per = args.streams // len(accounts)
    print(f"[rss] {len(accounts) * per} open GetStreamingEvents", flush=True)
    spec = {"accounts": accounts}
    if args.tracemalloc:
        spec["tracemalloc"] = "tracemalloc.txt"
    server = Server("rss", spec, args.profile)
    try:
        await server.settle()
        rows["rss_before_mb"] = server.rss_mb()
        t0 = time.perf_counter()
        listeners = await _open_streams(server.http, accounts, per)
        rows["rss_setup_s"] = time.perf_counter() - t0
        await server.settle()
        rows["streams_rss_mb"] = server.rss_mb()
        if args.tracemalloc:
            server.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(5)
            await server.settle()
            with open(os.path.join(server.dir, "tracemalloc.txt")) as f:
                with open(os.path.join(args.tracemalloc, "rss.txt"), "w") as out:
                    out.write(f.read())
        # Every stream still open: each answers a delivery to its account.
        rows["streams_open"] = sum(1 for lst in listeners if lst.client.reader is not None
                                   and not lst.client.reader.at_eof())
        for lst in listeners:
            lst.close()
    finally:
        rows["rss_log_tracebacks"] = server.problems()
        server.stop()


async def push_figure(args, rows: dict) -> None:
    accounts = [account(a, "p") for a in range(args.push_accounts)]
    per = args.push_streams // len(accounts)
    print(f"[push] {len(accounts) * per} streams; {len(accounts)} deliveries over LMTP", flush=True)
    server = Server("push", {"accounts": accounts}, args.profile)
    try:
        listeners = await _open_streams(server.http, accounts, per)
        await server.settle()
        lmtp = LMTP()
        await lmtp.connect(server.lmtp)
        latencies, replies, after_reply, missing = [], [], [], 0
        for a, user in enumerate(accounts):
            mine = listeners[a * per:(a + 1) * per]
            waits = [asyncio.ensure_future(lst.until(b"NewMailEvent")) for lst in mine]
            message = make_message(10**6 + a, user)
            stuffed = message.replace(b"\r\n.", b"\r\n..")
            lmtp.writer.write(f"MAIL FROM:<load@example.net>\r\nRCPT TO:<{user}>\r\nDATA\r\n".encode())
            for _ in range(3):
                await lmtp._reply()
            t0 = time.perf_counter()
            lmtp.writer.write(stuffed + b".\r\n")
            await lmtp._reply()
            # The delivery's own part (the durable append, acknowledged), apart from
            # what the notification adds after it.
            replied = time.perf_counter()
            replies.append(replied - t0)
            done, pending = await asyncio.wait(waits, timeout=10)
            missing += len(pending)
            for w in pending:
                w.cancel()
            latencies += [w.result() - t0 for w in done]
            after_reply += [w.result() - replied for w in done]
        lmtp.close()
        rows["push_answers"] = len(latencies)
        rows["push_expected"] = len(accounts) * per
        rows["push_missing"] = missing
        rows["push_p50_ms"] = pct(latencies, 50) * 1000
        rows["push_p99_ms"] = pct(latencies, 99) * 1000 if not missing else float("inf")
        rows["push_max_ms"] = max(latencies) * 1000 if latencies else float("nan")
        rows["push_reply_p50_ms"] = pct(replies, 50) * 1000
        rows["push_reply_max_ms"] = max(replies) * 1000 if replies else float("nan")
        rows["push_after_reply_p99_ms"] = pct(after_reply, 99) * 1000 if after_reply else float("nan")
        for lst in listeners:
            lst.close()
    finally:
        rows["push_log_tracebacks"] = server.problems()
        server.stop()


# ---------------------------------------------------------------------------------------


def report(rows: dict, args) -> None:
    print()
    print(f"EWS benchmark (store sqlite, Exchange2016, pages of {args.page})")
    print()
    print("| figure | value | target |")
    print("|---|---:|---|")

    def line(label, key, fmt, target="", verdict=None):
        value = rows
        try:
            for part in key.split("."):
                value = value[part]
        except (KeyError, TypeError):
            print(f"| {label} | n/a | {target} |")
            return
        text = format(value, fmt)
        mark = ""
        if verdict is not None:
            mark = " ok" if verdict(value) else " **MISSED**"
        print(f"| {label} | {text} | {target}{mark} |")

    for mode in ("persistent", "re-connect"):
        if "find" in args.figures:
            line(f"FindItem paging {args.items} msgs, IdOnly+Subject, {mode} (items/s)",
                 f"find_{mode}.items_s", ".0f", f">= {TARGETS['find_items_s']}",
                 lambda v: v >= TARGETS["find_items_s"])
            line(f"  server CPU per page, {mode} (ms)", f"find_{mode}.cpu_ms", ".1f")
    for mode in ("persistent", "re-connect"):
        if "get" in args.figures:
            line(f"GetItem {args.page} msgs with bodies per request, {mode} (items/s)",
                 f"get_{mode}.items_s", ".0f", f">= {TARGETS['get_items_s']}",
                 lambda v: v >= TARGETS["get_items_s"])
            line(f"  server CPU per request, {mode} (ms)", f"get_{mode}.cpu_ms", ".1f")
    if "rss" in args.figures:
        line("server RSS before the streams (MB)", "rss_before_mb", ".0f")
        line(f"server RSS with {args.streams} open GetStreamingEvents (MB)", "streams_rss_mb", ".0f",
             f"<= {TARGETS['streams_rss_mb']} MB", lambda v: v <= TARGETS["streams_rss_mb"])
        line("  streams still open when measured", "streams_open", "d")
        line(f"  subscribing and opening {args.streams} streams (s)", "rss_setup_s", ".1f")
    if "push" in args.figures:
        line(f"LMTP delivery -> NewMailEvent on the stream, p99 ({args.push_streams} streams, ms)",
             "push_p99_ms", ".1f", f"< {TARGETS['push_p99_ms']} ms", lambda v: v < TARGETS["push_p99_ms"])
        line("  p50 (ms)", "push_p50_ms", ".1f")
        line("  max (ms)", "push_max_ms", ".1f")
        line("  LMTP reply (the delivery, durable), p50 (ms)", "push_reply_p50_ms", ".1f")
        line("  LMTP reply, max (ms)", "push_reply_max_ms", ".1f")
        line("  event after the LMTP reply, p99 (ms; below 0: the event came first)",
             "push_after_reply_p99_ms", ".1f")
        if "push_answers" in rows:
            print(f"\nevents received {rows['push_answers']}/{rows['push_expected']} "
                  f"(none within 10 s: {rows['push_missing']})")
    tracebacks = sum(v for k, v in rows.items() if k.endswith("_log_tracebacks"))
    print(f"tracebacks in the servers' logs: {tracebacks}")
    print("load average before/after: %s / %s" % (
        " ".join(f"{x:.2f}" for x in args.load_before), " ".join(f"{x:.2f}" for x in os.getloadavg())))


async def run(args) -> dict:
    rows: dict = {}
    limit = raise_fd_limit()
    needed = max(args.streams, args.push_streams) + 200
    if needed > limit:
        raise SystemExit(f"open-file limit {limit} is too low for {needed} connections")
    if args.figures & {"find", "get"}:
        await read_figures(args, rows)
    if "rss" in args.figures:
        await rss_figure(args, rows)
    if "push" in args.figures:
        await push_figure(args, rows)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", help="comma-separated: find, get, rss, push")
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--stream-accounts", type=int, default=50)
    ap.add_argument("--push-streams", type=int, default=1000)
    ap.add_argument("--push-accounts", type=int, default=100)
    ap.add_argument("--profile", help="write each server's cProfile statistics in this directory")
    ap.add_argument("--tracemalloc", help="trace the rss server's allocations (slow; its RSS is then "
                    "not the figure) and write the largest, with the streams open, to DIR/rss.txt")
    ap.add_argument("--no-freeze-gc", action="store_true",
                    help="the servers do not freeze their start-up objects (as before e469c5d)")
    ap.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global FREEZE_GC
    FREEZE_GC = not args.no_freeze_gc
    if args.serve:
        serve(*args.serve)
        return
    if args.quick:
        args.items, args.streams, args.stream_accounts = 500, 500, 10
        args.push_streams, args.push_accounts = 100, 10
    for directory in (args.profile, args.tracemalloc):
        if directory:
            os.makedirs(directory, exist_ok=True)
    args.figures = set(args.only.split(",")) if args.only else {"find", "get", "rss", "push"}
    args.load_before = os.getloadavg()
    rows = asyncio.run(run(args))
    report(rows, args)


if __name__ == "__main__":
    main()
