"""Random interleavings of server-side changes, device changes, windowed syncs and lost
answers: the device's view, rebuilt only from the answers, ends equal to the store."""

from __future__ import annotations

import itertools
import random

import pytest
import pytest_twisted
from hypothesis import HealthCheck, given, settings, strategies as st

from smsync.model import ConflictPolicy, FlagMode, UIDSet
from smsync.store.registry import open_store
from smsync.sync import COLLECTION, MAIL, SourceRef, SyncAdapter
from tests.sync.helpers import (
    ACCOUNT,
    DEVICE,
    SCHEMES,
    DeviceModel,
    now,
    collection_contents,
    event,
    mail_contents,
    message,
    store_uri,
)

pytestmark = pytest.mark.skipif(
    "memory" not in __import__("smsync.store.registry", fromlist=["x"]).backends(),
    reason="memory store not installed yet",
)

_pick = st.integers(0, 1000)
_mail_flags = st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "\\Answered"]), max_size=2)
_server_op = st.one_of(
    st.tuples(st.just("server_add")),
    st.tuples(st.just("server_change"), _pick, _mail_flags, _mail_flags),
    st.tuples(st.just("server_delete"), _pick),
)
_client_op = st.one_of(
    st.tuples(st.just("client_add")),
    st.tuples(st.just("client_change"), _pick, _mail_flags, _mail_flags),
    st.tuples(st.just("client_delete"), _pick),
)
_sync_op = st.one_of(
    st.tuples(st.just("sync"), st.integers(1, 4)),
    # The answer is lost; the device retries with the same batch...
    st.tuples(st.just("lost"), st.integers(1, 4)),
    # ... or, having changed more meanwhile, with a longer one.
    st.tuples(st.just("lost_then_more"), st.integers(1, 4), _pick),
)
# Rounds of a few changes on both sides then a sync make conflicts (both sides touching
# one item between two syncs) common rather than rare.
_actions = st.lists(
    st.tuples(st.lists(_server_op, max_size=3), st.lists(_client_op, max_size=3), _sync_op).map(
        lambda r: r[0] + r[1] + [r[2]]),
    max_size=8,
).map(lambda rounds: [op for r in rounds for op in r])
_edits = itertools.count()


def _choose(ids, pick):
    ids = sorted(ids)
    return ids[pick % len(ids)] if ids else None


class World:
    """One store, one source, one device, and the moves the test can make."""

    @classmethod
    async def create(cls, uri: str, kind: str, policy: ConflictPolicy) -> "World":
        self = cls()
        self.store = await open_store(uri)
        await self.store.accounts.add(ACCOUNT, "hash")
        await self.store.devices.seen(ACCOUNT, DEVICE, "eas")
        await self.store.devices.set_conflict_policy(ACCOUNT, DEVICE, policy)
        self.mail = kind == MAIL
        if self.mail:
            self.box = await (await self.store.mail(ACCOUNT)).mailbox("INBOX")
            source = SourceRef(MAIL, self.box.id)
        else:
            self.coll = await (await self.store.collections(ACCOUNT)).collection("calendar")
            source = SourceRef(COLLECTION, self.coll.id)
        self.device = DeviceModel(SyncAdapter(self.store), source, mail=self.mail)
        return self

    async def run(self, actions) -> None:
        """Play ``actions``, drain, and check the device's view equals the store."""
        try:
            await self.sync(4)
            for name, *args in actions:
                await getattr(self, name)(*args)
            await self.device.drain(window=3)
            assert self.device.view == await self.contents()
            assert (await self.device.sync()).changes == ()
        finally:
            await self.store.close()

    async def contents(self) -> dict:
        if self.mail:
            return await mail_contents(self.box)
        return await collection_contents(self.coll)

    def _content(self, uid=None):
        return event(uid, f"edit {next(_edits)}")

    async def server_add(self):
        if self.mail:
            await self.box.append(message(), flags=["\\Seen"])
        else:
            await self.coll.put(f"s{next(_edits)}.ics", self._content())

    async def server_change(self, pick, add, remove):
        sid = _choose(await self.contents(), pick)
        if sid is None:
            return
        if self.mail:
            await self.box.store_flags(UIDSet.of([int(sid)]), FlagMode.ADD, add)
            await self.box.store_flags(UIDSet.of([int(sid)]), FlagMode.REMOVE, remove - add)
        else:
            uid = (await self.coll.get([sid]))[0].info.uid
            await self.coll.put(sid, self._content(uid))

    async def server_delete(self, pick):
        sid = _choose(await self.contents(), pick)
        if sid is None:
            return
        if self.mail:
            await self.box.remove(UIDSet.of([int(sid)]))
        else:
            await self.coll.delete(sid)

    def _device_ids(self):
        # Items the device got a server id for (not its own adds awaiting one).
        return [sid for sid in self.device.view if not sid.startswith("c")]

    async def client_add(self):
        if self.mail:
            self.device.local_add(message(), flags=frozenset({"\\Draft"}))
        else:
            self.device.local_add(self._content())

    async def client_change(self, pick, add, remove):
        sid = _choose(self._device_ids(), pick)
        if sid is None:
            return
        if self.mail:
            self.device.local_change(sid, flags=add, flags_removed=remove - add)
        else:
            uid = next(line for line in self.device.view[sid].split(b"\r\n") if line.startswith(b"UID:"))
            self.device.local_change(sid, content=self._content(uid[4:].decode()))

    async def client_delete(self, pick):
        sid = _choose(self._device_ids(), pick)
        if sid is not None:
            self.device.local_delete(sid)

    async def sync(self, window):
        result = await self.device.sync(window)
        ids = [c.server_id for c in result.changes]
        assert len(ids) == len(set(ids)), "an item sent twice in one answer"

    async def lost(self, window):
        dev = self.device
        sent = list(dev.outbox)
        first = await dev.adapter.sync(ACCOUNT, DEVICE, dev.source, dev.key, sent, window=window)
        again = await dev.adapter.sync(ACCOUNT, DEVICE, dev.source, dev.key, sent, window=window)
        assert again == first
        dev.outbox = []
        dev.replay(sent, again)

    async def lost_then_more(self, window, pick):
        dev = self.device
        await dev.adapter.sync(ACCOUNT, DEVICE, dev.source, dev.key, list(dev.outbox), window=window)
        await self.client_add()
        await self.client_change(pick, frozenset({"\\Flagged"}), frozenset())
        await self.sync(window)


_kinds = st.sampled_from([MAIL, COLLECTION])
_policies = st.sampled_from(list(ConflictPolicy))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_kinds, _policies, _actions)
def test_device_view_converges_to_store(kind, policy, actions):
    # The memory store answers synchronously, so ``now`` can drive whole scenarios.
    now(now(World.create("memory:", kind, policy)).run(actions))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("seed", range(6))
@pytest_twisted.ensureDeferred
async def test_random_scenarios_on_every_backend(scheme, seed, tmp_path):
    """The same scenarios drawn from a fixed seed, run over each installed backend
    (threads and all), where hypothesis cannot drive an asynchronous test."""
    rng = random.Random(seed)
    # Six seeds cover every (kind, policy) pair.
    kind = [MAIL, COLLECTION][seed % 2]
    policy = list(ConflictPolicy)[seed % 3]
    actions = _draw(rng, 10)
    world = await World.create(store_uri(scheme, tmp_path), kind, policy)
    await world.run(actions)


def _draw(rng: random.Random, rounds: int) -> list:
    """Rounds of server changes, device changes and a sync, like ``_actions``."""
    flags = ["\\Seen", "\\Flagged", "\\Answered"]

    def some_flags():
        return frozenset(rng.sample(flags, rng.randint(0, 2)))

    out = []
    for _ in range(rounds):
        for _ in range(rng.randint(0, 3)):
            out.append(rng.choice([
                ("server_add",),
                ("server_change", rng.randrange(1000), some_flags(), some_flags()),
                ("server_delete", rng.randrange(1000)),
            ]))
        for _ in range(rng.randint(0, 3)):
            out.append(rng.choice([
                ("client_add",),
                ("client_change", rng.randrange(1000), some_flags(), some_flags()),
                ("client_delete", rng.randrange(1000)),
            ]))
        window = rng.randint(1, 4)
        out.append(rng.choice([("sync", window), ("lost", window),
                               ("lost_then_more", window, rng.randrange(1000))]))
    return out
