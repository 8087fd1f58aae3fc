"""Exchange Web Services benchmark (issue 16): FindItem paging and GetItem, end to end.

    .venv/bin/python benchmarks/bench_ews.py [--quick] [--messages 10000] [--page 100]

Figures and targets:

1. ``FindItem``: paging through an Inbox of ``--messages`` messages ``--page`` at a
   time (IndexedPageItemView, IdOnly plus the subject): items per second from the first
   page asked to the last answered. Target >= 3,000 items/s.
2. ``GetItem``: the whole Inbox read back ``--page`` messages per request (Default
   shape, bodies as text): items per second. Target >= 1,000 items/s.
3. ``streams RSS``: ``--streams`` (5,000) streaming subscriptions, 50 per account, each
   with its GetStreamingEvents connection open (ConnectionTimeout 30): resident memory
   of the whole server process once every one has had its first keep-alive. Target
   <= 200 MB (the idle server's RSS is printed beside it).
4. ``push p99``: then one message per account is delivered over LMTP, one account after
   the other; latency from the LMTP reply to the DATA to each of that account's 50
   streams receiving its NewMailEvent. Target p99 < 100 ms.

The server runs in its own process (this script with ``--serve``) through the
production start-up path (``smsync.testing.servers.RunningServers``) over the
``sqlite:`` store in a temporary directory, filled before it starts; the client is
raw HTTP/1.1 over one keep-alive connection (``http.client``) with smsync's own SOAP
codec. Every answer is checked: HTTP 200, NoError, the subjects of every message
exactly once. ``--quick`` is a smoke run of 500 messages.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

USER = "bench@example.org"
PASSWORD = "bench password"
EWS = "/EWS/Exchange.asmx"


def make_message(i: int) -> bytes:
    body = (f"Line {i} of a benchmark message.\r\n" * 40).encode()
    return (f"From: Sender {i % 50} <sender{i % 50}@example.net>\r\nTo: {USER}\r\n"
            f"Subject: bench message {i}\r\nMessage-ID: <b{i}@example.net>\r\n"
            f"Date: Mon, 5 Jan 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            ).encode() + body


def stream_account(n: int) -> str:
    return f"stream{n}@example.org"


def serve(directory: str, count: int, stream_accounts: int = 0) -> None:
    """Fill a fresh SQLite store with ``count`` messages (and ``stream_accounts`` more
    accounts), then serve EWS and LMTP on 127.0.0.1 until SIGTERM; the ports go to
    ``directory/port``."""
    from twisted.internet import defer, reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    logfile = open(os.path.join(directory, "server.log"), "a")
    globalLogBeginner.beginLoggingTo([textFileLogObserver(logfile)], redirectStandardIO=False)

    async def main():
        from smsync.auth import hash_password
        from smsync.store.registry import open_store
        from smsync.testing.servers import RunningServers

        uri = f"sqlite:///{directory}/store"
        store = await open_store(uri)
        hashed = hash_password(PASSWORD)
        await store.accounts.add(USER, hashed)
        for n in range(stream_accounts):
            await store.accounts.add(stream_account(n), hashed)
        inbox = await (await store.mail(USER)).mailbox("INBOX")
        for first in range(0, count, 200):
            await defer.gatherResults([defer.ensureDeferred(inbox.append(make_message(i)))
                                       for i in range(first, min(first + 200, count))])
        await store.close()
        running = await RunningServers.start(("ews", "lmtp"), uri, accounts=(), directory=directory)
        with open(os.path.join(directory, "port.tmp"), "w") as f:
            json.dump({"http": running.port("http"), "lmtp": running.port("lmtp")}, f)
        os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))

    def failed(failure):
        failure.printTraceback()
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.Deferred.fromCoroutine(main()).addErrback(failed))
    reactor.run()


class Client:
    """One keep-alive connection posting SOAP requests."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "text/xml; charset=utf-8"}

    def call(self, name: str, xml: str):
        from lxml import etree

        from smsync.protocols.ews import soap

        op = etree.fromstring(f'<m:{name} xmlns:m="{soap.M}" xmlns:t="{soap.T}">{xml}</m:{name}>')
        self.conn.request("POST", EWS, body=soap.request_envelope(op), headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SystemExit(f"{name}: HTTP {response.status}: {payload[:300]!r}")
        answer = soap.read_response(payload)
        for message in soap.messages_of(answer.payload):
            code = message.findtext(soap.m("ResponseCode"))
            if code != "NoError":
                raise SystemExit(f"{name}: {code}")
        return answer


def find_all(client: Client, page: int) -> tuple[list, list, float]:
    from smsync.protocols.ews import soap

    ids, subjects, offset = [], [], 0
    start = time.perf_counter()
    while True:
        answer = client.call("FindItem", (
            '<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
            '<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>'
            f'<m:IndexedPageItemView MaxEntriesReturned="{page}" Offset="{offset}" BasePoint="Beginning"/>'
            '<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds>'))
        root = soap.messages_of(answer.payload)[0].find(soap.m("RootFolder"))
        items = list(root.find(soap.t("Items")))
        ids += [i.find(soap.t("ItemId")).get("Id") for i in items]
        subjects += [i.findtext(soap.t("Subject")) for i in items]
        offset += len(items)
        if root.get("IncludesLastItemInRange") == "true":
            return ids, subjects, time.perf_counter() - start


def get_all(client: Client, ids: list, page: int) -> tuple[list, float]:
    from smsync.protocols.ews import soap

    subjects = []
    start = time.perf_counter()
    for first in range(0, len(ids), page):
        xml = "".join(f'<t:ItemId Id="{i}"/>' for i in ids[first:first + page])
        answer = client.call("GetItem", '<m:ItemShape><t:BaseShape>Default</t:BaseShape>'
                             '<t:BodyType>Text</t:BodyType></m:ItemShape>'
                             f'<m:ItemIds>{xml}</m:ItemIds>')
        for message in soap.messages_of(answer.payload):
            item = message.find(f"{soap.m('Items')}/{soap.t('Message')}")
            if item is None or not item.findtext(soap.t("Body")):
                raise SystemExit("GetItem: a message without its body")
            subjects.append(item.findtext(soap.t("Subject")))
    return subjects, time.perf_counter() - start


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _soap(name: str, xml: str) -> bytes:
    from lxml import etree

    from smsync.protocols.ews import soap

    op = etree.fromstring(f'<m:{name} xmlns:m="{soap.M}" xmlns:t="{soap.T}">{xml}</m:{name}>')
    return soap.request_envelope(op)


class Stream:
    """One account's streaming subscription and its open GetStreamingEvents."""

    def __init__(self, port: int, user: str):
        self.port, self.user = port, user
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        self.auth = f"Authorization: Basic {token}\r\n"
        self.events: list = []
        self.first = None

    async def _post(self, body: bytes):
        import asyncio

        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write((f"POST {EWS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.auth}"
                      f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        await writer.drain()
        status = await reader.readline()
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers, reader, writer

    async def subscribe(self) -> None:
        import re

        status, headers, reader, writer = await self._post(_soap(
            "Subscribe", '<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
            '</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>'
            '</m:StreamingSubscriptionRequest>'))
        body = await reader.readexactly(int(headers["content-length"]))
        writer.close()
        self.sub_id = re.search(rb"<m:SubscriptionId>([^<]+)<", body).group(1).decode()

    async def listen(self) -> None:
        import asyncio

        _status, _headers, self.reader, self.writer = await self._post(_soap(
            "GetStreamingEvents", f"<m:SubscriptionIds><t:SubscriptionId>{self.sub_id}</t:SubscriptionId>"
            "</m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout>"))
        self.first = asyncio.get_running_loop().create_future()
        self.task = asyncio.ensure_future(self._read())
        await self.first

    async def _read(self) -> None:
        import time as clock

        while True:
            size = int((await self.reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            chunk = await self.reader.readexactly(size)
            await self.reader.readline()
            if not self.first.done():
                self.first.set_result(None)
            if b"NewMailEvent" in chunk:
                self.events.append(clock.perf_counter())

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def streaming(ports: dict, accounts: int, pid: int) -> tuple:
    import asyncio
    import smtplib

    idle = _rss_mb(pid)
    streams = [Stream(ports["http"], stream_account(n)) for n in range(accounts) for _ in range(50)]
    limit = asyncio.Semaphore(50)

    async def start(stream):
        async with limit:
            await stream.subscribe()
            await stream.listen()

    await asyncio.gather(*(start(s) for s in streams))
    await asyncio.sleep(2)
    rss = _rss_mb(pid)
    latencies, worst = [], []
    lmtp = smtplib.LMTP("127.0.0.1", ports["lmtp"])
    for n in range(accounts):
        mine = [s for s in streams if s.user == stream_account(n)]
        lmtp.sendmail("bench@example.net", [stream_account(n)], make_message(n))
        sent = time.perf_counter()
        deadline = sent + 10
        while any(not s.events for s in mine) and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        latencies += [(s.events[0] - sent) * 1000 for s in mine if s.events]
        worst.append((max((s.events[0] - sent) * 1000 for s in mine if s.events), n))
        missing = sum(1 for s in mine if not s.events)
        if missing:
            raise SystemExit(f"{missing} streams of {stream_account(n)} heard nothing")
    lmtp.quit()
    for s in streams:
        s.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    slow = sorted(worst, reverse=True)[:3]
    print("  slowest deliveries (ms, account number): " + ", ".join(f"{ms:.0f} (#{n})" for ms, n in slow))
    return idle, rss, len(streams), p99, latencies[len(latencies) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--streams", type=int, default=5000, help="streaming subscriptions (50 per account)")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return
    count = 500 if args.quick else args.messages
    accounts = max(1, (100 if args.quick else args.streams) // 50)
    directory = tempfile.mkdtemp(prefix="bench-ews-")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", directory, str(count), str(accounts)])
    try:
        port_file = os.path.join(directory, "port")
        deadline = time.monotonic() + 600
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        with open(port_file) as f:
            ports = json.load(f)
        client = Client(ports["http"])
        ids, found, find_time = find_all(client, args.page)
        expected = sorted(f"bench message {i}" for i in range(count))
        if sorted(found) != expected:
            raise SystemExit("FindItem: not every message exactly once")
        read, get_time = get_all(client, ids, args.page)
        if sorted(read) != expected:
            raise SystemExit("GetItem: not every message exactly once")
        load = os.getloadavg()[0]
        print(f"EWS, {count} messages, {args.page} a request (load average {load:.2f})")
        print(f"  FindItem: {count / find_time:8.0f} items/s   (target >= 3,000)"
              f"  {'met' if count / find_time >= 3000 else 'NOT met'}")
        print(f"  GetItem:  {count / get_time:8.0f} items/s   (target >= 1,000)"
              f"  {'met' if count / get_time >= 1000 else 'NOT met'}")
        import asyncio

        idle, rss, opened, p99, median = asyncio.run(streaming(ports, accounts, proc.pid))
        print(f"  streams RSS: {rss:8.1f} MB with {opened} streams open (idle {idle:.1f} MB)"
              f"   (target <= 200 MB)  {'met' if rss <= 200 else 'NOT met'}")
        print(f"  push p99:   {p99:8.1f} ms, median {median:.1f} ms   (target < 100 ms)"
              f"  {'met' if p99 < 100 else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
