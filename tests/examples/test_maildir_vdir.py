"""The example third-party backend ``maildirvdir:`` (examples/maildir_vdir).

It runs the whole store conformance suite like any backend would, and checks what only
this backend promises: the plugin is found from its own ``smsync/plugins/`` directory,
and the data really is a Maildir++ tree and a vdir that other programs can read.
``examples/maildir_vdir`` is on ``sys.path`` through setup.cfg's pytest ``pythonpath``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from smsync.errors import BadStoreURI
from smsync.model import SYSTEM_FLAGS, FlagMode, UIDSet
from smsync.store.registry import open_store
from smsync.testing import StoreConformance
from smsync_maildir_vdir.files import (
    item_file_name,
    maildir_info,
    path_segment,
    split_maildir_name,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "maildir_vdir"
ACCOUNT = "carol@example.net"


class TestConformance(StoreConformance):
    reopen_supported = True

    @pytest.fixture
    def store_uri(self, tmp_path):
        return f"maildirvdir://{tmp_path}/store"


# ---------------------------------------------------------------------------------------
# Discovery through the plugin drop-in


def _schemes_seen_with(pythonpath: list[str]) -> set[str]:
    code = "from smsync.store.registry import backends; print(' '.join(sorted(backends())))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_plugin_found_only_when_its_directory_is_on_sys_path():
    assert not (EXAMPLE / "smsync" / "__init__.py").exists(), "the drop-in must not be a package"
    assert "maildirvdir" in _schemes_seen_with([str(ROOT), str(EXAMPLE)])
    assert "maildirvdir" not in _schemes_seen_with([str(ROOT)])


# ---------------------------------------------------------------------------------------
# What is on disk


@pytest.fixture
def opened(tmp_path):
    async def setup():
        store = await open_store(f"maildirvdir://{tmp_path}")
        await store.accounts.add(ACCOUNT, "hash")
        return store

    store = pytest_twisted.blockon(Deferred.fromCoroutine(setup()))
    yield store, tmp_path / ACCOUNT
    pytest_twisted.blockon(store.close())


@pytest_twisted.ensureDeferred
async def test_mail_is_a_maildir_tree(opened):
    store, home = opened
    mail = await store.mail(ACCOUNT)
    await mail.create_mailbox("Lists/twisted.dev")
    box = await mail.mailbox("Lists/twisted.dev")
    body = b"Subject: hello\r\n\r\nbody\r\n"
    uid = (await box.append(body, ["\\Seen", "\\Flagged", "$Work"])).uid

    folder = home / "Maildir" / ".Lists.twisted%2Edev"
    assert (home / "Maildir" / ".Lists" / "maildirfolder").exists()
    [name] = os.listdir(folder / "cur")
    assert name.endswith(":2,FS") and f",S={len(body)}" in name
    assert (folder / "cur" / name).read_bytes() == body

    await box.store_flags(UIDSet.of([uid]), FlagMode.SET, ["\\Answered", "$Work"])
    [name] = os.listdir(folder / "cur")
    assert name.endswith(":2,R")
    [msg] = await box.messages()
    assert msg.flags == {"\\Answered", "$Work"}

    await box.store_flags(UIDSet.of([uid]), FlagMode.ADD, ["\\Deleted"])
    assert await box.expunge() == [uid]
    assert os.listdir(folder / "cur") == []


@pytest_twisted.ensureDeferred
async def test_collections_are_a_vdir(opened):
    store, home = opened
    calendars = await store.collections(ACCOUNT)
    calendar = await calendars.collection("calendar")
    event = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        b"UID:standup-1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T090000Z\r\n"
        b"DTEND:20240102T091500Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    await calendar.put("standup.ics", event)
    await calendar.put("no-extension", event.replace(b"standup-1", b"standup-2"))
    files = sorted(os.listdir(home / "vdir" / "calendar"))
    assert files == [".smsync-state.json", "no-extension.ics", "standup.ics"]
    assert (home / "vdir" / "calendar" / "standup.ics").read_bytes() == event
    # "no-extension" took the file "no-extension.ics": an item really called that
    # must get a file of its own.
    await calendar.put("no-extension.ics", event.replace(b"standup-1", b"standup-3"))
    items = await calendar.get(["no-extension", "no-extension.ics"])
    assert [item.info.uid for item in items] == ["standup-2", "standup-3"]
    assert len(os.listdir(home / "vdir" / "calendar")) == 4


@pytest.mark.parametrize(
    "uri",
    ["maildirvdir://host/srv/mail", "maildirvdir:///srv/mail?x=1", "maildirvdir:", "maildir:///x"],
)
def test_bad_uris(uri):
    from smsync_maildir_vdir.backend import root_of

    with pytest.raises(BadStoreURI):
        root_of(uri)


@pytest_twisted.ensureDeferred
async def test_refuses_directories_that_are_not_stores(tmp_path):
    (tmp_path / "someone-elses-file").write_text("keep me")
    with pytest.raises(BadStoreURI):
        await open_store(f"maildirvdir://{tmp_path}")
    with pytest.raises(BadStoreURI):
        await open_store(f"maildirvdir://{tmp_path}/missing", create=False)
    assert os.listdir(tmp_path) == ["someone-elses-file"]


# ---------------------------------------------------------------------------------------
# The pure helpers


@given(st.sets(st.sampled_from(SYSTEM_FLAGS)), st.text("abcdefghij0123456789.,", min_size=1))
def test_maildir_info_round_trip(flags, unique):
    name = unique + maildir_info(flags)
    assert split_maildir_name(name) == (unique, frozenset(flags))
    letters = name.rpartition(":2,")[2]
    assert list(letters) == sorted(letters), "Maildir wants the letters in ASCII order"


@given(st.text(min_size=1), st.text(min_size=1), st.booleans())
def test_path_segments_are_safe_and_distinct(a, b, keep_dots):
    for segment in (path_segment(a, keep_dots), item_file_name(a, ".ics")):
        assert "/" not in segment and "\0" not in segment and not segment.startswith(".")
    if not keep_dots:
        assert "." not in path_segment(a)
    if a != b:
        assert path_segment(a, keep_dots) != path_segment(b, keep_dots)


@pytest_twisted.ensureDeferred
async def test_close_waits_for_pending_writes_then_refuses(tmp_path):
    from smsync_maildir_vdir.worker import StoreClosed

    store = await open_store(f"maildirvdir://{tmp_path}")
    await store.accounts.add(ACCOUNT, "hash")
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    appends = [inbox.append(b"Subject: %d\r\n\r\n" % n) for n in range(5)]
    await store.close()
    assert all(d.called for d in appends), "close fired before writes submitted earlier"
    assert sorted([(await d).uid for d in appends]) == [1, 2, 3, 4, 5]
    with pytest.raises(StoreClosed):
        await inbox.info()

    store = await open_store(f"maildirvdir://{tmp_path}", create=False)
    inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    assert (await inbox.info()).exists == 5
    await store.close()


@pytest_twisted.ensureDeferred
async def test_open_clears_leftovers_of_a_crashed_process(tmp_path):
    store = await open_store(f"maildirvdir://{tmp_path}")
    await store.accounts.add(ACCOUNT, "hash")
    await store.close()
    # What a process killed inside accounts.add / accounts.remove leaves behind.
    (tmp_path / ".new-0123" / "Maildir").mkdir(parents=True)
    (tmp_path / ".deleted-4567").mkdir()
    store = await open_store(f"maildirvdir://{tmp_path}", create=False)
    assert await store.accounts.list() == [ACCOUNT]
    assert sorted(os.listdir(tmp_path)) == [ACCOUNT, "smsync-maildir-vdir.json"]
    await store.close()
