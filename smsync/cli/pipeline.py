"""Storing many items with bounded concurrency, stopping cleanly at the first failure.

Imports issue many appends at once (32 by default) so a store that group-commits can
write them in few transactions; the bookkeeping here keeps track of which prefix of the
input is fully stored, which is what progress and error messages report.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Iterator, Optional

import attrs
from twisted.internet.defer import DeferredList, DeferredSemaphore, maybeDeferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

#: Appends in flight at once.
CONCURRENCY = 32

#: Items read from the source per trip to a worker thread.
READ_BATCH = 64


@attrs.define
class Outcome:
    """How an import went. ``stored`` counts every acknowledged item; ``prefix`` is the
    length of the run 1..prefix all acknowledged. ``failed_at`` (1-based) and ``error``
    are set when it stopped early."""

    stored: int = 0
    prefix: int = 0
    failed_at: Optional[int] = None
    error: Optional[BaseException] = None


def _take(iterator: Iterator, count: int) -> list:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) >= count:
            break
    return out


async def store_all(items: Iterator, store_one: Callable[[object], Awaitable],
                    on_progress: Callable[[int], None] = lambda prefix: None,
                    concurrency: int = CONCURRENCY, read_in_thread: bool = True) -> Outcome:
    """Call ``store_one(item)`` (returning a Deferred) for every item of ``items``, at
    most ``concurrency`` at a time, in order. Items are pulled from ``items`` on a worker
    thread (file reading stays off the reactor) when ``read_in_thread``.

    At the first failure -- of ``store_one`` or of reading -- no further item is started;
    those in flight are waited for. Fires with the ``Outcome``; never fails.
    """
    outcome = Outcome()
    slots = DeferredSemaphore(concurrency)
    acked: set[int] = set()
    pending: dict[int, object] = {}

    def finished(result, index):
        del pending[index]
        slots.release()
        if isinstance(result, Failure):
            if outcome.failed_at is None or index < outcome.failed_at:
                outcome.failed_at, outcome.error = index, result.value
            return None
        outcome.stored += 1
        acked.add(index)
        while outcome.prefix + 1 in acked:
            outcome.prefix += 1
            acked.discard(outcome.prefix)
        on_progress(outcome.prefix)
        return None

    index = 0
    while outcome.failed_at is None:
        try:
            if read_in_thread:
                batch = await deferToThread(_take, items, READ_BATCH)
            else:
                batch = _take(items, READ_BATCH)
        except Exception as e:
            outcome.failed_at, outcome.error = index + 1, e
            break
        if not batch:
            break
        for item in batch:
            await slots.acquire()
            if outcome.failed_at is not None:
                slots.release()
                break
            index += 1
            d = maybeDeferred(store_one, item)
            pending[index] = d
            d.addBoth(finished, index)
    await DeferredList(list(pending.values()))
    return outcome
