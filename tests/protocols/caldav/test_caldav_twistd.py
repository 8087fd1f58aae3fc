"""``twistd -n smsync-caldav`` and the all-in-one ``--http`` serve CalDAV and CardDAV
over a real sqlite store (subprocesses of .venv/bin/twistd)."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_twisted

from dav_harness import PASSWORD, USER, in_thread, password_hash
from smsync.store.registry import open_store

TWISTD = str(Path(sys.executable).with_name("twistd"))


async def make_store(uri):
    store = await open_store(uri)
    await store.accounts.add(USER, password_hash())
    await store.close()


def start(tmp_path, *args):
    proc = subprocess.Popen([TWISTD, "-n", "--pidfile=", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"http listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def use(port, carddav: bool):
    import caldav
    import niquests

    client = caldav.DAVClient(url=f"http://127.0.0.1:{port}/.well-known/caldav", username=USER,
                              password=PASSWORD)
    principal = client.principal()
    names = sorted(str(c.url).rstrip("/").rsplit("/", 1)[-1] for c in principal.calendars())
    card = niquests.request("PROPFIND", f"http://127.0.0.1:{port}/dav/addressbooks/{USER}/",
                            auth=(USER, PASSWORD), headers={"Depth": "1"}, timeout=10)
    return names, card.status_code, card.text


def run_server(tmp_path, args, carddav):
    proc, port = start(tmp_path, *args)
    try:
        return use(port, carddav)
    finally:
        stop(proc)


@pytest.mark.parametrize("plugin", ["smsync-caldav", "smsync"])
@pytest_twisted.ensureDeferred
async def test_twistd_serves_dav(tmp_path, plugin):
    uri = f"sqlite:///{tmp_path}/store"
    await make_store(uri)
    if plugin == "smsync":
        args = [plugin, "--store", uri, "--http", "tcp:0:interface=127.0.0.1", "--imap", "none",
                "--pop3", "none", "--lmtp", "none", "--smtp", "none"]
    else:
        args = [plugin, "--store", uri, "--listen", "tcp:0:interface=127.0.0.1"]
    names, status, body = await in_thread(run_server, tmp_path, args, plugin == "smsync")
    assert names == ["calendar", "notes", "tasks"]
    if plugin == "smsync":
        # The all-in-one mounts CardDAV on the same /dav/.
        assert status == 207 and "contacts" in body
    else:
        # smsync-caldav alone has no address book home.
        assert status == 404
