"""Store handles kept between requests: every DAV request would otherwise open the
account's collection store and look its collection up by name (two store round trips
on a busy store's thread pool before any work).

Handles read current state on every call, so keeping them is safe as long as a name
still means the same collection: entries are dropped when the account's hierarchy
changes (the store's change notifier says so, for this process and others it watches)
and after ``ttl`` seconds in any case.
"""

from __future__ import annotations

import time
from typing import Optional

from smsync.model import ChangeKind


class HandleCache:
    def __init__(self, store, ttl: float = 10.0, clock=time.monotonic):
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._stores: dict[str, object] = {}
        self._collections: dict[str, dict[str, tuple]] = {}
        self._subscriptions: dict[str, object] = {}

    def _watch(self, account: str) -> None:
        if account in self._subscriptions:
            return
        try:
            self._subscriptions[account] = self.store.notifier.subscribe(
                account, lambda event, account=account: self._changed(account, event))
        except Exception:
            # Without notifications the TTL alone bounds staleness.
            self._subscriptions[account] = None

    def _changed(self, account: str, event) -> None:
        if event.kind in (ChangeKind.HIERARCHY, ChangeKind.RESYNC):
            self._collections.pop(account, None)

    async def collections(self, account: str):
        """The account's ``ICollectionStore`` (``NotFound`` if no such account)."""
        cstore = self._stores.get(account)
        if cstore is None:
            cstore = await self.store.collections(account)
            self._stores[account] = cstore
            self._watch(account)
        return cstore

    async def collection(self, account: str, name: str):
        """``(handle, kind)`` of the account's collection ``name``; ``NotFound``."""
        now = self._clock()
        entry = self._collections.get(account, {}).get(name)
        if entry is not None and entry[2] > now:
            return entry[0], entry[1]
        cstore = await self.collections(account)
        handle = await cstore.collection(name)
        info = await handle.info()
        self._collections.setdefault(account, {})[name] = (handle, info.kind, now + self.ttl)
        return handle, info.kind

    def forget(self, account: str, name: Optional[str] = None) -> None:
        """Drop cached handles (of one collection, or all of the account's)."""
        if name is None:
            self._collections.pop(account, None)
        else:
            self._collections.get(account, {}).pop(name, None)

    def close(self) -> None:
        for sub in self._subscriptions.values():
            if sub is not None:
                sub.cancel()
        self._subscriptions.clear()
