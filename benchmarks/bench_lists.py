"""Add to Outlook (the Lists service) benchmark (issue 18): GetListItemChangesSinceToken
over a 10,000-event calendar.

    .venv/bin/python benchmarks/bench_lists.py [--quick] [--events 10000] [--page 100]
        [--runs 5] [--cold 3] [--profile DIR]

``--quick`` is a smoke run (500 events, 2 runs, 1 cold start of each kind).

Figures and targets (issue 18: "GetListItemChangesSinceToken for a 10,000-event
calendar, first call and after 10 changes: under 1 s and under 20 ms of server time"):

1. ``first sync, one call``: GetListItemChangesSinceToken without a token and without a
   rowLimit -- the schema and every item in one answer. Target < 1 s of server time.
2. ``first sync, paged``: the same, ``rowLimit`` ``--page`` (100) a call, each next call
   carrying the ``ListItemCollectionPositionNext`` of the one before until none comes:
   server time of all the calls together, and of the worst single call. Target < 1 s
   (the sum).
3. ``after 10 changes``: 10 events changed over CalDAV (PUT of a new SUMMARY), then
   GetListItemChangesSinceToken with the token of the full sync. Target < 20 ms.
4. ``RSS after the first sync``: the server process' resident memory once the first
   syncs are done (and at start, beside it).
5. ``probe during a first sync``: GetList of the same list from a second client every
   20 ms while a one-call first sync of another device runs; the worst latency says
   whether the long request stalls the others (no target in the issue; issue 14's
   "no request stalls the server" is the spirit).

Server time is what the endpoint itself reports in its ``Server-Timing: op;dur=`` header:
the operation's handler and the SOAP envelope, from after the device's lock to the
answer's bytes (login, HTTP parsing and sending are not in it); ``cpu;dur=`` beside it
is the CPU the server process spent meanwhile (all its threads: on a loaded machine
wall time is longer than CPU time); the client's round trip (request sent -> last byte
read, over a kept-alive connection) is printed too.

Each first-sync run is a new device (its own User-Agent, so its own item IDs), as a new
Outlook would be. "cold" runs are the first sync after the server process started
(nothing converted yet: each is a new server process over the same store; ``--cold``
processes for the one-call sync and as many for the paged one); "warm" runs are later
devices on the same process (``--runs`` of each). p50 / p95 / worst are over the runs.

The server runs in its own process (this script with ``--serve``), the Lists service
and CalDAV on one HTTP site as ``smsync serve`` runs them
(``smsync.testing.servers.RunningServers``, what is alive at start-up frozen out of the
garbage collector's sight as a server process does), over the ``sqlite:`` store in a temporary
directory filled before the first start (through the store), logging to a file there.
The events are realistic: Europe/Berlin, America/New_York and UTC times, all-day ones,
a third recurring (weekly, bounded or not) with deleted and changed occurrences,
organizer, attendees, an alarm and a description. The machine's load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchsupport import PASSWORD, VTIMEZONE, ServerProcess, add_accounts, fill_calendar, fold, load, pct  # noqa: E402
import benchsupport  # noqa: E402

USER = "outlook@example.org"
SERVICE = "/lists/_vti_bin/Lists.asmx"
CALENDAR = f"/dav/calendars/{USER}/calendar/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SP = "http://schemas.microsoft.com/sharepoint/soap/"
TARGETS = {"first_ms": 1000, "paged_ms": 1000, "changes_ms": 20}

NEW_YORK = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""


# ---------------------------------------------------------------------------------------
# The calendar


def make_event(i: int, summary: str = "") -> bytes:
    """Event ``i``: timed in Europe/Berlin (most), America/New_York (1 in 5) or UTC (1 in
    7), all-day (1 in 10); a third recur weekly (every third of those without end), with
    a deleted occurrence (1 in 6 series) and a changed one (1 in 9: a second VEVENT with
    RECURRENCE-ID); organizer, three attendees, an alarm, a description."""
    day = 1 + i % 28
    month = 1 + (i // 28) % 12
    year = 2025 + (i // 336) % 3
    hour = 8 + i % 10
    all_day = i % 10 == 7
    zone = "UTC" if i % 7 == 0 else ("America/New_York" if i % 5 == 4 else "Europe/Berlin")
    date = f"{year}{month:02d}{day:02d}"

    def at(h: int, m: int = 0, d: str = date) -> str:
        if all_day:
            return f";VALUE=DATE:{d}"
        if zone == "UTC":
            return f":{d}T{h:02d}{m:02d}00Z"
        return f";TZID={zone}:{d}T{h:02d}{m:02d}00"

    recurring = i % 3 == 0
    description = ("Agenda: review of the quarter, next steps, open questions. " * 6).strip()
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//smsync//bench lists//EN"]
    if not all_day and zone == "Europe/Berlin":
        head += VTIMEZONE.split("\n")
    elif not all_day and zone == "America/New_York":
        head += NEW_YORK.split("\n")
    uid = f"lists-bench-{i}@example.org"
    people = [f"ORGANIZER;CN=Organizer {i % 7}:mailto:organizer{i % 7}@example.org",
              "ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ann@example.org",
              "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org",
              f"ATTENDEE;CN=Cy;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:cy{i % 5}@example.org"]
    alarm = ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M", "END:VALARM"]
    end = f";VALUE=DATE:{_plus_weeks(year, month, day, 0, 1)}" if all_day else at(hour, 45)
    master = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"DTSTART{at(hour)}",
              f"DTEND{end}", f"SUMMARY:{summary or f'Meeting {i} about topic {i % 53}'}",
              f"LOCATION:Room {i % 20}", f"DESCRIPTION:{description}", *people]
    overrides = []
    if recurring:
        master.append("RRULE:FREQ=WEEKLY" + ("" if i % 9 == 3 else ";COUNT=20"))
        if i % 18 == 0:
            master.append(f"EXDATE{at(hour, d=_plus_weeks(year, month, day, 1))}")
        if i % 27 == 0:
            rid = _plus_weeks(year, month, day, 2)
            overrides = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z",
                         f"RECURRENCE-ID{at(hour, d=rid)}",
                         f"DTSTART{at(hour + 1, d=rid)}",
                         f"DTEND{f';VALUE=DATE:{_plus_weeks(year, month, day, 2, 1)}' if all_day else at(hour + 1, 45, rid)}",
                         f"SUMMARY:Meeting {i} (moved)", *people, *alarm, "END:VEVENT"]
    lines = head + master + alarm + ["END:VEVENT"] + overrides + ["END:VCALENDAR"]
    return ("\r\n".join(fold(x) for x in lines) + "\r\n").encode()


def _plus_weeks(year: int, month: int, day: int, weeks: int, days: int = 0) -> str:
    from datetime import date, timedelta

    when = date(year, month, day) + timedelta(weeks=weeks, days=days)
    return f"{when:%Y%m%d}"


# ---------------------------------------------------------------------------------------
# The server process


def serve(directory: str, spec_file: str) -> None:
    """Fill the SQLite store in ``directory`` when the spec says so, then serve the Lists
    service and CalDAV over it on 127.0.0.1 until SIGTERM; the port goes to
    ``directory/ports``."""
    benchsupport.serve(directory, spec_file, ("lists", "caldav"), _fill)


async def _fill(uri: str, spec: dict) -> None:
    from smsync.store.registry import open_store

    if not spec.get("fill"):
        return
    store = await open_store(uri)
    await add_accounts(store, [USER])
    await fill_calendar(store, USER, spec["fill"], make_event)
    await store.close()


class Server(ServerProcess):
    """This script's ``--serve`` in a child process over the store in ``directory``."""

    def __init__(self, directory: str, fill: int = 0, profile=None):
        spec = {"fill": fill}
        if profile:
            spec["profile"] = profile
        super().__init__(__file__, spec, directory)
        self.port = self.ports["http"]


# ---------------------------------------------------------------------------------------
# The client: raw HTTP/1.1 over asyncio, one kept-alive connection


class Client:
    def __init__(self, port: int, agent: str):
        self.port = port
        self.agent = agent
        self.reader = self.writer = None
        self.cpu_ms = 0.0
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    async def request(self, method: str, path: str, body: bytes, headers: dict) -> tuple:
        """``(status, headers, body, seconds)``: the round trip from the request's first
        byte sent to the answer's last read."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {self.auth}",
                f"User-Agent: {self.agent}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        started = time.perf_counter()
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        got = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                got[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(got.get("content-length", "0")))
        return int(lines[0].split()[1]), got, payload, time.perf_counter() - started

    async def soap(self, operation: str, params: str) -> tuple:
        """``(body, server ms, round-trip ms)`` of one Lists operation."""
        body = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
                f'<{operation} xmlns="{SP}">{params}</{operation}></soap:Body></soap:Envelope>').encode()
        status, headers, payload, seconds = await self.request("POST", SERVICE, body, {
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SP}{operation}"'})
        if status != 200:
            raise RuntimeError(f"{operation}: HTTP {status}: {payload[:300]!r}")
        match = re.search(r"op;dur=([0-9.]+), cpu;dur=([0-9.]+)", headers.get("server-timing", ""))
        if match is None:
            raise RuntimeError("no Server-Timing in the answer")
        self.cpu_ms = float(match.group(2))
        return payload, float(match.group(1)), seconds * 1000

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


# As MS-OUTSPS 3.1.4.7 describes Outlook's request (tests/protocols/lists's since_token).
VIEW_FIELDS = ('<viewFields><ViewFields Properties="TRUE"><FieldRef Name="ID"/><FieldRef Name="Title"/>'
               '<FieldRef Name="owshiddenversion"/><FieldRef Name="PermMask"/><FieldRef Name="MetaInfo"/>'
               '</ViewFields></viewFields>')
QUERY_OPTIONS = ('<queryOptions><QueryOptions><ViewAttributes Scope="RecursiveAll"/><DateInUtc>TRUE</DateInUtc>'
                 '<IncludePermissions>FALSE</IncludePermissions><ExpandUserField>TRUE</ExpandUserField>'
                 '<IncludeAttachmentUrls>TRUE</IncludeAttachmentUrls>'
                 '<IncludeAttachmentVersion>TRUE</IncludeAttachmentVersion>'
                 '<RecurrenceOrderBy>TRUE</RecurrenceOrderBy><MeetingInstanceID>-1</MeetingInstanceID>'
                 '<OptimizeFor>FolderUrls</OptimizeFor>{paging}</QueryOptions></queryOptions>')
_TOKEN = re.compile(rb'LastChangeToken="([^"]+)"')
_NEXT = re.compile(rb'ListItemCollectionPositionNext="([^"]+)"')
_ITEM_COUNT = re.compile(rb'ItemCount="(\d+)"')
_ROW_ID = re.compile(rb'<z:row [^>]*ows_ID="(\d+)"')


def since_token(guid: str, token=None, row_limit=None, position=None) -> str:
    paging = f'<Paging ListItemCollectionPositionNext="{position.replace("&", "&amp;")}"/>' if position else ""
    params = f"<listName>{guid}</listName>{VIEW_FIELDS}{QUERY_OPTIONS.format(paging=paging)}"
    if row_limit:
        params += f"<rowLimit>{row_limit}</rowLimit>"
    if token:
        params += f"<changeToken>{token}</changeToken>"
    return params


async def list_guid(client: Client) -> str:
    body, _, _ = await client.soap("GetList", "<listName>calendar</listName>")
    return re.search(rb' ID="(\{[0-9A-F-]{36}\})"', body).group(1).decode()


async def first_sync(client: Client, guid: str, page=None) -> dict:
    """One device's first sync, in one call or paged; its figures and token."""
    server = trip = worst = cpu = 0.0
    ids = set()
    position = None
    calls = 0
    while True:
        body, s_ms, rt_ms = await client.soap("GetListItemChangesSinceToken",
                                              since_token(guid, row_limit=page, position=position))
        calls += 1
        cpu += client.cpu_ms
        server += s_ms
        trip += rt_ms
        worst = max(worst, s_ms)
        ids.update(_ROW_ID.findall(body))
        token = _TOKEN.search(body).group(1).decode()
        found = _NEXT.search(body)
        if found is None:
            break
        position = found.group(1).decode().replace("&amp;", "&")
    return {"server_ms": server, "cpu_ms": cpu, "trip_ms": trip, "worst_call_ms": worst, "calls": calls,
            "rows": len(ids), "token": token}


async def caldav_changes(port: int, round_no: int, count: int, total: int) -> None:
    """``count`` events changed over CalDAV (a new SUMMARY each)."""
    client = Client(port, "bench-caldav")
    try:
        step = max(1, total // count)
        for k in range(count):
            i = (k * step + round_no * 7) % total
            status, _, body, _ = await client.request(
                "PUT", f"{CALENDAR}event-{i}.ics", make_event(i, f"Changed {round_no}.{k}"),
                {"Content-Type": "text/calendar; charset=utf-8"})
            if status not in (201, 204):
                raise RuntimeError(f"PUT event-{i}.ics: HTTP {status} {body[:200]!r}")
    finally:
        client.close()


async def probe(port: int, guid: str, stop: asyncio.Event) -> list:
    """GetList latencies (ms) from another device every 20 ms until ``stop``."""
    client = Client(port, "bench-probe")
    out = []
    try:
        while not stop.is_set():
            _, _, rt_ms = await client.soap("GetList", f"<listName>{guid}</listName>")
            out.append(rt_ms)
            await asyncio.sleep(0.02)
    finally:
        client.close()
    return out


# ---------------------------------------------------------------------------------------
# Runs


async def one_server(server: Server, args, figures: dict, first: bool, device_base: int,
                     paged_first: bool = False) -> None:
    """The figures one server process gives: its cold sync (one call, or paged when
    ``paged_first``), then (``first``: on the process that also measures the rest) warm
    syncs, paged syncs, changes, the probe."""
    guid = await list_guid(Client(server.port, "bench-setup"))
    client = Client(server.port, f"Microsoft Office/16.0 (bench device {device_base})")
    result = await first_sync(client, guid, page=args.page if paged_first else None)
    client.close()
    if result["rows"] < args.events:
        raise RuntimeError(f"first sync: {result['rows']} rows for {args.events} events")
    figures["cold_paged" if paged_first else "cold_one"].append(result)
    if not first:
        return
    for run in range(args.runs):
        client = Client(server.port, f"Microsoft Office/16.0 (bench device {device_base}.{run})")
        figures["warm_one"].append(await first_sync(client, guid))
        client.close()
    figures["rss_after_first"] = server.rss_mb()
    for run in range(args.runs):
        client = Client(server.port, f"Microsoft Office/16.0 (bench paged {device_base}.{run})")
        paged = await first_sync(client, guid, page=args.page)
        figures["paged"].append(paged)
        # 10 changes, then the next call with the token (same device).
        await caldav_changes(server.port, run, 10, args.events)
        body, s_ms, rt_ms = await client.soap("GetListItemChangesSinceToken",
                                              since_token(guid, token=paged["token"]))
        changed = len(_ROW_ID.findall(body))
        if changed < 10:
            raise RuntimeError(f"after 10 changes: {changed} rows")
        figures["changes"].append({"server_ms": s_ms, "cpu_ms": client.cpu_ms, "trip_ms": rt_ms,
                                   "rows": changed})
        # Nothing changed: the sync Outlook makes most often.
        token = _TOKEN.search(body).group(1).decode()
        _, s_ms, rt_ms = await client.soap("GetListItemChangesSinceToken", since_token(guid, token=token))
        figures["nothing"].append({"server_ms": s_ms, "trip_ms": rt_ms})
        client.close()
    figures["rss_end"] = server.rss_mb()
    # The probe: another device's GetList while a new device's one-call first sync runs.
    stop = asyncio.Event()
    task = asyncio.ensure_future(probe(server.port, guid, stop))
    await asyncio.sleep(0.1)
    client = Client(server.port, f"Microsoft Office/16.0 (bench probed {device_base})")
    await first_sync(client, guid)
    client.close()
    stop.set()
    figures["probe"] = await task


def _stats(values) -> str:
    if not values:
        return "-"
    return f"{pct(values, 50):8.1f} {pct(values, 95):8.1f} {max(values):8.1f}"


def report(figures: dict, args) -> None:
    print()
    print(f"Lists benchmark: {args.events} events, page {args.page}, {args.runs} warm runs, "
          f"{args.cold} cold starts of each kind; load average {figures['load_before']} before, {load()} after")
    print(f"{'figure':52s} {'p50':>8s} {'p95':>8s} {'worst':>8s}   target")
    rows = [
        ("first sync, one call, cold: server ms", [r["server_ms"] for r in figures["cold_one"]], "< 1000"),
        ("first sync, one call, cold: server CPU ms", [r["cpu_ms"] for r in figures["cold_one"]], ""),
        ("first sync, one call, cold: round trip ms", [r["trip_ms"] for r in figures["cold_one"]], ""),
        ("first sync, one call, warm: server ms", [r["server_ms"] for r in figures["warm_one"]], "< 1000"),
        ("first sync, one call, warm: server CPU ms", [r["cpu_ms"] for r in figures["warm_one"]], ""),
        ("first sync, one call, warm: round trip ms", [r["trip_ms"] for r in figures["warm_one"]], ""),
        (f"first sync, pages of {args.page}, cold: server ms (sum)",
         [r["server_ms"] for r in figures["cold_paged"]], "< 1000"),
        (f"first sync, pages of {args.page}, cold: server CPU ms",
         [r["cpu_ms"] for r in figures["cold_paged"]], ""),
        (f"first sync, pages of {args.page}, cold: round trip ms",
         [r["trip_ms"] for r in figures["cold_paged"]], ""),
        (f"first sync, pages of {args.page}: server ms (sum)", [r["server_ms"] for r in figures["paged"]], "< 1000"),
        (f"first sync, pages of {args.page}: server CPU ms", [r["cpu_ms"] for r in figures["paged"]], ""),
        (f"first sync, pages of {args.page}: round trip ms", [r["trip_ms"] for r in figures["paged"]], ""),
        (f"first sync, pages of {args.page}: worst call ms", [r["worst_call_ms"] for r in figures["paged"]], ""),
        ("after 10 changes: server ms", [r["server_ms"] for r in figures["changes"]], "< 20"),
        ("after 10 changes: server CPU ms", [r["cpu_ms"] for r in figures["changes"]], ""),
        ("after 10 changes: round trip ms", [r["trip_ms"] for r in figures["changes"]], ""),
        ("nothing changed: server ms", [r["server_ms"] for r in figures["nothing"]], ""),
        ("probe GetList during a first sync: ms", figures.get("probe", []), ""),
    ]
    for label, values, target in rows:
        print(f"{label:52s} {_stats(values)}   {target}")
    paged = figures["paged"][0] if figures["paged"] else {}
    print("cold runs, server ms: " + ", ".join(f"{r['server_ms']:.0f}" for r in figures["cold_one"]))
    print(f"rows in a first sync: {figures['cold_one'][0]['rows']}; paged: {paged.get('calls')} calls")
    print(f"server RSS: {figures['rss_start']:.0f} MB at start, {figures['rss_after_first']:.0f} MB after "
          f"the first syncs, {figures['rss_end']:.0f} MB at the end")
    # The targets are the first call and the call after 10 changes; the sum of a
    # paged first sync is held to the same second here, and said apart.
    ok = (max(r["server_ms"] for r in figures["cold_one"] + figures["warm_one"]) < TARGETS["first_ms"]
          and pct([r["server_ms"] for r in figures["changes"]], 95) < TARGETS["changes_ms"])
    paged_ok = max(r["server_ms"] for r in figures["paged"] + figures["cold_paged"]) < TARGETS["paged_ms"]
    print("issue targets (first call, after 10 changes) " + ("met" if ok else "NOT met"))
    print("paged first sync within 1 s in all: " + ("yes" if paged_ok else "NO"))
    print(f"tracebacks in the server logs: {figures['problems']}")


async def run(args) -> dict:
    figures = {"cold_one": [], "cold_paged": [], "warm_one": [], "paged": [], "changes": [], "nothing": [],
               "load_before": load(), "problems": 0}
    directory = tempfile.mkdtemp(prefix="smsync-bench-lists-")
    try:
        started = time.time()
        profile = os.path.join(os.path.abspath(args.profile), "lists.pstats") if args.profile else None
        server = Server(directory, fill=args.events, profile=profile)
        print(f"store filled with {args.events} events in {time.time() - started:.0f} s", flush=True)
        try:
            figures["rss_start"] = server.rss_mb()
            await one_server(server, args, figures, True, 0)
        finally:
            server.stop()
        for cold in range(1, 2 * args.cold):
            server = Server(directory)
            try:
                await one_server(server, args, figures, False, cold, paged_first=cold % 2 == 1)
            finally:
                server.stop()
        # Every process logged to the one file.
        figures["problems"] = server.problems()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write DIR/lists.pstats (first server)")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs, args.cold = 500, 2, 1
    figures = asyncio.run(run(args))
    report(figures, args)


if __name__ == "__main__":
    main()
