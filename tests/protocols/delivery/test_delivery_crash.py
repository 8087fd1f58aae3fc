"""Kill the LMTP server (``twistd -n smsync-lmtp`` on a sqlite store, SIGKILL) between
the end of DATA and its answer, several times at different moments: every message it
acknowledged is there afterwards, byte for byte, and nothing half-written is visible."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest_twisted
from delivery_harness import USER, Raw, in_thread, message, password_hash, stored_part

from smsync.store.registry import open_store

TWISTD = str(Path(sys.executable).with_name("twistd"))


def _start(uri: str, cwd: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "smsync-lmtp", "--store", uri,
         "--listen", "tcp:0:interface=127.0.0.1"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"lmtp listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


class Lmtp(Raw):
    def __init__(self, port: int):
        super().__init__(port, timeout=30)
        self.command(b"LHLO crash.test")

    def start_message(self, body: bytes) -> None:
        assert self.command(b"MAIL FROM:<s@example.net>").startswith(b"250")
        assert self.command(f"RCPT TO:<{USER}>".encode()).startswith(b"250")
        assert self.command(b"DATA").startswith(b"354")
        self.sock.sendall(body)  # everything but the terminator

    def deliver(self, body: bytes) -> bytes:
        self.start_message(body)
        self.sock.sendall(b".\r\n")
        return self.reply()


def _wire(body: bytes) -> bytes:
    return body.replace(b"\r\n.", b"\r\n..")


@pytest_twisted.ensureDeferred
async def test_sigkill_between_data_and_answer_loses_nothing_acknowledged(tmp_path):
    uri = f"sqlite:///{tmp_path}/store"
    store = await open_store(uri)
    await store.accounts.add(USER, password_hash())
    await store.close()
    sent, acknowledged, killed_unanswered = await in_thread(_kill_rounds, uri, tmp_path)
    # The window between DATA and the answer was really hit.
    assert killed_unanswered >= 1

    store = await open_store(uri)
    try:
        inbox = await (await store.mail(USER)).mailbox("INBOX")
        info = await inbox.info()
        uids = await inbox.uids()
        assert info.exists == len(uids)
        stored = [stored_part(await inbox.read_body(uid)) for uid in uids]
        metas = await inbox.messages()
        # Nothing half-written: every visible message is one that was sent, whole, and
        # its recorded size is its real size.
        for body, meta in zip(stored, metas):
            assert body in sent
            assert meta.size == len(await inbox.read_body(meta.uid))
        # Nothing acknowledged is lost.
        for body in acknowledged:
            assert body in stored
    finally:
        await store.close()


def _kill_rounds(uri: str, tmp_path: Path):
    acknowledged: list[bytes] = []
    sent: list[bytes] = []
    killed_unanswered = 0
    for round_no, delay in enumerate([0.0, 0.01, 0.05, 0.15, 0.4]):
        proc, port = _start(uri, tmp_path)
        try:
            client = Lmtp(port)
            small = message(100 + round_no, 3000)
            sent.append(small)
            assert client.deliver(_wire(small)).startswith(b"250")
            acknowledged.append(small)
            big = message(round_no, 8 * 1024 * 1024)
            sent.append(big)
            client.start_message(_wire(big))
            client.sock.sendall(b".\r\n")
            time.sleep(delay)
            # Whatever answer arrived before the kill counts as acknowledged.
            client.sock.setblocking(False)
            try:
                client.buf += client.sock.recv(65536)
            except BlockingIOError:
                pass
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            if client.buf.startswith(b"250"):
                acknowledged.append(big)
            else:
                killed_unanswered += 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    return sent, acknowledged, killed_unanswered
