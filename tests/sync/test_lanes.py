"""Sync lanes: independent states of one device on one source (``smsync.sync.lanes``),
bounded to the most recently used, dropped with the device."""

from __future__ import annotations

import json

import pytest
import pytest_twisted

from smsync.errors import InvalidData, SyncTokenInvalid
from smsync.sync import ADD, CHANGE, COLLECTION, DELETE, MAIL, ClientChange, SourceRef, SyncAdapter
from smsync.sync.lanes import MAX_LANES, index_key, lane_key
from smsync.sync.state import state_key
from tests.sync.helpers import ACCOUNT, DEVICE, SCHEMES, event, message, open_env

pytestmark = pytest.mark.skipif(not SCHEMES, reason="no store backend installed yet")


@pytest_twisted.async_yield_fixture(params=SCHEMES)
async def store(request, tmp_path):
    store = await open_env(request.param, tmp_path)
    yield store
    await store.close()


async def inbox(store):
    mail = await store.mail(ACCOUNT)
    box = await mail.mailbox("INBOX")
    return box, SourceRef(MAIL, box.id)


async def calendar(store):
    colls = await store.collections(ACCOUNT)
    coll = await colls.collection("calendar")
    return coll, SourceRef(COLLECTION, coll.id)


async def drain(adapter, source, key, lane, window=100):
    """Every change up to the end: ``(server ids by op, last key)``."""
    got: dict = {}
    while True:
        result = await adapter.sync(ACCOUNT, DEVICE, source, key, window=window, lane=lane)
        for c in result.changes:
            got.setdefault(c.op, []).append(c.server_id)
        key = result.sync_key
        if not result.more_available:
            return got, key


@pytest_twisted.ensureDeferred
async def test_two_lanes_are_independent(store):
    box, source = await inbox(store)
    first = [str((await box.append(message(f"m{i}"))).uid) for i in range(5)]
    adapter = SyncAdapter(store)
    got_a, key_a = await drain(adapter, source, "0", "a", window=2)
    got_b, key_b = await drain(adapter, source, "0", "b", window=3)
    assert sorted(got_a[ADD], key=int) == first == sorted(got_b[ADD], key=int)
    # The lane-less state is a third one, untouched by both.
    plain, plain_key = await drain(adapter, source, "0", None)
    assert sorted(plain[ADD], key=int) == first
    # A's key continues A only: B and the lane-less state refuse it.
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, key_a, lane="b")
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, key_a)
    # A's change is not echoed to A but reaches B and the lane-less state.
    result = await adapter.sync(ACCOUNT, DEVICE, source, key_a, lane="a",
                                client_changes=[ClientChange(DELETE, server_id=first[0])])
    assert [r.status.value for r in result.results] == ["ok"] and result.changes == ()
    key_a = result.sync_key
    new = str((await box.append(message("m-new"))).uid)
    got_b, key_b = await drain(adapter, source, key_b, "b")
    assert got_b == {DELETE: [first[0]], ADD: [new]}
    got_a, key_a = await drain(adapter, source, key_a, "a")
    assert got_a == {ADD: [new]}
    got, _ = await drain(adapter, source, plain_key, None)
    assert got == {DELETE: [first[0]], ADD: [new]}
    assert await adapter.estimate(ACCOUNT, DEVICE, source, key_a, lane="a") == 0
    with pytest.raises(SyncTokenInvalid):
        await adapter.estimate(ACCOUNT, DEVICE, source, key_a, lane="b")


@pytest_twisted.ensureDeferred
async def test_lane_replay_applies_nothing_twice(store):
    coll, source = await calendar(store)
    await coll.put("e1.ics", event("e1@test"))
    adapter = SyncAdapter(store)
    _, key = await drain(adapter, source, "0", "x")
    batch = [ClientChange(ADD, client_id="c1", content=event("new@test"))]
    lost = await adapter.sync(ACCOUNT, DEVICE, source, key, client_changes=batch, lane="x")
    # Another lane's round in between changes nothing of this one.
    await drain(adapter, source, "0", "y")
    again = await adapter.sync(ACCOUNT, DEVICE, source, key, client_changes=batch, lane="x")
    assert again == lost
    assert len(await coll.items()) == 2


@pytest_twisted.ensureDeferred
async def test_least_recently_used_lane_is_dropped(store):
    _coll, source = await calendar(store)
    adapter = SyncAdapter(store, max_lanes=3)
    keys = {}
    for lane in ("l1", "l2", "l3"):
        _, keys[lane] = await drain(adapter, source, "0", lane)
    # l1 is used again: l2 is now the least recently used.
    _, keys["l1"] = await drain(adapter, source, keys["l1"], "l1")
    _, keys["l4"] = await drain(adapter, source, "0", "l4")
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, keys["l2"], lane="l2")
    assert await store.devices.load_state(ACCOUNT, DEVICE, lane_key(COLLECTION, source.id, "l2")) is None
    for lane in ("l1", "l3", "l4"):
        await adapter.sync(ACCOUNT, DEVICE, source, keys[lane], lane=lane)
    listed = json.loads(await store.devices.load_state(ACCOUNT, DEVICE, index_key(COLLECTION, source.id)))
    assert listed == ["l4", "l3", "l1"]
    # The lane-less state is no lane: never counted, never dropped.
    _, plain = await drain(adapter, source, "0", None)
    for n in range(5):
        await drain(adapter, source, "0", f"more{n}")
    await adapter.sync(ACCOUNT, DEVICE, source, plain)


@pytest_twisted.ensureDeferred
async def test_a_script_starting_over_every_run_keeps_bounded_state(store):
    _coll, source = await calendar(store)
    adapter = SyncAdapter(store)
    for n in range(MAX_LANES + 5):
        await drain(adapter, source, "0", f"run{n}")
    kept = [n for n in range(MAX_LANES + 5)
            if await store.devices.load_state(ACCOUNT, DEVICE, lane_key(COLLECTION, source.id, f"run{n}"))]
    assert kept == list(range(5, MAX_LANES + 5))


@pytest_twisted.ensureDeferred
async def test_removing_the_device_drops_every_lane(store):
    box, source = await inbox(store)
    await box.append(message("m"))
    adapter = SyncAdapter(store)
    _, key_a = await drain(adapter, source, "0", "a")
    _, key_b = await drain(adapter, source, "0", "b")
    await store.devices.remove(ACCOUNT, DEVICE)
    await store.devices.seen(ACCOUNT, DEVICE, "ews")
    for key, lane in ((key_a, "a"), (key_b, "b")):
        with pytest.raises(SyncTokenInvalid):
            await adapter.sync(ACCOUNT, DEVICE, source, key, lane=lane)
    for key in (lane_key(source.kind, source.id, "a"), index_key(source.kind, source.id)):
        assert await store.devices.load_state(ACCOUNT, DEVICE, key) is None
    assert lane_key(source.kind, source.id, None) == state_key(source.kind, source.id)


@pytest_twisted.ensureDeferred
async def test_lane_changes_are_not_echoed_and_conflicts_stay_per_lane(store):
    coll, source = await calendar(store)
    await coll.put("e1.ics", event("e1@test"))
    adapter = SyncAdapter(store)
    _, key_a = await drain(adapter, source, "0", "a")
    _, key_b = await drain(adapter, source, "0", "b")
    edit = ClientChange(CHANGE, server_id="e1.ics", content=event("e1@test", "from a"))
    result = await adapter.sync(ACCOUNT, DEVICE, source, key_a, client_changes=[edit], lane="a")
    assert result.results[0].status.value == "ok" and result.changes == ()
    got, _ = await drain(adapter, source, key_b, "b")
    assert got == {CHANGE: ["e1.ics"]}


@pytest.mark.parametrize("lane", ["", "a#b", "x" * 65, 7, "sp ace"])
@pytest_twisted.ensureDeferred
async def test_bad_lanes(store, lane):
    _coll, source = await calendar(store)
    adapter = SyncAdapter(store)
    with pytest.raises(InvalidData):
        await adapter.sync(ACCOUNT, DEVICE, source, "0", lane=lane)
