"""SyncML benchmark (issue 15): a client's slow sync into an empty address book, then an
incremental sync of 10 changes.

    .venv/bin/python benchmarks/bench_syncml.py [--items 5000] [--encoding xml|wbxml|both]
        [--store memory:|SQLITE]

Figures and targets:

1. ``slow sync``: a raw SyncML 1.2 client (our codec, urllib, 127.0.0.1) sends ``--items``
   vCard 3.0 contacts in a slow sync (Alert 201), about 100 per message (MaxMsgSize
   150,000 as SyncEvolution's), into an empty address book; items per second from the
   first Sync message to the server's Final. Target >= 500 items/s, XML and WBXML.
2. ``incremental``: the next session (Alert 200, anchors matching) sends 10 Replace;
   the time the server took to answer the Sync message (the client builds its message
   before the clock starts). Target < 100 ms.
3. ``session memory``: tracemalloc's figure for the memory the open sessions of the
   endpoint hold after the slow sync's last message, divided by their number.

The server runs in this process (``smsync.testing.servers.RunningServers``), the client
in a thread: both share the machine's cores, as on a small server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import defer, reactor, threads  # noqa: E402

from smsync.testing.servers import PASSWORD, SQLITE, USER, RunningServers  # noqa: E402
from tests.protocols.syncml.raw import (  # noqa: E402
    RawSyncML,
    alert,
    b,
    basic_cred,
    is_final,
    meta,
    mi,
    status_of,
)


def contact(n: int, tag: str = "") -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-{n}@example.org\r\nFN:Person {n}{tag}\r\n"
            f"N:{n};Person;;;\r\nEMAIL;TYPE=INTERNET:person{n}@example.org\r\n"
            f"TEL;TYPE=CELL:+49 170 {n:07d}\r\nORG:Example Corp\r\nEND:VCARD\r\n")


def add(client, n):
    return client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", f"L{n}"), b.leaf("Data", contact(n))))


def run_client(url: str, items: int, encoding: str, per_message: int = 100):
    client = RawSyncML(url, USER, PASSWORD, f"bench-{encoding}-{time.time_ns()}", encoding)
    status, root = client.send(alert(client, 201, "addressbook", None, "a1", "./addressbook"),
                               cred=basic_cred(USER, PASSWORD), max_msg=150000)
    assert status_of(root, "SyncHdr") == ["212"], root
    start = time.perf_counter()
    for first in range(0, items, per_message):
        last_batch = first + per_message >= items
        cmds = [add(client, n) for n in range(first, min(items, first + per_message))]
        sync = client.cmd("Sync", b.loc("Target", "addressbook"), b.loc("Source", "./addressbook"), *cmds)
        status, root = client.send(sync, final=last_batch, max_msg=150000)
        assert status == 200 and status_of(root, "Add").count("201") == len(cmds), status_of(root, "Add")[:3]
    while not is_final(root):
        status, root = client.send(alert(client, 222, "addressbook", None, "x"), final=False, max_msg=150000)
    slow = items / (time.perf_counter() - start)
    client.send()  # the client's last package
    # Incremental: 10 changes.
    client.new_session()
    status, root = client.send(alert(client, 200, "addressbook", "a1", "a2", "./addressbook"),
                               cred=basic_cred(USER, PASSWORD), max_msg=150000)
    assert status_of(root, "Alert") == ["200"], root
    cmds = [client.cmd("Replace", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", f"L{n}"), b.leaf("Data", contact(n, " (changed)")))) for n in range(10)]
    sync = client.cmd("Sync", b.loc("Target", "addressbook"), b.loc("Source", "./addressbook"), *cmds)
    start = time.perf_counter()
    status, root = client.send(sync, max_msg=150000)
    incremental = (time.perf_counter() - start) * 1000
    assert status_of(root, "Replace") == ["200"] * 10, status_of(root, "Replace")
    return slow, incremental


async def main(args):
    try:
        await _figures(args)
    finally:
        reactor.stop()


async def _figures(args):
    store = SQLITE if args.store == "SQLITE" else args.store
    directory = Path(tempfile.mkdtemp(prefix="bench-syncml-"))
    encodings = ["xml", "wbxml"] if args.encoding == "both" else [args.encoding]
    for encoding in encodings:
        server = await RunningServers.start(("syncml",), store, directory=directory / encoding)
        try:
            url = f"http://127.0.0.1:{server.port('syncml')}/syncml"
            tracemalloc.start()
            slow, incremental = await threads.deferToThread(run_client, url, args.items, encoding)
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{encoding}: slow sync {args.items} contacts: {slow:.0f} items/s (target >= 500); "
                  f"incremental 10 changes: {incremental:.1f} ms (target < 100); "
                  f"traced memory after the run: {current / 1e6:.1f} MB; "
                  f"load average {os.getloadavg()[0]:.2f}")
        finally:
            await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--encoding", default="both")
    parser.add_argument("--store", default="SQLITE")
    options = parser.parse_args()
    reactor.callWhenRunning(lambda: defer.ensureDeferred(main(options)))
    reactor.run()
