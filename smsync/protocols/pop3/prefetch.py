"""Reading messages before a POP3 client asks for them.

Clients (poplib loops, fetchmail, Thunderbird) RETR message after message in order and
wait for each answer before sending the next command. Reading each body from the store
only when its RETR arrives puts a storage round trip (thread hops, SQL, a file read) on
every exchange; that, not the socket, bounded retrieval at ~13 MB/s. ``Prefetcher``
instead keeps a window of the next small messages read ahead, fetched in batches (one
``IMailboxRangeReads.read_ranges`` call per batch where the store has it, else concurrent
``read_body`` calls), so a RETR usually finds its body already in memory.

Memory is bounded: at most ``budget`` bytes are held or in flight, only messages of at
most ``max_message`` bytes are read ahead (larger ones stream in ranges), and entries the
client skipped are dropped as soon as it moves past them.

A body read ahead is a snapshot: if another session removes the message in between, the
client still gets the text it saw in its maildrop listing, as if its RETR had come a
moment earlier.
"""

from __future__ import annotations

import collections
from typing import Optional, Union

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from smsync.errors import NotFound
from smsync.interfaces import IMailboxRangeReads

log = Logger(namespace="smsync.pop3")

#: What ``Prefetcher.take`` hands back for a message that was read ahead: its text, or
#: None if the store said it no longer exists.
Body = Optional[bytes]


class _Batch:
    """One read of several bodies in flight, and who is waiting for which of them."""

    def __init__(self):
        #: uid -> the Deferred a RETR waits on (at most one: commands run in order).
        self.waiters: dict[int, defer.Deferred] = {}


class Prefetcher:
    """The read-ahead window of one POP3 session.

    Args:
        maildrop: the session's ``Maildrop`` (its mailbox and numbered entries).
        max_message: messages larger than this are never read ahead.
        budget: bytes held plus bytes being read, at most.
        batch: messages asked of the store in one call, at most.
    """

    def __init__(self, maildrop, max_message: int, budget: int = 1 << 20, batch: int = 32):
        self._maildrop = maildrop
        self._max_message = max_message
        self._budget = budget
        self._batch = batch
        #: uid -> text (or None: gone), or the _Batch still reading it.
        self._slots: dict[int, Union[Body, _Batch]] = {}
        #: ``(number, uid, size)`` of every slot, in message-number order.
        self._order: collections.deque = collections.deque()
        #: Bytes held or being read.
        self._bytes = 0
        #: Highest message number planned so far (read ahead or passed over).
        self._planned = 0
        #: Batches still being read.
        self._reading: set[_Batch] = set()
        self._closed = False

    def take(self, uid: int) -> Union[None, tuple[Body], defer.Deferred]:
        """The body of ``uid`` if it was read ahead.

        Returns:
            None if it was not (the caller reads it itself); ``(body,)`` if it is in
            memory (``body`` None if the store found it gone); or a Deferred firing with
            ``(body,)``, or with None if the batch read failed and the caller should read
            it itself to get the store's error.
        """
        slot = self._slots.pop(uid, _MISSING)
        if slot is _MISSING:
            return None
        if isinstance(slot, _Batch):
            # Claimed now: the batch hands it straight to the waiter when it lands.
            waiter = slot.waiters[uid] = defer.Deferred()
            return waiter
        if slot is not None:
            self._bytes -= len(slot)
        return (slot,)

    def ready(self, uid: int) -> Optional[bytes]:
        """The text of ``uid`` if it is read ahead and in memory (handed over: the
        window forgets it), else None and nothing changes."""
        slot = self._slots.get(uid)
        if slot is None or isinstance(slot, _Batch):
            return None
        del self._slots[uid]
        self._bytes -= len(slot)
        return slot

    def advance(self, number: int) -> None:
        """The client just asked for message ``number``: forget what it passed over and
        read further ahead if the window runs low."""
        if self._closed:
            return
        entries = self._maildrop.entries
        while self._order and self._order[0][0] <= number:
            _, uid, _ = self._order.popleft()
            slot = self._slots.pop(uid, None)
            # A body still being read stays counted until its batch lands and drops it.
            if slot is not None and not isinstance(slot, _Batch):
                self._bytes -= len(slot)
        if self._planned < number:
            self._planned = number
        # Refill only when half the window is used up, so the store is asked for many
        # messages at a time rather than one per RETR.
        if len(self._order) > self._batch // 2:
            return
        plan: list[tuple[int, int, int]] = []
        room = self._budget - self._bytes
        n = self._planned
        while n < len(entries) and len(plan) < self._batch:
            entry = entries[n]
            if entry.deleted or entry.size > self._max_message or entry.uid in self._slots:
                n += 1
                continue
            if entry.size > room:
                break
            n += 1
            plan.append((n, entry.uid, entry.size))
            room -= entry.size
        self._planned = n
        if plan:
            self._start(plan)

    def close(self) -> None:
        """Drop everything held; batches still reading are discarded when they land."""
        self._closed = True
        waiters = [w for batch in self._reading for w in batch.waiters.values()]
        for batch in self._reading:
            batch.waiters.clear()
        self._reading.clear()
        self._slots.clear()
        self._order.clear()
        self._bytes = 0
        for waiter in waiters:
            waiter.callback(None)

    # -- reading --------------------------------------------------------------------

    def _start(self, plan: list[tuple[int, int, int]]) -> None:
        batch = _Batch()
        self._reading.add(batch)
        for n, uid, size in plan:
            self._slots[uid] = batch
            self._order.append((n, uid, size))
            self._bytes += size
        d = read_bodies(self._maildrop.mailbox, [uid for _, uid, _ in plan])
        d.addCallbacks(self._landed, self._failed, callbackArgs=(batch, plan),
                       errbackArgs=(batch, plan))

    def _landed(self, bodies: list[Body], batch: _Batch, plan) -> None:
        if len(bodies) != len(plan):
            # A backend answering for other messages than asked: trust none of it.
            self._failed(Failure(RuntimeError(
                f"read {len(bodies)} bodies for {len(plan)} messages")), batch, plan)
            return
        self._reading.discard(batch)
        ready = []
        for (_, uid, size), body in zip(plan, bodies):
            if self._closed:
                break
            self._bytes -= size
            waiter = batch.waiters.pop(uid, None)
            if waiter is not None:
                ready.append((waiter, (body,)))
            elif self._slots.get(uid) is batch:
                self._slots[uid] = body
                if body is not None:
                    self._bytes += len(body)
            # else: the client moved past it while it was being read.
        # Waiters resume their RETR synchronously: only once the window is consistent.
        ready += [(w, None) for w in batch.waiters.values()]
        batch.waiters.clear()
        for waiter, outcome in ready:
            waiter.callback(outcome)

    def _failed(self, failure: Failure, batch: _Batch, plan) -> None:
        # Each RETR then reads its message itself and reports the store's own error.
        log.failure("POP3: reading ahead failed", failure)
        self._reading.discard(batch)
        if not self._closed:
            for _, uid, size in plan:
                self._bytes -= size
                if self._slots.get(uid) is batch:
                    del self._slots[uid]
        waiters = list(batch.waiters.values())
        batch.waiters.clear()
        for waiter in waiters:
            waiter.callback(None)


def read_bodies(mailbox, uids: list[int]) -> defer.Deferred:
    """Fire with the whole text of each of ``uids`` (None for one the store no longer
    has), in order: one ``read_ranges`` call when ``mailbox`` offers it, else one
    ``read_body`` per message, all in flight at once."""
    if IMailboxRangeReads.providedBy(mailbox):
        return mailbox.read_ranges([(uid, 0, None) for uid in uids])
    return defer.gatherResults([_body_or_none(mailbox, uid) for uid in uids],
                               consumeErrors=True).addErrback(_first_error)


def _body_or_none(mailbox, uid: int) -> defer.Deferred:
    return mailbox.read_body(uid).addErrback(lambda f: f.trap(NotFound) and None)


def _first_error(failure: Failure) -> Failure:
    # gatherResults wraps the first failure in a FirstError: hand on the store's own.
    if failure.check(defer.FirstError):
        return failure.value.subFailure
    return failure


_MISSING = object()
