"""The successors of rewritten messages: chains collapsed to one step, paths composed,
the account's last ``LIMIT`` rewrites kept, nothing kept without settings."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.ews import successors


class Settings:
    def __init__(self):
        self.values = {}

    async def get(self, account, key):
        return self.values.get((account, key))

    async def set(self, account, key, value):
        self.values[(account, key)] = value


class Ctx:
    account = "alice@example.org"

    def __init__(self, settings=None):
        self.store = type("Store", (), {"settings": settings})()
        self.lines = []

    def log(self, line):
        self.lines.append(line)


@pytest_twisted.ensureDeferred
async def test_chains_collapse_and_paths_compose():
    ctx = Ctx(Settings())
    await successors.record(ctx, "f1", 10, 11, {"3": None, "4": "3"})
    await successors.record(ctx, "f1", 11, 12, {"3": "2", "2": None})
    await successors.record(ctx, "f2", 10, 99, {})
    assert await successors.find(ctx, "f1", 10) == successors.Successor(12, {"2": None, "3": None, "4": "2"})
    assert await successors.find(ctx, "f1", 11) == successors.Successor(12, {"3": "2", "2": None})
    assert await successors.find(ctx, "f2", 10) == successors.Successor(99, {})
    assert await successors.find(ctx, "f1", 12) is None
    assert set(await successors.find_all(ctx, "f1", [10, 11, 12, 13])) == {10, 11}


@pytest_twisted.ensureDeferred
async def test_the_last_rewrites_are_kept():
    ctx = Ctx(Settings())
    for n in range(successors.LIMIT + 10):
        await successors.record(ctx, "f", 2 * n + 1, 2 * n + 2, {})
    assert await successors.find(ctx, "f", 1) is None
    last = successors.LIMIT + 9
    assert await successors.find(ctx, "f", 2 * last + 1) == successors.Successor(2 * last + 2)
    assert await successors.find(ctx, "f", 21) == successors.Successor(22)


@pytest_twisted.ensureDeferred
async def test_without_settings_or_with_garbage():
    bare = Ctx(None)
    await successors.record(bare, "f", 1, 2, {})
    assert await successors.find(bare, "f", 1) is None
    ctx = Ctx(Settings())
    ctx.store.settings.values[(ctx.account, successors.KEY)] = b"{not json"
    assert await successors.find(ctx, "f", 1) is None
    await successors.record(ctx, "f", 1, 2, {})
    assert await successors.find(ctx, "f", 1) == successors.Successor(2)
