"""SIGKILL in the middle of an import loses nothing it reported as imported, and the store
opens cleanly afterwards."""

import re
import signal
import subprocess
import time

import pytest_twisted

from smsync.config import load_config
from smsync.model import UIDSet
from smsync.store.registry import open_store

from .helpers import SMSYNC, ok

TOTAL = 3000


@pytest_twisted.ensureDeferred
async def test_sigkill_mid_import(tmp_path):
    ok("init", cwd=tmp_path)
    ok("user", "add", "kill@example.org", "--password", "x", cwd=tmp_path)
    mbox = tmp_path / "big.mbox"
    with open(mbox, "wb") as f:
        for i in range(TOTAL):
            f.write(b"From x@example.org Sat Nov 21 19:42:03 2026\nSubject: m%d\n"
                    b"Message-ID: <m%d@example.org>\n\n%s\n\n" % (i, i, b"y" * 2000))
    proc = subprocess.Popen([SMSYNC, "import", "kill@example.org", str(mbox), "--progress"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    reported = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            match = re.match(r"imported (\d+)/%d messages" % TOTAL, line)
            assert match, line
            reported = int(match.group(1))
            if reported >= 300:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert 300 <= reported < TOTAL, f"import was not caught mid-way ({reported})"

    # The store opens cleanly (another command works) and holds every reported message.
    ok("user", "list", cwd=tmp_path)
    uri = load_config(tmp_path / "smsync-data" / "smsync.toml").store.uri
    store = await open_store(uri, create=False)
    try:
        inbox = await (await store.mail("kill@example.org")).mailbox("INBOX")
        infos = await inbox.messages(UIDSet.all())
        ids = set()
        for info in infos:
            head = await inbox.read_body(info.uid, 0, 200)
            ids.add(int(re.search(rb"Message-ID: <m(\d+)@", head).group(1)))
    finally:
        await store.close()
    assert set(range(reported)) <= ids
    assert len(ids) == len(infos)  # nothing half-stored or duplicated
