"""Cross-process change -> IDLE latency over one ``sqlite:`` store: polling vs the doorbell.

    .venv/bin/python benchmarks/bench_notify.py [--samples 100]

Two ``twistd -n smsync-imap`` processes over one store: an IMAP client IDLEs on the
first, another APPENDs through the second; the figure is the time from the APPEND's OK
(the change is committed) to the EXISTS reaching the IDLE client. The first server runs
once with the store's change feed polled every 150 ms (``watch.DOORBELL = False``, as
before the doorbell) and once rung by the writer (the default), in the same run. The
pause between two samples is random (10-160 ms) so that a timer's phase does not decide
the figures. Prints p50, p99 and max per mode, and the machine's load average.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USER = "bench@example.org"
PASSWORD = "bench-password"

_SERVER = """
import sys
from smsync.store.sqlite import watch
watch.DOORBELL = sys.argv.pop(1) == "doorbell"
from twisted.scripts.twistd import run
sys.argv[0] = "twistd"
run()
"""


class Server:
    def __init__(self, uri: str, mode: str, log: Path):
        self.log = log
        self.out = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, mode, "-n", "--pidfile=", "smsync-imap",
             "--store", uri, "--listen", "tcp:0:interface=127.0.0.1"],
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"imap listening on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"server did not start:\n{self.log.read_text()}")

    def client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        c.login(USER, PASSWORD)
        return c

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()


def _setup(directory: Path) -> str:
    from twisted.internet import defer, task

    from smsync.auth import hash_password
    from smsync.store.registry import open_store

    uri = f"sqlite://{directory / 'store'}"

    async def create(reactor):
        store = await open_store(uri, create=True)
        try:
            await store.accounts.add(USER, hash_password(PASSWORD))
        finally:
            await store.close()

    try:
        task.react(lambda reactor: defer.ensureDeferred(create(reactor)))
    except SystemExit as e:
        if e.code:
            raise
    return uri


def measure(uri: str, mode: str, samples: int, work: Path) -> list[float]:
    idle_server = Server(uri, mode, work / f"idle-{mode}.log")
    append_server = Server(uri, "doorbell", work / f"append-{mode}.log")
    try:
        idler = idle_server.client()
        idler.select("INBOX")
        sender = append_server.client()
        out = []
        for n in range(samples + 1):
            tag = idler._new_tag()
            idler.send(tag + b" IDLE\r\n")
            assert idler.readline().startswith(b"+")
            time.sleep(0.3 if n == 0 else random.uniform(0.01, 0.16))
            typ, _ = sender.append("INBOX", None, None,
                                   f"Subject: {n}\r\n\r\nbody {n}\r\n".encode())
            committed = time.monotonic()
            assert typ == "OK"
            idler.sock.settimeout(10)
            while not idler.readline().rstrip().endswith(b"EXISTS"):
                pass
            if n:  # the first one only wakes the feed up
                out.append((time.monotonic() - committed) * 1000)
            idler.send(b"DONE\r\n")
            while not idler.readline().startswith(tag):
                pass
        idler.logout()
        sender.logout()
        return out
    finally:
        idle_server.stop()
        append_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
        work = Path(tmp)
        uri = _setup(work)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'mode':<28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  samples")
        for mode, label in (("poll", "poll every 150 ms (before)"),
                            ("doorbell", "doorbell (after)")):
            ms = sorted(measure(uri, mode, args.samples, work))
            p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
            print(f"{label:<28} {statistics.median(ms):8.2f} {p99:8.2f} {ms[-1]:8.2f}  {len(ms)}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
