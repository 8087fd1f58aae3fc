"""Accounts and authentication: password hashes, the twisted.cred checker, realm and portal.

Every protocol authenticates through ``make_portal(store)``: the checker turns a
user@domain and password into the normalised account name, and the realm turns that into
an ``IAccountAvatar`` (or into a protocol's own avatar, see ``register_avatar_factory``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from typing import Callable, Optional

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from twisted.logger import Logger
from zope.interface import Interface, implementer

from smsync._async import deferred
from smsync.errors import InvalidData
from smsync.interfaces import IAccountAvatar
from smsync.store.common import normalize_account

log = Logger()

#: argon2id parameters: the first choice of the OWASP Password Storage Cheat Sheet
#: (19 MiB, 2 passes, 1 lane), about 20 ms a check on one 2020s server core. argon2-cffi's
#: default (RFC 9106's "low memory" profile, 64 MiB and 3 passes) costs ~190 ms and
#: 64 MiB a check: 40 parallel wrong logins then took a server to 700 MB and a real
#: user's login to 11 s, so the defence became the attack. What keeps a guesser slow is
#: the login limiter (per address and account), not a hash so slow that the server
#: cannot afford it; hashes made with other parameters are redone at the next good login.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                         parallelism=PARALLELISM)

#: Threads checking passwords at once: each holds MEMORY_COST_KIB while it hashes, and
#: hashing is all CPU, so more threads than cores only add memory.
CHECKERS = max(1, min(4, os.cpu_count() or 1))

#: Checks that may wait for a thread; beyond it a login is answered "try again later" at
#: once instead of queueing (a flood of guesses must not make a real user wait seconds).
MAX_WAITING_CHECKS = 64

#: How long a verified user name and password are remembered, so that clients logging in
#: every few seconds (POP3 pollers, IMAP clients opening connections) pay the hash once.
VERIFIED_TTL = 3600.0

#: Most verified credentials remembered (the oldest go first).
VERIFIED_MAX = 10000


class LoginBusy(UnauthorizedLogin):
    """Too many password checks are under way: the login was not checked. Protocols
    answer with their "temporary failure, try again later" reply."""


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password`` (a PHC string, salt included).

    Blocking (~20 ms of CPU): call it off the reactor thread (``check_pool.run``).
    """
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; False otherwise, including when the
    hash is not an argon2 hash at all (e.g. a disabled account's ``"!"``). Never raises
    for bad input. Blocking, like ``hash_password``."""
    if not isinstance(password_hash, str) or not isinstance(password, str):
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if the hash was made with weaker parameters than today's defaults."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Unknown users are verified against this so that they cost as much as a wrong
    # password: the answer time does not tell which accounts exist.
    return hash_password("smsync-dummy-password-for-timing")


def _text(value) -> Optional[str]:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _check(password_hash: Optional[str], password: str) -> bool:
    ok = verify_password(password_hash or _dummy_hash(), password)
    return ok and password_hash is not None


class CheckPool:
    """The bounded pool password checks run in: ``CHECKERS`` threads, and at most
    ``MAX_WAITING_CHECKS`` checks waiting for one (``LoginBusy`` beyond that)."""

    def __init__(self, threads: int = CHECKERS, max_waiting: int = MAX_WAITING_CHECKS,
                 reactor=None):
        self.threads = threads
        self.max_waiting = max_waiting
        self._reactor = reactor
        self._pool: Optional[ThreadPool] = None
        #: Checks submitted and not finished (running or waiting).
        self.pending = 0

    def _started(self) -> ThreadPool:
        if self._pool is None:
            reactor = self._reactor
            if reactor is None:
                from twisted.internet import reactor
            self._reactor = reactor
            self._pool = ThreadPool(minthreads=0, maxthreads=self.threads,
                                    name="smsync-password-check")
            self._pool.start()
            reactor.addSystemEventTrigger("during", "shutdown", self._pool.stop)
        return self._pool

    async def run(self, fn, *args):
        """``fn(*args)`` on a check thread; ``LoginBusy`` at once when too many wait."""
        pool = self._started()
        if self.pending >= self.threads + self.max_waiting:
            raise LoginBusy("too many logins are being checked; try again later")
        self.pending += 1
        try:
            return await deferToThreadPool(self._reactor, pool, fn, *args)
        finally:
            self.pending -= 1


#: The pool every ``StoreChecker`` shares unless given its own.
check_pool = CheckPool()


class VerifiedCache:
    """User names and passwords verified lately, by a keyed hash of the account, the
    password and the stored hash together: a changed password (a new stored hash) or a
    different password misses. Nothing here can give back a password."""

    def __init__(self, ttl: float = VERIFIED_TTL, max_entries: int = VERIFIED_MAX,
                 clock=time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()

    def _fingerprint(self, account: str, stored: str, password: str) -> bytes:
        text = "\0".join((account, stored, password)).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, text, hashlib.sha256).digest()

    def __contains__(self, item) -> bool:
        key = self._fingerprint(*item)
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires < self._clock():
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, account: str, stored: str, password: str) -> None:
        self._entries[self._fingerprint(account, stored, password)] = self._clock() + self.ttl
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


@implementer(ICredentialsChecker)
class StoreChecker:
    """Checks ``IUsernamePassword`` credentials against the store's password hashes.

    Fires with the normalised account name (lower-case user@domain) as avatar id, or
    fails with ``UnauthorizedLogin`` -- the same error, after about the same time, for an
    unknown user, a malformed name and a wrong password -- or ``LoginBusy`` (a subclass)
    when too many checks are under way to take this one. A user name and password
    verified in the last ``VERIFIED_TTL`` seconds are not hashed again.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, store, pool: Optional[CheckPool] = None):
        self.store = store
        self.pool = pool or check_pool
        self.verified = VerifiedCache()

    @deferred
    async def requestAvatarId(self, credentials):
        failed = UnauthorizedLogin("invalid user name or password")
        username = _text(credentials.username)
        password = _text(credentials.password)
        account = None
        if username is not None:
            try:
                account = normalize_account(username)
            except InvalidData:
                account = None
        stored = None
        if account is not None:
            stored = await self.store.accounts.password_hash(account)
        if password is None:
            password = ""
            stored = None
        if stored is not None and (account, stored, password) in self.verified:
            return account
        if not await self.pool.run(_check, stored, password):
            raise failed
        if needs_rehash(stored):
            stored = await self._rehash(account, password) or stored
        self.verified.add(account, stored, password)
        return account

    async def _rehash(self, account: str, password: str) -> None:
        # Upgrading is best effort: a failure must not refuse a correct password.
        try:
            new_hash = await self.pool.run(hash_password, password)
            await self.store.accounts.set_password_hash(account, new_hash)
            return new_hash
        except Exception:
            log.failure("could not upgrade the password hash of {account}", account=account)
            return None


@implementer(IAccountAvatar)
@attrs.frozen
class AccountAvatar:
    """The avatar every login gets: the account name and the store it lives in."""

    account: str
    store: object = attrs.field(repr=False)

    def mail(self):
        """The account's ``IMailStore`` (a Deferred)."""
        return self.store.mail(self.account)

    def collections(self):
        """The account's ``ICollectionStore`` (a Deferred)."""
        return self.store.collections(self.account)


#: Protocols' avatar factories: interface -> callable(AccountAvatar) -> avatar. Filled by
#: ``register_avatar_factory``; every ``SmsyncRealm`` consults it.
AVATAR_FACTORIES: dict = {}


def register_avatar_factory(interface, factory: Callable) -> None:
    """Make the realm answer logins asking for ``interface`` with ``factory(avatar)``.

    ``factory`` gets the ``AccountAvatar``; the object it returns is the protocol's
    avatar. If that object has a ``logout()`` method it is called at logout.
    """
    AVATAR_FACTORIES[interface] = factory


@implementer(IRealm)
class SmsyncRealm:
    """Gives an ``AccountAvatar`` for ``IAccountAvatar``; for any other interface, the
    avatar a registered factory (this realm's ``factories``, then ``AVATAR_FACTORIES``)
    or a zope adapter from ``IAccountAvatar`` makes."""

    def __init__(self, store, factories: Optional[dict] = None):
        self.store = store
        self.factories = dict(factories or {})

    def requestAvatar(self, avatarId, mind, *interfaces):
        account = _text(avatarId)
        base = AccountAvatar(account=account, store=self.store)
        for interface in interfaces:
            avatar = self._make(interface, base)
            if avatar is not None:
                return interface, avatar, functools.partial(_logout, avatar)
        raise NotImplementedError(
            "no avatar for " + ", ".join(getattr(i, "__name__", repr(i)) for i in interfaces)
        )

    def _make(self, interface, base: AccountAvatar):
        if interface is IAccountAvatar:
            return base
        factory = self.factories.get(interface) or AVATAR_FACTORIES.get(interface)
        if factory is not None:
            return factory(base)
        if isinstance(interface, type(Interface)):
            return interface(base, None)
        return None


def _logout(avatar) -> None:
    logout = getattr(avatar, "logout", None)
    if callable(logout):
        logout()


def make_portal(store, factories: Optional[dict] = None) -> Portal:
    """A portal over ``store``'s accounts: a ``StoreChecker`` and a ``SmsyncRealm``."""
    return Portal(SmsyncRealm(store, factories), [StoreChecker(store)])
