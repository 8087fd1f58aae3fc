"""Accounts and authentication: password hashes, the twisted.cred checker, realm and portal.

Every protocol authenticates through ``make_portal(store)``: the checker turns a
user@domain and password into the normalised account name, and the realm turns that into
an ``IAccountAvatar`` (or into a protocol's own avatar, see ``register_avatar_factory``).
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from zope.interface import Interface, implementer

from smsync._async import deferred
from smsync.errors import InvalidData
from smsync.interfaces import IAccountAvatar
from smsync.store.common import normalize_account

log = Logger()

# argon2-cffi's defaults are the RFC 9106 "low memory" profile (argon2id, 64 MiB, t=3):
# about 0.1 s per hash, which is the point of a password hash.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password`` (a PHC string, salt included).

    Blocking (~0.1 s): call it off the reactor thread (``deferToThread``).
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


@implementer(ICredentialsChecker)
class StoreChecker:
    """Checks ``IUsernamePassword`` credentials against the store's password hashes.

    Fires with the normalised account name (lower-case user@domain) as avatar id, or
    fails with ``UnauthorizedLogin`` -- the same error, after about the same time, for an
    unknown user, a malformed name and a wrong password.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, store):
        self.store = store

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
        if not await deferToThread(_check, stored, password):
            raise failed
        if needs_rehash(stored):
            await self._rehash(account, password)
        return account

    async def _rehash(self, account: str, password: str) -> None:
        # Upgrading is best effort: a failure must not refuse a correct password.
        try:
            new_hash = await deferToThread(hash_password, password)
            await self.store.accounts.set_password_hash(account, new_hash)
        except Exception:
            log.failure("could not upgrade the password hash of {account}", account=account)


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
