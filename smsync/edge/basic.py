"""HTTP Basic credentials (RFC 7617) and the verified-credentials cache.

Every DAV (and later EAS and EWS) request carries credentials, and a password check
costs ~0.1 s by design, so a successful check is remembered for ``ttl`` seconds under a
keyed hash of user and password (never the password itself). A changed or wrong
password misses the cache and is checked again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Awaitable, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure


def parse_basic(header: Optional[bytes]) -> Optional[tuple[bytes, bytes]]:
    """``(username, password)`` of a Basic Authorization header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (ValueError, TypeError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user, password


def basic_header(user: bytes, password: bytes) -> bytes:
    """The Authorization header value a client sends for ``user`` and ``password``."""
    return b"Basic " + base64.b64encode(user + b":" + password)


class VerifiedCache:
    """Remembers which credentials were verified lately, and runs one check for
    identical credentials arriving together.

    ``check(user, password)`` is the real check: it fires with the account name, or
    with None for wrong credentials (not cached). Its exceptions reach every waiter.
    """

    def __init__(self, ttl: float = 300.0, clock=time.monotonic, max_entries: int = 10000):
        self.ttl = ttl
        self._clock = clock
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._max = max_entries
        # Checks under way, by fingerprint: a client opening 8 connections at once
        # sends 8 identical credentials before the first check ends; one check answers
        # them all.
        self._pending: dict[bytes, list[Deferred]] = {}

    def _fingerprint(self, user: bytes, password: bytes) -> bytes:
        return hmac.new(self._key, user + b"\0" + password, hashlib.sha256).digest()

    async def verified(self, user: bytes, password: bytes,
                       check: Callable[[bytes, bytes], Awaitable[Optional[str]]]) -> Optional[str]:
        """The account ``user``/``password`` log in as: from the cache, or from
        ``check`` (whose account is then cached)."""
        key = self._fingerprint(user, password)
        cached = self._cache.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        waiters = self._pending.get(key)
        if waiters is not None:
            waiter = Deferred()
            waiters.append(waiter)
            return await waiter
        self._pending[key] = []
        try:
            account = await check(user, password)
        except BaseException:
            failure = Failure()
            for waiter in self._pending.pop(key, []):
                waiter.errback(failure)
            raise
        if account is not None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key] = (account, self._clock() + self.ttl)
        for waiter in self._pending.pop(key, []):
            waiter.callback(account)
        return account

    def forget(self, account: str) -> None:
        """Drop every remembered credential of ``account``: its password changed, and
        the old one must stop working at once, not ``ttl`` seconds later."""
        for key in [k for k, (a, _) in self._cache.items() if a == account]:
            del self._cache[key]
