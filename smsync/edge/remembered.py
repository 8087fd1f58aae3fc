"""Answers remembered for a while per account: what the protocols ask of the store on
every login or delivery (a quota, a protocol policy) read once per ``ttl`` seconds."""

from __future__ import annotations

import time

_MISSING = object()


class Remembered:
    """Per-account answers, each kept ``ttl`` seconds of ``clock``; at most
    ``max_entries`` (all dropped when full: a scan over many accounts cannot grow it)."""

    def __init__(self, ttl: float = 5.0, clock=time.monotonic, max_entries: int = 10000):
        self.ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._cache: dict = {}

    def get(self, account: str, default=_MISSING):
        """The fresh answer for ``account`` (lower case), else ``default`` (a marker
        object ``missing`` tells from any answer, None included)."""
        cached = self._cache.get(account)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        return default

    def put(self, account: str, answer) -> None:
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[account] = (answer, self._clock() + self.ttl)

    def forget(self, account=None) -> None:
        """Drop the answers (of ``account``, or all)."""
        if account is None:
            self._cache.clear()
        else:
            self._cache.pop(account, None)


def missing(answer) -> bool:
    """Whether ``Remembered.get`` found nothing fresh."""
    return answer is _MISSING
