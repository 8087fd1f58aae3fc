"""Pull and streaming subscriptions (Subscribe, GetEvents, GetStreamingEvents,
Unsubscribe): what changed in an account's
folders since the client last asked, woken by the store's ``IChangeNotifier`` whichever
protocol or process made the change.

A subscription remembers, for each folder it has heard of, where the client's view
stands (a mail folder's MODSEQ and UIDNEXT, a collection's revision); GetEvents turns
the folders noticed since into item events by reading their change logs from there:
NewMailEvent and CreatedEvent for messages above UIDNEXT, ModifiedEvent for changed
ones, DeletedEvent for expunged ones (CreatedEvent/ModifiedEvent and DeletedEvent for
collection items; a ModifiedEvent of the root for folders made, renamed or deleted).
The answer is kept with its watermark, so a client that lost it and asks again with the
previous watermark gets the same events, not nothing.

Subscriptions live in the process that made them (as Exchange's do in one server): a
client behind several workers must reach the same one, and after a restart it gets
``ErrorSubscriptionNotFound`` and subscribes again. One that is not asked for
``timeout`` minutes ends.
"""

from __future__ import annotations

import base64
import os
import time
from datetime import datetime, timezone
from typing import Callable, Optional

import attrs
from twisted.python.failure import Failure

from smsync.model import ChangeKind

#: Most subscriptions one account may hold (a client leaking them must not grow the
#: server without bound); the oldest goes first.
MAX_PER_ACCOUNT = 50
#: Most noticed folders kept per subscription before it falls back to "everything".
MAX_PENDING = 1000


def new_token() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")


@attrs.define
class Subscription:
    """One pull subscription."""

    id: str
    account: str
    #: Store ids of the mail folders and collections watched (None: all of them).
    sources: Optional[frozenset]
    event_types: frozenset
    timeout: float
    last_used: float
    #: Mail folder id -> (modseq, uidnext); collection id -> revision: what the client
    #: has been told of.
    seen: dict = attrs.field(factory=dict)
    #: ``(kind, folder id)`` noticed since the last GetEvents; ``("hierarchy", "")``
    #: for the folder tree.
    pending: set = attrs.field(factory=set)
    watermark: str = attrs.field(factory=new_token)
    #: The last answer, for a client asking again with the previous watermark.
    previous: Optional[str] = None
    last_answer: Optional[list] = None
    handle: object = None
    #: Mail folder id -> the highest MODSEQ a notice named (what a shared read is for).
    revisions: dict = attrs.field(factory=dict)
    #: A streaming subscription (GetStreamingEvents) rather than a pull one.
    streaming: bool = False
    #: Called when something is noticed (a waiting GetStreamingEvents wakes).
    wake: Optional[Callable[[], None]] = None

    def expired(self, now: float) -> bool:
        return now - self.last_used > self.timeout * 60

    def notice(self, event) -> None:
        if event.kind == ChangeKind.RESYNC:
            self.pending.add(("resync", ""))
        elif event.kind == ChangeKind.HIERARCHY:
            self.pending.add(("hierarchy", ""))
        elif event.folder_id and (self.sources is None or event.folder_id in self.sources):
            self.pending.add((event.kind.value, event.folder_id))
            if event.revision is not None:
                self.revisions[event.folder_id] = max(self.revisions.get(event.folder_id, 0), event.revision)
        if len(self.pending) > MAX_PENDING:
            self.pending = {("resync", "")}
        if self.pending and self.wake is not None:
            self.wake()


class Subscriptions:
    """Every pull subscription of one endpoint."""

    def __init__(self, notifier, clock: Callable[[], float] = time.monotonic):
        self.notifier = notifier
        self.clock = clock
        self._all: dict[str, Subscription] = {}
        #: Change-log reads under way or just done, shared by the subscriptions that
        #: need the same one (fifty streams of one account told of one delivery make
        #: one read, not fifty).
        self._reads: dict = {}

    def shared_read(self, key, read: Callable):
        """A Deferred firing with ``read()``'s result (``read`` gives a Deferred or a
        coroutine), made once for every caller asking with ``key`` while it is under
        way or kept."""
        from twisted.internet.defer import Deferred, ensureDeferred

        if len(self._reads) > 1000:
            self._reads.clear()
        entry = self._reads.get(key)
        if entry is None:
            entry = self._reads[key] = {"result": None, "waiters": [], "done": False}

            def finish(result):
                entry["done"], entry["result"] = True, result
                for waiter in entry["waiters"]:
                    if isinstance(result, Failure):
                        waiter.errback(result)
                    else:
                        waiter.callback(result)
                entry["waiters"] = []
                if isinstance(result, Failure):
                    self._reads.pop(key, None)

            ensureDeferred(read()).addBoth(finish)
        waiter = Deferred()
        if entry["done"]:
            waiter.callback(entry["result"])
        else:
            entry["waiters"].append(waiter)
        return waiter

    def add(self, account: str, sources: Optional[frozenset], event_types: frozenset,
            timeout: float, streaming: bool = False) -> Subscription:
        self.expire()
        mine = sorted((s for s in self._all.values() if s.account == account), key=lambda s: s.last_used)
        for old in mine[:max(0, len(mine) - MAX_PER_ACCOUNT + 1)]:
            self.remove(old.id)
        sub = Subscription(new_token(), account, sources, event_types, timeout, self.clock(),
                           streaming=streaming)
        sub.handle = self.notifier.subscribe(account, sub.notice)
        self._all[sub.id] = sub
        return sub

    def get(self, sub_id: str, account: str) -> Optional[Subscription]:
        self.expire()
        sub = self._all.get(sub_id)
        if sub is None or sub.account != account:
            return None
        sub.last_used = self.clock()
        return sub

    def remove(self, sub_id: str) -> bool:
        sub = self._all.pop(sub_id, None)
        if sub is None:
            return False
        if sub.handle is not None:
            sub.handle.cancel()
        return True

    def expire(self) -> None:
        now = self.clock()
        # A streaming subscription with a connection open is in use, however long.
        for sub in [s for s in self._all.values() if s.expired(now) and s.wake is None]:
            self.remove(sub.id)

    def __len__(self) -> int:
        return len(self._all)


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
