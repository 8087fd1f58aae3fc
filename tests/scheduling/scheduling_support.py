"""What the Scheduler tests share: the people (three local accounts, one remote), an
outbox standing in for the submission service, a memory store with the local accounts,
and reading what landed in a calendar or schedule inbox."""

from __future__ import annotations

from smsync.model import CollectionKind
from smsync.store.registry import open_store

ALICE, BOB, DAVE, CAROL = "alice@example.org", "bob@example.org", "dave@example.org", "carol@remote.example"


class Outbox:
    """What the scheduler hands the submission service."""

    def __init__(self):
        self.sent = []

    async def __call__(self, account, recipients, body):
        self.sent.append((account, tuple(recipients), body))


async def memory_store(*accounts):
    """A memory store with ``accounts`` (ALICE, BOB and DAVE unless told)."""
    store = await open_store("memory:")
    for account in accounts or (ALICE, BOB, DAVE):
        await store.accounts.add(account, "!")
    return store


async def items(store, account, kind):
    """The stored items of every collection of ``kind`` of ``account``."""
    collections = await store.collections(account)
    out = []
    for info in await collections.list_collections(kind):
        handle = await collections.collection_by_id(info.id)
        out += await handle.get([i.name for i in await handle.items()])
    return out


async def calendar_of(store, account):
    """``account``'s one calendar."""
    collections = await store.collections(account)
    [info] = await collections.list_collections(CollectionKind.CALENDAR)
    return await collections.collection_by_id(info.id)
