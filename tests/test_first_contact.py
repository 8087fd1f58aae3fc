"""First contact (issue 11, item 8): a taken port is one clear line, listeners get a
backlog fit for a busy server, and the README claims no protocol that does not work."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest_twisted

from smsync.tap import registry
from smsync.tap.ports import BACKLOG, tcp_address, with_backlog
from smsync.tap.service import Plan, SmsyncService
from smsync.config import Config

ROOT = Path(__file__).resolve().parent.parent
TWISTD = Path(sys.executable).with_name("twistd")


def test_a_taken_port_is_one_clear_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [str(TWISTD), "-n", "--pidfile=", "smsync-imap", "--store", "memory:",
             "--listen", f"tcp:{port}:interface=127.0.0.1"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == (f"smsync-imap: error: cannot listen on 127.0.0.1:{port} "
                        f"(tcp:{port}:interface=127.0.0.1): address already in use "
                        "(another server, or smsync already running?)")


def test_endpoint_parsing_for_the_checks():
    assert tcp_address("tcp:1143:interface=127.0.0.1") == ("127.0.0.1", 1143)
    assert tcp_address("ssl:port=993:privateKey=/a\\:b.pem") == ("", 993)
    assert tcp_address("tcp:0") is None and tcp_address("unix:/tmp/s") is None
    assert with_backlog("tcp:143") == f"tcp:143:backlog={BACKLOG}"
    assert with_backlog("tcp:143:backlog=5") == "tcp:143:backlog=5"
    assert with_backlog("ssl:993:privateKey=a\\:b.pem") == f"ssl:993:privateKey=a\\:b.pem:backlog={BACKLOG}"


@pytest_twisted.ensureDeferred
async def test_listeners_get_a_big_backlog():
    plan = Plan(store_uri="memory:", config=Config(),
                streams={"imap": ["tcp:0:interface=127.0.0.1"]})
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    await service.ready
    try:
        (port,) = service.listeners["imap"].ports
        assert port.backlog == BACKLOG > 50
    finally:
        await service.stopService()


def test_readme_claims_only_what_runs():
    readme = (ROOT / "README.md").read_text()
    rows = {
        "Exchange ActiveSync": "eas", "Exchange Web Services": "ews", "SyncML": "syncml",
        "CalDAV, CardDAV": "caldav", "POP3": "pop3", "IMAP4rev1/rev2": "imap",
    }
    for label, protocol in rows.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| {label}"))
        claimed = re.search(r"\| (built|\*\*not yet\*\*)", row).group(1) == "built"
        assert claimed == registry.is_available(protocol), row
