"""Glue between ``async def`` implementations and the Deferred-returning interfaces, and
a way for long work on the reactor thread to let other connections in."""

import functools
from time import monotonic
from typing import Optional

from twisted.internet.defer import Deferred


def deferred(fn):
    """Make an ``async def`` method return a Deferred, as every interface method must."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return Deferred.fromCoroutine(fn(*args, **kwargs))

    return wrapper


#: How long a loop may hold the reactor before giving other connections a turn.
SLICE = 0.004


class Pacer:
    """Keeps one request's loop from holding the reactor: ``await pacer.breathe()`` in the
    loop returns at once until ``slice_`` seconds have passed since the last turn, then
    waits for the reactor's next iteration, in which every other connection's pending
    input and every store answer is handled first.

    One server process serves IMAP, POP3, LMTP and HTTP on one thread: a loop over
    50,000 calendar items without a turn stalls all of them for as long as it runs.
    """

    def __init__(self, slice_: float = SLICE, clock=None):
        self.slice = slice_
        self._clock = clock
        self._since = monotonic()

    def due(self) -> bool:
        """Whether the loop has used its slice (``breathe`` would wait)."""
        return monotonic() - self._since >= self.slice

    async def breathe(self) -> None:
        """Return at once, or after one reactor iteration when the slice is used."""
        if monotonic() - self._since < self.slice:
            return
        await _next_iteration(self._clock)
        self._since = monotonic()


def _next_iteration(clock: Optional[object]) -> Deferred:
    from twisted.internet.task import deferLater

    if clock is None:
        from twisted.internet import reactor as clock
    return deferLater(clock, 0, lambda: None)
