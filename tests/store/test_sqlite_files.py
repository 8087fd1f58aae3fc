"""sqlite: backend specifics: URIs, the directory layout, schema versions, body files."""

from __future__ import annotations

import os
import sqlite3

import pytest
import pytest_twisted

from smsync.errors import BadStoreURI, NotFound
from smsync.model import FlagMode, UIDSet
from smsync.store.registry import backends, open_store
from smsync.store.sqlite.backend import directory_of
from smsync.store.sqlite.schema import SCHEMA_VERSION, migrate
from smsync.testing import samples

ACCOUNT = "carol@example.com"


def body_files(directory) -> set[str]:
    root = os.path.join(directory, "bodies")
    return {
        f"{bucket}/{name}"
        for bucket in os.listdir(root)
        for name in os.listdir(os.path.join(root, bucket))
    }


async def fresh(directory, account=ACCOUNT):
    store = await open_store(f"sqlite://{directory}")
    await store.accounts.add(account, "hash")
    return store


def test_plugin_is_found():
    backend = backends()["sqlite"]
    assert backend.scheme == "sqlite" and backend.description


@pytest.mark.parametrize(
    "uri",
    ["sqlite:", "sqlite://", "sqlite:///", "sqlite://otherhost/srv/mail", "sqlite:/x?mode=ro",
     "sqlite:/x#frag", "sqlite:/x%00y", "postgresql:///x"],
)
def test_bad_uris(uri):
    with pytest.raises(BadStoreURI):
        directory_of(uri)


def test_uri_forms(tmp_path, monkeypatch):
    assert directory_of("sqlite:///srv/mail") == "/srv/mail"
    assert directory_of("sqlite://localhost/srv/mail") == "/srv/mail"
    assert directory_of("sqlite:/srv/my%20mail") == "/srv/my mail"
    monkeypatch.chdir(tmp_path)
    assert directory_of("sqlite:rel/dir") == str(tmp_path / "rel" / "dir")


@pytest_twisted.ensureDeferred
async def test_open_failures(tmp_path):
    with pytest.raises(BadStoreURI):
        await open_store("sqlite://otherhost/x")
    with pytest.raises(BadStoreURI):
        await open_store(f"sqlite://{tmp_path}/missing", create=False)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "afile").write_bytes(b"not a directory")
    with pytest.raises(BadStoreURI):
        await open_store(f"sqlite://{tmp_path}/afile")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "smsync.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(BadStoreURI):
        await open_store(f"sqlite://{tmp_path}/garbage")


@pytest_twisted.ensureDeferred
async def test_relative_uri_creates_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:data/store")
    try:
        assert (tmp_path / "data" / "store" / "smsync.sqlite3").is_file()
        assert (tmp_path / "data" / "store" / "bodies").is_dir()
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_wal_and_schema_version(tmp_path):
    store = await fresh(tmp_path)
    await store.close()
    conn = sqlite3.connect(tmp_path / "smsync.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == list(
        range(1, SCHEMA_VERSION + 1)
    )
    # Migrations are re-runnable: replaying them from scratch over the existing tables
    # (as after a crash half-way through) succeeds and keeps the data.
    conn.execute("PRAGMA user_version = 0")
    assert migrate(conn) == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT name FROM accounts").fetchall() == [(ACCOUNT,)]
    # A store written by a newer smsync is refused rather than misread.
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(BadStoreURI, match="newer"):
        await open_store(f"sqlite://{tmp_path}", create=False)


@pytest_twisted.ensureDeferred
async def test_reopen_keeps_everything(tmp_path):
    store = await fresh(tmp_path)
    mail = await store.mail(ACCOUNT)
    await mail.create_mailbox("Projects/2026")
    box = await mail.mailbox("Projects/2026")
    res = await box.append(samples.message("kept"), ["\\Flagged", "$Work"])
    before = await box.info()
    cal = await (await store.collections(ACCOUNT)).collection("calendar")
    item = await cal.put("e.ics", samples.event("ev-kept"))
    await store.devices.seen(ACCOUNT, "phone", "eas", "Phone/1.0")
    await store.devices.save_state(ACCOUNT, "phone", "k", b"state")
    await store.close()

    store = await open_store(f"sqlite://{tmp_path}", create=False)
    try:
        box = await (await store.mail(ACCOUNT)).mailbox("Projects/2026")
        assert await box.info() == before
        [msg] = await box.messages()
        assert (msg.uid, msg.flags) == (res.uid, frozenset({"\\Flagged", "$Work"}))
        assert await box.read_body(res.uid) == samples.message("kept")
        cal = await (await store.collections(ACCOUNT)).collection("calendar")
        [got] = await cal.get(["e.ics"])
        assert got.info == item and got.content == samples.event("ev-kept")
        assert await store.devices.load_state(ACCOUNT, "phone", "k") == b"state"
        # A new append after reopen continues the UID sequence.
        again = await box.append(samples.message("next"))
        assert again.uid == res.uid + 1 and again.uidvalidity == res.uidvalidity
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_orphans_cleaned_on_open_when_alone(tmp_path):
    store = await fresh(tmp_path)
    box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
    res = await box.append(samples.message("real"))
    [real] = body_files(tmp_path)
    bucket = real.split("/")[0]
    orphan = tmp_path / "bodies" / bucket / "0123456789abcdef0123456789abcdef"
    tmp_file = tmp_path / "bodies" / bucket / ".tmp-feedface"
    orphan.write_bytes(b"crash between file and row")
    tmp_file.write_bytes(b"crash before rename")

    # Another process (here: a second store) opening while this one is live must not
    # touch files: one of them may be a body whose row is about to commit.
    second = await open_store(f"sqlite://{tmp_path}", create=False)
    assert second.orphans_removed == 0 and orphan.exists() and tmp_file.exists()
    await second.close()
    await store.close()

    store = await open_store(f"sqlite://{tmp_path}", create=False)
    try:
        assert store.orphans_removed == 2
        assert body_files(tmp_path) == {real}
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        assert await box.read_body(res.uid) == samples.message("real")
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_bodies_shared_by_copies_and_freed_with_the_last(tmp_path):
    store = await fresh(tmp_path)
    try:
        mail = await store.mail(ACCOUNT)
        inbox = await mail.mailbox("INBOX")
        await inbox.append(samples.message("one"))
        await inbox.append(samples.message("two"))
        assert len(body_files(tmp_path)) == 2
        await inbox.copy(UIDSet.all(), "Archive")
        assert len(body_files(tmp_path)) == 2, "a copy shares its body file"
        await inbox.store_flags(UIDSet.of([1]), FlagMode.ADD, ["\\Deleted"])
        assert await inbox.expunge() == [1]
        assert len(body_files(tmp_path)) == 2, "the copy still needs it"
        archive = await mail.mailbox("Archive")
        assert await archive.read_body(1) == samples.message("one")
        await archive.remove(UIDSet.of([1]))
        assert len(body_files(tmp_path)) == 1
        await mail.delete_mailbox("Archive")
        await inbox.remove(UIDSet.all())
        assert body_files(tmp_path) == set()
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_failed_append_leaves_no_file(tmp_path):
    store = await fresh(tmp_path)
    try:
        mail = await store.mail(ACCOUNT)
        await mail.create_mailbox("Doomed")
        stale = await mail.mailbox("Doomed")
        await mail.delete_mailbox("Doomed")
        with pytest.raises(NotFound):
            await stale.append(samples.message("lost"))
        assert body_files(tmp_path) == set()
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_file_object_body_and_ranges(tmp_path):
    store = await fresh(tmp_path)
    try:
        inbox = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        body = samples.message("big", body="x" * 70 + "\r\n") * 1
        path = tmp_path / "in.eml"
        path.write_bytes(body)
        with open(path, "rb") as f:
            res = await inbox.append(f)
        assert await inbox.read_body(res.uid) == body
        assert await inbox.read_body(res.uid, 5, 7) == body[5:12]
        assert await inbox.read_body(res.uid, len(body) + 10) == b""
        with pytest.raises(NotFound):
            await inbox.read_body(999)
    finally:
        await store.close()
