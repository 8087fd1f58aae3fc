"""Shared set-up for the sync engine tests: real stores (every installed test-capable
backend), an account, a device, and a device model that replays answers."""

from __future__ import annotations

import atexit
import itertools
import uuid

from twisted.internet.defer import ensureDeferred
from twisted.python.failure import Failure

from smsync.store.registry import backends, open_store
from smsync.sync import ADD, CHANGE, DELETE, SyncStatus
from tests.store.pg_support import admin_sql, database_uri, fresh_schema_uri, require_postgresql

ACCOUNT = "user@example.org"
DEVICE = "phone1"

#: Backends the sync tests run over (those installed; sqlite once it exists).
SCHEMES = [s for s in ("memory", "sqlite", "postgresql") if s in backends()]

_uids = itertools.count(1)


_pg_database: list = []


def store_uri(scheme: str, tmp_path) -> str:
    if scheme == "memory":
        return "memory:"
    if scheme == "postgresql":
        return fresh_schema_uri(pg_database())
    return f"sqlite://{tmp_path / 'store'}"


def pg_database() -> str:
    """One throw-away PostgreSQL database for this test process (each store gets a fresh
    schema in it), dropped when the process exits."""
    require_postgresql()
    if not _pg_database:
        name = "smsync_test_sync_" + uuid.uuid4().hex[:12]
        admin_sql(f'CREATE DATABASE "{name}"')
        atexit.register(_drop, name)
        _pg_database.append(database_uri(name))
    return _pg_database[0]


def _drop(name: str) -> None:
    try:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass  # the run's own cluster is already gone, and the database with it


async def open_env(scheme: str, tmp_path):
    store = await open_store(store_uri(scheme, tmp_path))
    await store.accounts.add(ACCOUNT, "hash")
    await store.devices.seen(ACCOUNT, DEVICE, "eas", user_agent="test/1.0")
    return store


def event(uid: str | None = None, summary: str = "Meeting") -> bytes:
    uid = uid or f"uid-{next(_uids)}@test"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//smsync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART:20240105T100000Z\r\nDTEND:20240105T110000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def message(subject: str = "hello") -> bytes:
    return (
        "From: a@example.org\r\nTo: user@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{next(_uids)}@test>\r\n\r\nbody {subject}\r\n"
    ).encode()


def now(d):
    """The result of a Deferred that has already fired (its failure raised).

    pytest-twisted runs tests on the reactor greenlet, where nothing can wait, and
    hypothesis cannot drive ``async`` tests. The memory store answers synchronously, so
    a whole sync round over it completes at once; should that change, this fails loudly
    instead of letting a test pass without having run.
    """
    got = []
    d = ensureDeferred(d)  # also takes a coroutine
    d.addBoth(got.append)
    assert got, "the Deferred did not fire synchronously"
    if isinstance(got[0], Failure):
        got[0].raiseException()
    return got[0]


class DeviceModel:
    """What a phone holds, rebuilt only from the answers it gets (server id -> content
    for collections, server id -> flags for mail), the way a real client does."""

    def __init__(self, adapter, source, mail: bool):
        self.adapter = adapter
        self.source = source
        self.mail = mail
        self.view: dict = {}
        self.key = "0"
        self.outbox: list = []
        self._cids = itertools.count(1)

    def local_add(self, content, flags=frozenset()):
        from smsync.sync import ClientChange

        cid = f"c{next(self._cids)}"
        self.view[cid] = frozenset(flags) if self.mail else content
        self.outbox.append(ClientChange(ADD, client_id=cid, content=content,
                                        flags=flags if self.mail else None))

    def local_change(self, sid, content=None, flags=(), flags_removed=()):
        from smsync.sync import ClientChange

        if self.mail:
            removed = {f.lower() for f in flags_removed}
            self.view[sid] = frozenset({f for f in self.view[sid] if f.lower() not in removed}) | frozenset(flags)
            self.outbox.append(ClientChange(CHANGE, server_id=sid, flags=flags, flags_removed=flags_removed))
        else:
            self.view[sid] = content
            self.outbox.append(ClientChange(CHANGE, server_id=sid, content=content))

    def local_delete(self, sid):
        from smsync.sync import ClientChange

        del self.view[sid]
        self.outbox.append(ClientChange(DELETE, server_id=sid))

    async def sync(self, window=100):
        sent, self.outbox = self.outbox, []
        result = await self.adapter.sync(ACCOUNT, DEVICE, self.source, self.key, sent, window=window)
        self.replay(sent, result)
        return result

    def replay(self, sent, result):
        assert len(result.results) == len(sent)
        for change, res in zip(sent, result.results):
            if change.op == ADD:
                held = self.view.pop(change.client_id)
                if res.status == SyncStatus.OK:
                    self.view[res.server_id] = held
        for change in result.changes:
            # A device cannot change or delete what it does not have, nor add twice.
            assert (change.server_id in self.view) == (change.op != ADD), change
            if change.op == DELETE:
                del self.view[change.server_id]
            elif self.mail:
                self.view[change.server_id] = change.message.flags
            else:
                self.view[change.server_id] = change.item.content
        self.key = result.sync_key

    async def drain(self, window=100):
        result = await self.sync(window)
        while result.more_available:
            result = await self.sync(window)
        return result


async def mail_contents(box) -> dict:
    return {str(m.uid): m.flags for m in await box.messages()}


async def collection_contents(coll) -> dict:
    items = await coll.items()
    return {i.info.name: i.content for i in await coll.get([i.name for i in items])}
