"""SyncAdapter against real stores: windows, incremental sync, client changes, retries,
conflicts, device reset and mail flags."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound, SyncTokenInvalid
from smsync.interfaces import ISyncAdapter
from smsync.model import ConflictPolicy, FlagMode, Role, UIDSet
from smsync.sync import (
    ADD,
    CHANGE,
    COLLECTION,
    DELETE,
    MAIL,
    ClientChange,
    SourceRef,
    SyncAdapter,
    SyncStatus,
)
from tests.sync.helpers import (
    ACCOUNT,
    DEVICE,
    SCHEMES,
    DeviceModel,
    collection_contents,
    event,
    mail_contents,
    message,
    open_env,
)

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


def test_provides_interface():
    assert ISyncAdapter.implementedBy(SyncAdapter)


@pytest_twisted.ensureDeferred
async def test_initial_sync_in_windows(store):
    box, source = await inbox(store)
    appended = [(await box.append(message(f"m{i}"))).uid for i in range(25)]
    adapter = SyncAdapter(store)
    key, got, rounds = "0", [], []
    while True:
        result = await adapter.sync(ACCOUNT, DEVICE, source, key, window=10)
        assert len(result.changes) <= 10
        assert all(c.op == ADD for c in result.changes)
        got += [c.server_id for c in result.changes]
        rounds.append(result.more_available)
        key = result.sync_key
        if not result.more_available:
            break
    assert rounds == [True, True, False]
    assert sorted(got, key=int) == [str(u) for u in appended]
    assert len(set(got)) == len(got)
    again = await adapter.sync(ACCOUNT, DEVICE, source, key)
    assert again.changes == () and not again.more_available


@pytest_twisted.ensureDeferred
async def test_window_boundary_inside_one_revision(store):
    """One store_flags over many messages gives them all one MODSEQ; a window cutting
    through that revision must neither skip nor repeat any of them."""
    box, source = await inbox(store)
    for i in range(10):
        await box.append(message(f"m{i}"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    await box.store_flags(UIDSet.all(), FlagMode.ADD, ["\\Flagged"])
    seen = []
    result = await dev.sync(window=3)
    seen += [c.server_id for c in result.changes]
    while result.more_available:
        result = await dev.sync(window=3)
        seen += [c.server_id for c in result.changes]
    assert sorted(seen, key=int) == sorted(dev.view, key=int)
    assert len(seen) == 10
    assert dev.view == await mail_contents(box)


@pytest_twisted.ensureDeferred
async def test_incremental_mail_changes(store):
    box, source = await inbox(store)
    first = await box.append(message("one"))
    second = await box.append(message("two"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    third = await box.append(message("three"), flags=["\\Seen"])
    await box.store_flags(UIDSet.of([first.uid]), FlagMode.ADD, ["\\Seen"])
    await box.remove(UIDSet.of([second.uid]))
    result = await dev.sync()
    ops = {c.server_id: c.op for c in result.changes}
    assert ops == {str(first.uid): CHANGE, str(second.uid): DELETE, str(third.uid): ADD}
    assert dev.view == await mail_contents(box)
    assert (await dev.sync()).changes == ()


@pytest_twisted.ensureDeferred
async def test_mail_flag_sync_both_ways(store):
    box, source = await inbox(store)
    a = await box.append(message("a"))
    b = await box.append(message("b"), flags=["\\Seen"])
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    # The phone marks a read and b unread and flags b.
    dev.local_change(str(a.uid), flags={"\\Seen"})
    dev.local_change(str(b.uid), flags={"\\Flagged"}, flags_removed={"\\Seen"})
    result = await dev.sync()
    assert [r.status for r in result.results] == [SyncStatus.OK, SyncStatus.OK]
    assert result.changes == ()  # not echoed
    now = await mail_contents(box)
    assert now[str(a.uid)] == {"\\Seen"}
    assert now[str(b.uid)] == {"\\Flagged"}
    # An IMAP client answers a; the phone hears of it.
    await box.store_flags(UIDSet.of([a.uid]), FlagMode.ADD, ["\\Answered"])
    result = await dev.sync()
    assert [(c.op, c.server_id, c.message.flags) for c in result.changes] == [
        (CHANGE, str(a.uid), frozenset({"\\Seen", "\\Answered"}))
    ]


@pytest_twisted.ensureDeferred
async def test_mail_add_and_delete_from_device(store):
    box, source = await inbox(store)
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    dev.local_add(message("draft"), flags={"\\Draft"})
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.OK
    sid = result.results[0].server_id
    assert result.results[0].client_id == "c1"
    assert result.changes == ()
    assert (await mail_contents(box)) == {sid: frozenset({"\\Draft"})}
    dev.local_delete(sid)
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.OK and result.changes == ()
    assert await box.uids() == []


@pytest_twisted.ensureDeferred
async def test_mail_change_with_content_replaces_the_message(store):
    """A draft edited on the device (a mail change with content) is stored in place of
    the old message, with its flags and the change's delta; the old UID is gone, so the
    device is sent its deletion and the new message as an add (a UID names one
    content), and so is every other device."""
    box, source = await inbox(store)
    old = await box.append(message("draft v1"), flags=["\\Draft", "$Work"])
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    await store.devices.seen(ACCOUNT, "phone2", "eas")
    other = await adapter.sync(ACCOUNT, "phone2", source, "0")
    assert [c.server_id for c in other.changes] == [str(old.uid)]
    result = await adapter.sync(ACCOUNT, DEVICE, source, dev.key, [ClientChange(
        CHANGE, server_id=str(old.uid), content=message("draft v2"), flags={"\\Seen"},
        flags_removed={"$Work"})])
    dev.key = result.sync_key
    assert result.results[0].status == SyncStatus.OK
    uids = await box.uids()
    assert len(uids) == 1 and uids[0] != old.uid
    assert b"Subject: draft v2" in await box.read_body(uids[0])
    assert (await mail_contents(box)) == {str(uids[0]): frozenset({"\\Draft", "\\Seen"})}
    assert [(c.op, c.server_id) for c in result.changes] == [(DELETE, str(old.uid)), (ADD, str(uids[0]))]
    # Sent once: the next round has nothing.
    assert (await adapter.sync(ACCOUNT, DEVICE, source, dev.key)).changes == ()
    seen = await adapter.sync(ACCOUNT, "phone2", source, other.sync_key)
    assert [(c.op, c.server_id) for c in seen.changes] == [(DELETE, str(old.uid)), (ADD, str(uids[0]))]


@pytest.mark.parametrize("policy", list(ConflictPolicy))
@pytest_twisted.ensureDeferred
async def test_mail_content_change_of_a_message_gone_is_refused(store, policy):
    """A draft deleted over IMAP while the device edited it: the edit is not stored
    (mail cannot be re-created under its old UID) and the device hears of the deletion."""
    box, source = await inbox(store)
    old = await box.append(message("draft"), flags=["\\Draft"])
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    await box.remove(UIDSet.of([old.uid]))
    await store.devices.set_conflict_policy(ACCOUNT, DEVICE, policy)
    result = await adapter.sync(ACCOUNT, DEVICE, source, dev.key, [ClientChange(
        CHANGE, server_id=str(old.uid), content=message("draft v2"))])
    assert result.results[0].status in (SyncStatus.CONFLICT_SERVER_WON, SyncStatus.NOT_FOUND)
    assert await box.uids() == []  # nothing stored
    assert [(c.op, c.server_id) for c in result.changes] == [(DELETE, str(old.uid))]


@pytest_twisted.ensureDeferred
async def test_mail_delete_as_move_to_trash(store):
    box, source = await inbox(store)
    m = await box.append(message("bye"))
    adapter = SyncAdapter(store)
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    result = await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key,
                                [ClientChange(DELETE, server_id=str(m.uid))], deletes_as_moves=True)
    assert result.results[0].status == SyncStatus.OK
    assert await box.uids() == []
    trash = await (await store.mail(ACCOUNT)).mailbox_by_role(Role.TRASH)
    assert len(await trash.uids()) == 1


@pytest_twisted.ensureDeferred
async def test_collection_client_add_change_delete(store):
    coll, source = await calendar(store)
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    await dev.drain()
    dev.local_add(event("ev-1@test", "Lunch"))
    dev.local_add(event("ev-2@test", "Dinner"))
    result = await dev.sync()
    assert [r.status for r in result.results] == [SyncStatus.OK, SyncStatus.OK]
    assert [r.client_id for r in result.results] == ["c1", "c2"]
    ids = [r.server_id for r in result.results]
    assert all(i.endswith(".ics") for i in ids) and len(set(ids)) == 2
    assert result.changes == ()
    assert dev.view == await collection_contents(coll)
    dev.local_change(ids[0], content=event("ev-1@test", "Late lunch"))
    dev.local_delete(ids[1])
    result = await dev.sync()
    assert [r.status for r in result.results] == [SyncStatus.OK, SyncStatus.OK]
    assert result.changes == ()
    assert await collection_contents(coll) == {ids[0]: event("ev-1@test", "Late lunch")}


@pytest_twisted.ensureDeferred
async def test_collection_server_changes_and_bad_client_data(store):
    coll, source = await calendar(store)
    await coll.put("a.ics", event("a@test"))
    await coll.put("b.ics", event("b@test"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    first = await dev.drain()
    assert {c.server_id for c in first.changes} == {"a.ics", "b.ics"}
    await coll.put("a.ics", event("a@test", "moved"))
    await coll.delete("b.ics")
    await coll.put("c.ics", event("c@test"))
    dev.local_add(b"not a calendar")
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.INVALID
    assert {(c.op, c.server_id) for c in result.changes} == {
        (CHANGE, "a.ics"), (DELETE, "b.ics"), (ADD, "c.ics")}
    assert dev.view == await collection_contents(coll)
    # A change to an item the device never had.
    result = await adapter.sync(ACCOUNT, DEVICE, source, dev.key,
                                [ClientChange(CHANGE, server_id="nope.ics", content=event())])
    assert result.results[0].status == SyncStatus.NOT_FOUND


@pytest_twisted.ensureDeferred
async def test_repeated_batch_is_idempotent(store):
    coll, source = await calendar(store)
    adapter = SyncAdapter(store)
    start = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    await coll.put("server.ics", event("server@test"))
    batch = [ClientChange(ADD, client_id="x1", content=event("x1@test"))]
    first = await adapter.sync(ACCOUNT, DEVICE, source, start.sync_key, batch)
    again = await adapter.sync(ACCOUNT, DEVICE, source, start.sync_key, batch)
    assert again == first
    assert len(await coll.items()) == 2
    # The lost answer's key keeps working for a retry with a longer batch: the add
    # already stored is recognised by its client id.
    bigger = batch + [ClientChange(ADD, client_id="x2", content=event("x2@test"))]
    third = await adapter.sync(ACCOUNT, DEVICE, source, start.sync_key, bigger)
    assert third.results[0].server_id == first.results[0].server_id
    assert [r.status for r in third.results] == [SyncStatus.OK, SyncStatus.OK]
    assert len(await coll.items()) == 3
    assert [c.server_id for c in third.changes] == ["server.ics"]
    # Now the key issued before is gone.
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    done = await adapter.sync(ACCOUNT, DEVICE, source, third.sync_key)
    assert done.changes == ()


@pytest_twisted.ensureDeferred
async def test_repeated_initial_sync_is_idempotent(store):
    box, source = await inbox(store)
    adapter = SyncAdapter(store)
    batch = [ClientChange(ADD, client_id="n1", content=message("new"))]
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0", batch)
    again = await adapter.sync(ACCOUNT, DEVICE, source, "0", batch)
    assert again == first
    assert len(await box.uids()) == 1


@pytest.mark.parametrize("policy", list(ConflictPolicy))
@pytest_twisted.ensureDeferred
async def test_change_change_conflict(store, policy):
    coll, source = await calendar(store)
    await coll.put("e.ics", event("e@test", "original"))
    await store.devices.set_conflict_policy(ACCOUNT, DEVICE, policy)
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    await dev.drain()
    await coll.put("e.ics", event("e@test", "server edit"))
    dev.local_change("e.ics", content=event("e@test", "phone edit"))
    result = await dev.sync()
    status = result.results[0].status
    stored = await collection_contents(coll)
    if policy == ConflictPolicy.SERVER_WINS:
        assert status == SyncStatus.CONFLICT_SERVER_WON
        assert stored == {"e.ics": event("e@test", "server edit")}
        assert [c.server_id for c in result.changes] == ["e.ics"]
    elif policy == ConflictPolicy.CLIENT_WINS:
        assert status == SyncStatus.CONFLICT_CLIENT_WON
        assert stored == {"e.ics": event("e@test", "phone edit")}
        assert result.changes == ()
    else:
        assert status == SyncStatus.CONFLICT_BOTH_KEPT
        copy = result.results[0].copy_server_id
        assert set(stored) == {"e.ics", copy}
        assert stored["e.ics"] == event("e@test", "server edit")
        assert b"phone edit" in stored[copy] and b"UID:e@test" not in stored[copy]
        assert {(c.op, c.server_id) for c in result.changes} == {(CHANGE, "e.ics"), (ADD, copy)}
    assert dev.view == stored


@pytest.mark.parametrize("policy", list(ConflictPolicy))
@pytest_twisted.ensureDeferred
async def test_delete_versus_change(store, policy):
    coll, source = await calendar(store)
    await coll.put("d.ics", event("d@test"))
    await coll.put("k.ics", event("k@test"))
    await store.devices.set_conflict_policy(ACCOUNT, DEVICE, policy)
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    await dev.drain()
    # Server changes d, the phone deletes it; server deletes k, the phone changes it.
    await coll.put("d.ics", event("d@test", "server edit"))
    await coll.delete("k.ics")
    dev.local_delete("d.ics")
    dev.local_change("k.ics", content=event("k@test", "phone edit"))
    result = await dev.sync()
    stored = await collection_contents(coll)
    statuses = [r.status for r in result.results]
    if policy == ConflictPolicy.CLIENT_WINS:
        assert statuses == [SyncStatus.CONFLICT_CLIENT_WON] * 2
        assert stored == {"k.ics": event("k@test", "phone edit")}
    elif policy == ConflictPolicy.KEEP_BOTH:
        assert statuses == [SyncStatus.CONFLICT_SERVER_WON, SyncStatus.CONFLICT_CLIENT_WON]
        assert stored == {"d.ics": event("d@test", "server edit"), "k.ics": event("k@test", "phone edit")}
    else:
        assert statuses == [SyncStatus.CONFLICT_SERVER_WON] * 2
        assert stored == {"d.ics": event("d@test", "server edit")}
        assert {(c.op, c.server_id) for c in result.changes} == {(ADD, "d.ics"), (DELETE, "k.ics")}
    assert dev.view == stored


@pytest_twisted.ensureDeferred
async def test_mail_flag_conflict_server_wins_then_merge(store):
    box, source = await inbox(store)
    m = await box.append(message("x"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    await box.store_flags(UIDSet.of([m.uid]), FlagMode.ADD, ["\\Answered"])
    dev.local_change(str(m.uid), flags={"\\Seen"})
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.CONFLICT_SERVER_WON
    assert dev.view == await mail_contents(box) == {str(m.uid): {"\\Answered"}}
    await store.devices.set_conflict_policy(ACCOUNT, DEVICE, ConflictPolicy.KEEP_BOTH)
    await box.store_flags(UIDSet.of([m.uid]), FlagMode.ADD, ["\\Flagged"])
    dev.local_change(str(m.uid), flags={"\\Seen"})
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.CONFLICT_CLIENT_WON
    assert dev.view == await mail_contents(box) == {
        str(m.uid): {"\\Answered", "\\Flagged", "\\Seen"}}


@pytest_twisted.ensureDeferred
async def test_removed_device_starts_over(store):
    box, source = await inbox(store)
    await box.append(message("a"))
    adapter = SyncAdapter(store)
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    await store.devices.remove(ACCOUNT, DEVICE)
    with pytest.raises(NotFound):
        await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    await store.devices.seen(ACCOUNT, DEVICE, "eas")
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    again = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    assert [c.op for c in again.changes] == [ADD]
    assert again.sync_key != first.sync_key


@pytest_twisted.ensureDeferred
async def test_bad_requests(store):
    box, source = await inbox(store)
    adapter = SyncAdapter(store)
    with pytest.raises(SyncTokenInvalid):
        await adapter.sync(ACCOUNT, DEVICE, source, "17")
    with pytest.raises(NotFound):
        await adapter.sync(ACCOUNT, "no-such-phone", source, "0")
    with pytest.raises(NotFound):
        await adapter.sync(ACCOUNT, DEVICE, SourceRef(MAIL, "no-such-folder"), "0")
    with pytest.raises(InvalidData):
        await adapter.sync(ACCOUNT, DEVICE, source, "0", window=-1)
    with pytest.raises(InvalidData):
        await adapter.sync(ACCOUNT, DEVICE, source, "0", ["not a change"])
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    result = await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key, [
        ClientChange(CHANGE, server_id="abc", flags={"\\Seen"}),
        ClientChange(DELETE, server_id="999"),
        ClientChange(ADD, client_id="q", content=None),
    ])
    assert [r.status for r in result.results] == [
        SyncStatus.NOT_FOUND, SyncStatus.NOT_FOUND, SyncStatus.INVALID]


@pytest_twisted.ensureDeferred
async def test_rename_keeps_sync(store):
    mail = await store.mail(ACCOUNT)
    await mail.create_mailbox("Work")
    box = await mail.mailbox("Work")
    source = SourceRef(MAIL, box.id)
    await box.append(message("w"))
    adapter = SyncAdapter(store)
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    await mail.rename_mailbox("Work", "Job")
    renamed = await mail.mailbox("Job")
    await renamed.append(message("j"))
    result = await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    assert [c.op for c in result.changes] == [ADD]


@pytest_twisted.ensureDeferred
async def test_mail_change_already_applied_still_brings_other_flags(store):
    box, source = await inbox(store)
    m = await box.append(message("x"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    await dev.drain()
    # Read and flagged elsewhere; the phone, not knowing, marks it read too.
    await box.store_flags(UIDSet.of([m.uid]), FlagMode.ADD, ["\\Seen", "\\Flagged"])
    dev.local_change(str(m.uid), flags={"\\Seen"})
    result = await dev.sync()
    assert result.results[0].status == SyncStatus.OK
    assert dev.view == await mail_contents(box) == {str(m.uid): {"\\Seen", "\\Flagged"}}


@pytest_twisted.ensureDeferred
async def test_initial_walk_sees_changes_made_during_it(store):
    box, source = await inbox(store)
    uids = [(await box.append(message(f"m{i}"))).uid for i in range(12)]
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    result = await dev.sync(window=4)
    assert result.more_available and len(dev.view) == 4
    # While the phone is part-way through: one message it has and one it has not yet
    # got are flagged, one of each removed, and a new one arrives.
    await box.store_flags(UIDSet.of([uids[0], uids[9]]), FlagMode.ADD, ["\\Flagged"])
    await box.remove(UIDSet.of([uids[1], uids[10]]))
    await box.append(message("late"))
    await dev.drain(window=4)
    assert dev.view == await mail_contents(box)
    assert len(dev.view) == 11


@pytest_twisted.ensureDeferred
async def test_concurrent_rounds_of_one_device_are_serialised(store):
    coll, source = await calendar(store)
    adapter = SyncAdapter(store)
    start = await adapter.sync(ACCOUNT, DEVICE, source, "0")
    batch = [ClientChange(ADD, client_id="p1", content=event("p1@test"))]
    # A client that sends its request again before the first is answered.
    first = adapter.sync(ACCOUNT, DEVICE, source, start.sync_key, batch)
    second = adapter.sync(ACCOUNT, DEVICE, source, start.sync_key, batch)
    assert await first == await second
    assert len(await coll.items()) == 1


@pytest_twisted.ensureDeferred
async def test_conflicts_are_logged_for_the_device(store):
    coll, source = await calendar(store)
    await coll.put("e.ics", event("e@test"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    await dev.drain()
    await coll.put("e.ics", event("e@test", "server"))
    dev.local_change("e.ics", content=event("e@test", "phone"))
    await dev.sync()
    log = await store.devices.get_log(ACCOUNT, DEVICE)
    assert any("e.ics" in entry.message and "server-wins" in entry.message for entry in log)


@pytest_twisted.ensureDeferred
async def test_initial_sync_retried_with_more_adds_stores_each_once(store):
    box, source = await inbox(store)
    adapter = SyncAdapter(store)
    one = [ClientChange(ADD, client_id="n1", content=message("one"))]
    first = await adapter.sync(ACCOUNT, DEVICE, source, "0", one)
    two = one + [ClientChange(ADD, client_id="n2", content=message("two"))]
    second = await adapter.sync(ACCOUNT, DEVICE, source, "0", two)
    assert second.results[0].server_id == first.results[0].server_id
    assert len(await box.uids()) == 2
    assert second.changes == ()


@pytest_twisted.ensureDeferred
async def test_lost_answer_replayed_with_items_as_they_are_now(store):
    # The saved answer names its items without their contents: a replay reads them
    # again. Unchanged items come back the same; one changed meanwhile comes as it is
    # now (and again next round); one deleted meanwhile is left out and, never having
    # reached the device, is not reported deleted either.
    coll, source = await calendar(store)
    for name in ("a.ics", "b.ics", "c.ics"):
        await coll.put(name, event(f"{name}@test"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    start = await dev.sync()
    first = await adapter.sync(ACCOUNT, DEVICE, source, start.sync_key)
    assert [c.item is not None for c in start.changes] == [True] * 3 and first.changes == ()
    await coll.put("d.ics", event("d@test"))
    await coll.put("e.ics", event("e@test"))
    await coll.put("f.ics", event("f@test"))
    lost = await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    assert [c.server_id for c in lost.changes] == ["d.ics", "e.ics", "f.ics"]
    assert await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key) == lost
    await coll.put("e.ics", event("e@test", "edited"))
    await coll.delete("f.ics")
    again = await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key)
    assert [(c.op, c.server_id) for c in again.changes] == [(ADD, "d.ics"), (ADD, "e.ics")]
    assert again.changes[0] == lost.changes[0]
    assert again.changes[1].item.content == event("e@test", "edited")
    assert again.sync_key == lost.sync_key and again.more_available == lost.more_available
    assert await adapter.sync(ACCOUNT, DEVICE, source, first.sync_key) == again
    dev.key = first.sync_key
    dev.replay([], again)
    await dev.drain()
    assert dev.view == await collection_contents(coll)


@pytest_twisted.ensureDeferred
async def test_lost_mail_answer_replayed_after_a_message_went(store):
    box, source = await inbox(store)
    uids = [(await box.append(message(f"m{i}"))).uid for i in range(3)]
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=True)
    lost = await adapter.sync(ACCOUNT, DEVICE, source, "0", window=2)
    assert [c.server_id for c in lost.changes] == [str(u) for u in uids[:2]]
    await box.store_flags(UIDSet.of([uids[0]]), FlagMode.ADD, ["\\Flagged"])
    await box.remove(UIDSet.of([uids[1]]))
    again = await adapter.sync(ACCOUNT, DEVICE, source, "0", window=2)
    assert [c.server_id for c in again.changes] == [str(uids[0])]
    assert "\\Flagged" in again.changes[0].message.flags
    dev.replay([], again)
    await dev.drain()
    assert dev.view == await mail_contents(box)


def _as_version_1(raw: bytes, answer) -> bytes:
    """A state saved by this version, re-written as version 1 kept it: the snapshot
    whole and the answer (``answer``, the one the round gave) with its items."""
    import base64
    import json

    from smsync.sync.state import SyncState, _cursor_doc

    state = SyncState.from_bytes(raw)
    doc = json.loads(raw)
    doc["v"] = 1
    retry = doc["retry"]
    retry["snapshot"] = _cursor_doc(state.retry.snapshot, state.kind)
    changes = []
    for c in answer.changes:
        one = {"op": c.op, "id": c.server_id}
        if c.item is not None:
            i = c.item.info
            one["item"] = {"name": i.name, "uid": i.uid, "etag": i.etag, "revision": i.revision,
                           "size": i.size, "component": i.component,
                           "content": base64.b64encode(c.item.content).decode()}
        if c.message is not None:
            m = c.message
            one["message"] = {"uid": m.uid, "flags": sorted(m.flags),
                              "internal_date": m.internal_date.isoformat(),
                              "saved_date": m.saved_date.isoformat(), "size": m.size,
                              "modseq": m.modseq}
        changes.append(one)
    retry["answer"]["changes"] = changes
    return json.dumps(doc).encode()


@pytest_twisted.ensureDeferred
async def test_device_upgraded_in_the_middle_of_a_sync(store):
    # Its state was written by version 1: the lost answer is still given again whole,
    # and the next round goes on from where the device was.
    from smsync.sync.state import state_key

    coll, source = await calendar(store)
    for i in range(5):
        await coll.put(f"e{i}.ics", event(f"e{i}@test"))
    adapter = SyncAdapter(store)
    dev = DeviceModel(adapter, source, mail=False)
    await dev.sync(window=2)
    lost = await adapter.sync(ACCOUNT, DEVICE, source, dev.key, window=2)
    key = state_key(COLLECTION, source.id)
    raw = await store.devices.load_state(ACCOUNT, DEVICE, key)
    await store.devices.save_states(ACCOUNT, DEVICE, {key: _as_version_1(raw, lost)})
    await coll.put("e2.ics", event("e2@test", "edited after the round"))
    # Version 1 kept the contents: the replay is the answer as it was.
    assert await adapter.sync(ACCOUNT, DEVICE, source, dev.key, window=2) == lost
    dev.replay([], lost)
    await dev.drain(window=2)
    assert dev.view == await collection_contents(coll)
