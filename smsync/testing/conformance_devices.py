"""Conformance of ``IDeviceRegistry``: the Synchronized Devices list, device logs and the
opaque per-device sync state protocols keep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted

from smsync.errors import NotFound
from smsync.model import ConflictPolicy, Device, DeviceLogEntry
from smsync.testing.base import StoreHarness, call, sleep


def _now() -> datetime:
    return datetime.now(timezone.utc)


class DeviceConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_seen_creates_then_updates(self, store):
        reg = store.devices
        t0 = _now().replace(microsecond=0)
        dev = await call(reg.seen, self.ACCOUNT, "DEV1", "eas", "Apple-iPhone/1.0", "My phone")
        t1 = _now() + timedelta(seconds=1)
        assert isinstance(dev, Device)
        assert (dev.account, dev.device_id, dev.protocol) == (self.ACCOUNT, "DEV1", "eas")
        assert (dev.user_agent, dev.name) == ("Apple-iPhone/1.0", "My phone")
        assert dev.conflict_policy == ConflictPolicy.SERVER_WINS
        assert t0 <= dev.first_seen <= t1 and dev.last_sync is not None and t0 <= dev.last_sync <= t1
        assert await call(reg.get, self.ACCOUNT, "DEV1") == dev

        await sleep(0.02)
        again = await call(reg.seen, self.ACCOUNT.upper(), "DEV1", "eas", "Apple-iPhone/2.0", "Other name")
        assert again.first_seen == dev.first_seen
        assert again.last_sync >= dev.last_sync
        assert again.name == "My phone", "the name is given on first sight only"
        assert again.user_agent == "Apple-iPhone/2.0"
        assert len(await call(reg.list, self.ACCOUNT)) == 1

    @pytest_twisted.ensureDeferred
    async def test_name_from_user_agent_and_failed_syncs(self, store):
        reg = store.devices
        dev = await call(reg.seen, self.ACCOUNT, "d2", "syncml", "Funambol Outlook Plug-in/10", None, False)
        assert isinstance(dev.name, str) and dev.name.strip()
        assert dev.last_sync is None, "a failed first sync is not a sync"
        ok = await call(reg.seen, self.ACCOUNT, "d2", "syncml", "Funambol Outlook Plug-in/10", None, True)
        assert ok.last_sync is not None
        await sleep(0.02)
        failed = await call(reg.seen, self.ACCOUNT, "d2", "syncml", None, None, False)
        assert failed.last_sync == ok.last_sync
        bare = await call(reg.seen, self.ACCOUNT, "d3", "ews")
        assert isinstance(bare.name, str) and bare.name.strip()

    @pytest_twisted.ensureDeferred
    async def test_list_most_recent_first(self, store):
        reg = store.devices
        for dev_id in ("a", "b", "c"):
            await call(reg.seen, self.ACCOUNT, dev_id, "eas", "UA")
            await sleep(0.02)
        assert [d.device_id for d in await call(reg.list, self.ACCOUNT)] == ["c", "b", "a"]
        await call(reg.seen, self.ACCOUNT, "a", "eas", "UA")
        assert [d.device_id for d in await call(reg.list, self.ACCOUNT)] == ["a", "c", "b"]
        assert await call(reg.list, self.OTHER_ACCOUNT) == []

    @pytest_twisted.ensureDeferred
    async def test_devices_are_per_account(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "same", "eas", "UA", "Alice's")
        await call(reg.seen, self.OTHER_ACCOUNT, "same", "eas", "UA", "Bob's")
        await call(reg.save_state, self.ACCOUNT, "same", "k", b"alice")
        assert (await call(reg.get, self.OTHER_ACCOUNT, "same")).name == "Bob's"
        assert await call(reg.load_state, self.OTHER_ACCOUNT, "same", "k") is None
        await call(reg.remove, self.OTHER_ACCOUNT, "same")
        assert await call(reg.load_state, self.ACCOUNT, "same", "k") == b"alice"

    @pytest_twisted.ensureDeferred
    async def test_rename_and_policy(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "d", "eas", "UA", "Old")
        await call(reg.rename, self.ACCOUNT, "d", "New name")
        assert (await call(reg.get, self.ACCOUNT, "d")).name == "New name"
        await call(reg.set_conflict_policy, self.ACCOUNT, "d", ConflictPolicy.CLIENT_WINS)
        assert (await call(reg.get, self.ACCOUNT, "d")).conflict_policy == ConflictPolicy.CLIENT_WINS
        seen = await call(reg.seen, self.ACCOUNT, "d", "eas", "UA", "Device's own name")
        assert (seen.name, seen.conflict_policy) == ("New name", ConflictPolicy.CLIENT_WINS)
        await call(reg.set_conflict_policy, self.ACCOUNT, "d", ConflictPolicy.KEEP_BOTH)
        assert [d.conflict_policy for d in await call(reg.list, self.ACCOUNT)] == [ConflictPolicy.KEEP_BOTH]
        for method, arg in ((reg.rename, "x"), (reg.set_conflict_policy, ConflictPolicy.SERVER_WINS)):
            with pytest.raises(NotFound):
                await call(method, self.ACCOUNT, "unknown", arg)
        with pytest.raises(NotFound):
            await call(reg.get, self.ACCOUNT, "unknown")

    @pytest_twisted.ensureDeferred
    async def test_log_keeps_newest_200(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "d", "eas", "UA")
        assert await call(reg.get_log, self.ACCOUNT, "d") == []
        for n in range(205):
            await call(reg.log, self.ACCOUNT, "d", f"line {n}")
        entries = await call(reg.get_log, self.ACCOUNT, "d")
        assert all(isinstance(e, DeviceLogEntry) for e in entries)
        assert [e.message for e in entries] == [f"line {n}" for n in range(5, 205)]
        times = [e.time for e in entries]
        assert times == sorted(times) and times[0].utcoffset() is not None
        assert [e.message for e in await call(reg.get_log, self.ACCOUNT, "d", 3)] == \
            ["line 202", "line 203", "line 204"]
        assert [e.message for e in await call(reg.get_log, self.ACCOUNT, "d", 500)] == \
            [f"line {n}" for n in range(5, 205)]

    @pytest_twisted.ensureDeferred
    async def test_state(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "d", "eas", "UA")
        assert await call(reg.load_state, self.ACCOUNT, "d", "synckey:inbox") is None
        await call(reg.save_state, self.ACCOUNT, "d", "synckey:inbox", b"\x00\x01state")
        assert await call(reg.load_state, self.ACCOUNT, "d", "synckey:inbox") == b"\x00\x01state"
        await call(reg.save_state, self.ACCOUNT, "d", "synckey:inbox", b"second")
        assert await call(reg.load_state, self.ACCOUNT, "d", "synckey:inbox") == b"second"
        big = bytes(range(256)) * 400
        await call(reg.save_state, self.ACCOUNT, "d", "big", big)
        assert await call(reg.load_state, self.ACCOUNT, "d", "big") == big
        await call(reg.save_state, self.ACCOUNT, "d", "big", None)
        assert await call(reg.load_state, self.ACCOUNT, "d", "big") is None
        with pytest.raises(NotFound):
            await call(reg.save_state, self.ACCOUNT, "ghost", "k", b"v")
        assert await call(reg.load_state, self.ACCOUNT, "ghost", "k") is None

    @pytest_twisted.ensureDeferred
    async def test_save_states(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "d", "eas", "UA")
        await call(reg.save_state, self.ACCOUNT, "d", "gone", b"old")
        await call(reg.save_state, self.ACCOUNT, "d", "a", b"old-a")
        await call(reg.save_states, self.ACCOUNT, "d", {"a": b"1", "b": b"2", "gone": None})
        got = {k: await call(reg.load_state, self.ACCOUNT, "d", k) for k in ("a", "b", "gone")}
        assert got == {"a": b"1", "b": b"2", "gone": None}
        with pytest.raises(NotFound):
            await call(reg.save_states, self.ACCOUNT, "ghost", {"a": b"1"})
        assert await call(reg.load_state, self.ACCOUNT, "ghost", "a") is None

    @pytest_twisted.ensureDeferred
    async def test_remove_drops_state_and_log(self, store):
        reg = store.devices
        await call(reg.seen, self.ACCOUNT, "d", "eas", "UA", "Named")
        await call(reg.save_states, self.ACCOUNT, "d", {"a": b"1", "b": b"2"})
        await call(reg.log, self.ACCOUNT, "d", "hello")
        await call(reg.set_conflict_policy, self.ACCOUNT, "d", ConflictPolicy.CLIENT_WINS)
        await call(reg.remove, self.ACCOUNT, "d")
        with pytest.raises(NotFound):
            await call(reg.get, self.ACCOUNT, "d")
        assert await call(reg.list, self.ACCOUNT) == []
        fresh = await call(reg.seen, self.ACCOUNT, "d", "eas", "UA", "Fresh")
        assert (fresh.name, fresh.conflict_policy) == ("Fresh", ConflictPolicy.SERVER_WINS)
        assert await call(reg.load_state, self.ACCOUNT, "d", "a") is None
        assert await call(reg.load_state, self.ACCOUNT, "d", "b") is None
        assert await call(reg.get_log, self.ACCOUNT, "d") == []
