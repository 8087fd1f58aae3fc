"""A client process measuring whether large WebDAV requests stall a server: it sends a
calendar-multiget of ``--count`` items and a large PROPFIND Depth 1 and, while they run,
times small requests on other connections (a CalDAV GET, an IMAP NOOP). Prints one JSON
object: the large requests' status, time and size, and p50/p99/max of each probe.

    python -m smsync.testing.stall_probe --http PORT [--imap PORT] --user U --password P
        --calendar /dav/calendars/U/calendar/ --count N [--pattern e{}.ics]
        [--propfind-bytes 1048576 | --no-propfind] [--rounds 1] [--rss-pid PID]

Used by ``tests/protocols/caldav/test_no_stall.py`` and ``benchmarks/bench_dav.py`` (which
points it at Radicale and Xandikos too); it needs only the standard library.

It is a separate process so that its own work (reading 50 MB of answers) does not
compete with the server for the interpreter lock: what it measures is the server.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import imaplib
import json
import statistics
import threading
import time
from pathlib import Path

CALDAV = "urn:ietf:params:xml:ns:caldav"


def propfind_body(size: int) -> bytes:
    """A PROPFIND of about ``size`` bytes: the etag and data of every event, and one
    unknown property whose content pads the body."""
    head = (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV}" '
            f'xmlns:X="http://example.org/pad/"><D:prop><D:getetag/><C:calendar-data/><X:padding>')
    tail = "</X:padding></D:prop></D:propfind>"
    return (head + "x" * max(0, size - len(head) - len(tail)) + tail).encode()


def multiget_body(calendar: str, names) -> bytes:
    hrefs = "".join(f"<D:href>{calendar}{n}</D:href>" for n in names)
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
            f'xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}'
            f"</C:calendar-multiget>").encode()


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(values) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2) if ms else None,
            "p99_ms": round(percentile(ms, 0.99), 2) if ms else None,
            "max_ms": round(max(ms), 2) if ms else None}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http", type=int, required=True)
    p.add_argument("--imap", type=int)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--calendar", required=True)
    p.add_argument("--count", type=int, required=True, help="items the multiget names")
    p.add_argument("--pattern", default="e{}.ics", help="item names, {} being 0..count-1")
    p.add_argument("--propfind-bytes", type=int, default=1024 * 1024)
    p.add_argument("--no-propfind", action="store_true")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--interval", type=float, default=0.005, help="seconds between probes")
    p.add_argument("--rss-pid", type=int)
    args = p.parse_args(argv)

    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    names = [args.pattern.format(i) for i in range(args.count)]
    get_path = args.calendar + names[len(names) // 2]
    heavy_results: dict = {}
    done = threading.Event()
    rss = {"before": rss_mib(args.rss_pid) if args.rss_pid else None, "peak": 0.0}

    def heavy(label, method, body, headers):
        conn = http.client.HTTPConnection(args.host, args.http, timeout=600)
        runs = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            conn.request(method, args.calendar, body=body,
                         headers={"Authorization": auth, "Content-Type": "application/xml", **headers})
            resp = conn.getresponse()
            data = resp.read()
            runs.append({"status": resp.status, "seconds": round(time.perf_counter() - start, 3),
                         "bytes": len(data), "responses": data.count(b"<D:response>"),
                         "chunked": resp.getheader("Transfer-Encoding") == "chunked"})
        conn.close()
        heavy_results[label] = runs

    threads = [threading.Thread(target=heavy, args=(
        "multiget", "REPORT", multiget_body(args.calendar, names), {"Depth": "1"}))]
    if not args.no_propfind:
        threads.append(threading.Thread(target=heavy, args=(
            "propfind", "PROPFIND", propfind_body(args.propfind_bytes), {"Depth": "1"})))

    latencies = {"imap_noop": [], "caldav_get": []}
    errors: list[str] = []

    def probe_imap():
        client = imaplib.IMAP4(args.host, args.imap)
        client.login(args.user, args.password)
        while not done.is_set():
            start = time.perf_counter()
            typ, _ = client.noop()
            latencies["imap_noop"].append(time.perf_counter() - start)
            if typ != "OK":
                errors.append(f"NOOP {typ}")
            time.sleep(args.interval)
        client.logout()

    def probe_get():
        conn = http.client.HTTPConnection(args.host, args.http, timeout=600)
        while not done.is_set():
            start = time.perf_counter()
            conn.request("GET", get_path, headers={"Authorization": auth})
            resp = conn.getresponse()
            resp.read()
            latencies["caldav_get"].append(time.perf_counter() - start)
            if resp.status != 200:
                errors.append(f"GET {resp.status}")
            time.sleep(args.interval)
        conn.close()

    def watch_rss():
        while not done.is_set():
            rss["peak"] = max(rss["peak"], rss_mib(args.rss_pid))
            time.sleep(0.02)

    probes = [threading.Thread(target=probe_get)]
    if args.imap:
        probes.append(threading.Thread(target=probe_imap))
    if args.rss_pid:
        probes.append(threading.Thread(target=watch_rss))
    for t in probes:
        t.start()
    time.sleep(0.2)  # the probes are connected and logged in before the load starts
    for t in latencies.values():
        t.clear()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    done.set()
    for t in probes:
        t.join()
    out = {"heavy": heavy_results, "seconds": round(elapsed, 3), "errors": errors[:10],
           **{k: summary(v) for k, v in latencies.items() if v}}
    if args.rss_pid:
        out["rss_mib"] = {"before": round(rss["before"], 1), "peak": round(rss["peak"], 1),
                          "after": round(rss_mib(args.rss_pid), 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
