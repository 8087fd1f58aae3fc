"""docs/embedding.md shows code; these tests run that very code so the page stays true."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest_twisted
from twisted.application.service import IServiceCollection
from twisted.internet.defer import Deferred

from smsync.auth import hash_password, make_portal
from smsync.store.registry import open_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


def listing(first_line_contains: str) -> str:
    """The ```python block of the page whose first line contains the given text."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S):
        if first_line_contains in block.splitlines()[0]:
            return block
    raise AssertionError(f"no listing starting with {first_line_contains!r} in {DOC}")


def test_embed_imap_listing_runs_as_printed(tmp_path):
    script = tmp_path / "embed_imap.py"
    script.write_text(listing("embed_imap.py"))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "changed: mail INBOX" in lines
    assert "SELECT INBOX: ('OK', [b'1'])" in lines


@pytest_twisted.ensureDeferred
async def test_own_front_end_snippet(capsys):
    store = await open_store("memory:")
    try:
        await store.accounts.add("alice@example.com", hash_password("secret"))
        mail = await store.mail("alice@example.com")
        await (await mail.mailbox("INBOX")).append(b"Subject: one\r\n\r\n1\r\n")
        source = listing("from twisted.cred.credentials import UsernamePassword")
        namespace = {}
        exec("async def snippet(portal):\n" + textwrap.indent(source, "    "), namespace)
        await Deferred.fromCoroutine(namespace["snippet"](make_portal(store)))
        assert capsys.readouterr().out.splitlines() == ["1"]
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_front_door_snippet(capsys):
    store = await open_store("memory:")
    try:
        await store.accounts.add("alice@example.com", hash_password("secret"))
        source = listing("from smsync.edge import make_edge")
        namespace = {}
        exec("async def snippet(store, portal):\n" + textwrap.indent(source, "    "), namespace)
        await Deferred.fromCoroutine(namespace["snippet"](store, make_portal(store)))
        assert capsys.readouterr().out.splitlines() == ["alice@example.com"]
        [device] = await store.devices.list("alice@example.com")
        assert device.device_id == "imap-192.0.2.7" and device.last_sync is not None
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_tac_listing_builds_a_working_service(tmp_path):
    source = listing("smsync.tac")
    source = source.replace("sqlite:///srv/smsync/store", f"sqlite://{tmp_path}/store")
    source = re.sub(r"tcp:\d+:", "tcp:0:", source)
    namespace = {}
    exec(source, namespace)
    [smsync_service] = list(IServiceCollection(namespace["application"]))
    smsync_service.startService()
    try:
        await smsync_service.ready
        assert smsync_service.store is not None
        assert smsync_service.store.uri == f"sqlite://{tmp_path}/store"
    finally:
        await smsync_service.stopService()
    assert smsync_service.store is None
