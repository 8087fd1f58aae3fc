"""HTTP Basic authentication through the portal, with a short-lived cache.

Every DAV request carries credentials and argon2 costs ~0.1 s a check by design, so a
successful check is remembered for ``ttl`` seconds under a keyed hash of the password
(never the password itself). A changed or wrong password misses the cache and goes to
the portal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Optional

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from smsync.interfaces import IAccountAvatar


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


class BasicAuthenticator:
    """Turns an Authorization header into an account name through ``portal``."""

    def __init__(self, portal, ttl: float = 300.0, clock=time.monotonic, max_entries: int = 10000):
        self.portal = portal
        self.ttl = ttl
        self._clock = clock
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._max = max_entries
        # Checks under way, by fingerprint: a client opening 8 connections at once
        # sends 8 identical credentials before the first check ends; one argon2 run
        # answers them all.
        self._pending: dict[bytes, list[Deferred]] = {}

    def _fingerprint(self, user: bytes, password: bytes) -> bytes:
        return hmac.new(self._key, user + b"\0" + password, hashlib.sha256).digest()

    async def authenticate(self, header: Optional[bytes]) -> Optional[str]:
        """The account for ``header``, or None when missing or wrong."""
        creds = parse_basic(header)
        if creds is None:
            return None
        user, password = creds
        key = self._fingerprint(user, password)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        waiters = self._pending.get(key)
        if waiters is not None:
            waiter = Deferred()
            waiters.append(waiter)
            return await waiter
        self._pending[key] = waiters = []
        try:
            account = await self._check(key, user, password)
        except BaseException:
            failure = Failure()
            for waiter in self._pending.pop(key, []):
                waiter.errback(failure)
            raise
        for waiter in self._pending.pop(key, []):
            waiter.callback(account)
        return account

    async def _check(self, key: bytes, user: bytes, password: bytes) -> Optional[str]:
        try:
            _, avatar, logout = await self.portal.login(UsernamePassword(user, password), None,
                                                        IAccountAvatar)
        except UnauthorizedLogin:
            return None
        account = avatar.account
        logout()
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key] = (account, self._clock() + self.ttl)
        return account
