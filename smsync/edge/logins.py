"""Logging in, the same way for every protocol: one ``Logins.login`` call does the
portal login, the protocol policy check and the failed-login log line.

A protocol decodes what its client sent (``smsync.edge.sasl``, ``smsync.edge.basic``),
calls ``login`` (or ``basic`` for an HTTP Authorization header), and turns the
exceptions into its own answers:

* ``BadCredentials`` -- wrong user or password (IMAP ``NO [AUTHENTICATIONFAILED]``,
  POP3 ``-ERR [AUTH]``, SMTP 535, HTTP 401);
* ``ProtocolNotAllowed`` -- right password, but the account's policy does not allow this
  protocol (IMAP ``NO [CONTACTADMIN]``, POP3 ``-ERR [AUTH]``, SMTP 535 5.7.8, HTTP 403);
* ``LoginUnavailable`` -- not checked now: the login limiter locked the address or the
  account out, or too many password checks are under way (``smsync.auth.LoginBusy``)
  (IMAP ``NO [UNAVAILABLE]``, POP3 ``-ERR [SYS/TEMP]``, SMTP 454 4.7.0, HTTP 503).

Both are logged here, one line each, so the lines are the same in every protocol::

    smsync: imap: authentication failed for user@example.org from 192.0.2.7
    smsync: pop3: protocol not allowed for user@example.org from 192.0.2.7

The login limiter (counting failures per address and per account across protocols)
plugs in as ``Logins.limiter``: ``login`` and ``basic`` call it before every check and
tell it every outcome.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import attrs
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import LoginFailed, UnauthorizedLogin
from twisted.logger import Logger
from zope.interface import Interface, implementer

from smsync.auth import LoginBusy
from smsync.clientlog import quote
from smsync.edge.basic import VerifiedCache, parse_basic
from smsync.edge.policy import Policy
from smsync.interfaces import IAccountAvatar

log = Logger(namespace="smsync.client")


def log_failed_login(protocol: str, user, host: str) -> None:
    """The one failed-login line (fail2ban's filter in docs/running.md matches it)."""
    log.warn("smsync: {protocol}: authentication failed for {user!s} from {host}",
             protocol=protocol, user=quote(user if user is not None else ""), host=host)


def log_busy_login(protocol: str, user, host: str) -> None:
    """The line for a login not checked because too many checks are under way."""
    log.warn("smsync: {protocol}: login not checked (server busy) for {user!s} from {host}",
             protocol=protocol, user=quote(user if user is not None else ""), host=host)


def log_refused_login(protocol: str, account: str, host: str) -> None:
    """The line for a right password refused by the protocol policy."""
    log.warn("smsync: {protocol}: protocol not allowed for {user!s} from {host}",
             protocol=protocol, user=quote(account), host=host)


class LoginRefused(Exception):
    """A login did not succeed; already logged."""


class BadCredentials(LoginRefused):
    """Unknown user, wrong password, or unreadable credentials."""


class LoginUnavailable(LoginRefused):
    """The credentials were not checked this time (lock-out, or the server too busy
    checking others): the client should try again later."""


class ProtocolNotAllowed(LoginRefused):
    """The credentials are right but the account may not use this protocol."""

    def __init__(self, account: str, protocol: str):
        super().__init__(f"{protocol} is not allowed for {account}")
        self.account = account
        self.protocol = protocol


class ILoginLimiter(Interface):
    """Where the login limiter plugs in: told of every attempt, in every protocol."""

    def before(protocol, user, host):
        """Called before credentials are checked; a coroutine that may wait (a delay)
        or raise ``LoginRefused`` (a lock-out) to stop the attempt."""

    def failed(protocol, user, host):
        """Count a failed attempt by ``user`` (as the client spelled it) from ``host``."""

    def succeeded(protocol, account, host):
        """Note a successful login."""


@implementer(ILoginLimiter)
class NoLimit:
    """The limiter that limits nothing (protocols still slow their own answers)."""

    async def before(self, protocol, user, host) -> None:
        return None

    def failed(self, protocol, user, host) -> None:
        pass

    def succeeded(self, protocol, account, host) -> None:
        pass


@attrs.frozen
class LoggedIn:
    """A successful login: the account, the avatar asked for, and its logout."""

    account: str
    avatar: object
    logout: Callable[[], None]


def is_loopback(host: str) -> bool:
    """True for an address of the loopback interface (127/8, ::1, IPv4-mapped) and for
    non-IP peers (UNIX sockets, in-process transports)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return not any(c.isdigit() for c in str(host)) or str(host) in ("", "?")
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _text(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


class Logins:
    """Every protocol's login, over one portal and one policy.

    Args:
        portal: answers ``IAccountAvatar`` (and protocols' own avatar) logins.
        policy: the ``Policy`` consulted after a right password.
        limiter: an ``ILoginLimiter`` (default: none).
        basic_ttl: seconds a verified HTTP Basic credential is remembered.
    """

    def __init__(self, portal, policy: Policy, limiter=None, basic_ttl: float = 300.0,
                 clock=time.monotonic, allow_cleartext: bool = False):
        self.portal = portal
        self.policy = policy
        #: ``[tls] allow_cleartext_passwords``: see ``cleartext_allowed``.
        self.allow_cleartext = allow_cleartext
        self.limiter = limiter if limiter is not None else NoLimit()
        self.verified = VerifiedCache(ttl=basic_ttl, clock=clock)

    def cleartext_allowed(self, host: str) -> bool:
        """Whether a client at ``host`` may send a password over an unencrypted
        connection: from the loopback interface always, from elsewhere only where the
        configuration allows it (RFC 8314 says it should not). Protocols ask this before
        offering or taking a plaintext login on a connection without TLS."""
        return self.allow_cleartext or is_loopback(host)

    async def login(self, protocol: str, user, password, host: str,
                    interface=IAccountAvatar) -> LoggedIn:
        """Log ``user`` (bytes or text) in with ``password`` over ``protocol`` (a name of
        ``smsync.edge.policy.PROTOCOLS``) for a client at ``host``.

        Raises:
            BadCredentials: wrong credentials (logged).
            ProtocolNotAllowed: the policy refuses ``protocol`` (logged; the avatar has
                been logged out).
        """
        await self.limiter.before(protocol, user, host)
        try:
            _iface, avatar, logout = await self.portal.login(
                UsernamePassword(_bytes(user), _bytes(password)), None, interface)
        except LoginBusy:
            log_busy_login(protocol, _text(user), host)
            raise LoginUnavailable("too many logins are being checked; try again later") from None
        except (UnauthorizedLogin, LoginFailed):
            self.failed(protocol, user, host)
            raise BadCredentials() from None
        account = getattr(avatar, "account", None) or _text(user)
        try:
            await self.check_policy(protocol, account, host)
        except ProtocolNotAllowed:
            logout()
            raise
        self.limiter.succeeded(protocol, account, host)
        return LoggedIn(account, avatar, logout)

    def failed(self, protocol: str, user, host: str) -> None:
        """Log and count a failed attempt the protocol found itself (say, a PLAIN
        response asking to act as someone else)."""
        log_failed_login(protocol, _text(user), host)
        self.limiter.failed(protocol, user, host)

    async def check_policy(self, protocol: str, account: str, host: str) -> None:
        """Raise (and log) ``ProtocolNotAllowed`` unless ``account`` may use
        ``protocol``."""
        if not await self.policy.allows(account, protocol):
            log_refused_login(protocol, account, host)
            raise ProtocolNotAllowed(account, protocol)

    async def basic(self, protocol: str, header: Optional[bytes], host: str) -> Optional[str]:
        """The account an HTTP ``Authorization`` header logs in as; None without one.

        Verified credentials are remembered (``basic_ttl``) so a client sending them
        with every request pays for one password check; the policy is asked every time
        (it remembers its own answers).

        Raises:
            BadCredentials: unreadable or wrong credentials (logged).
            ProtocolNotAllowed: as for ``login``.
        """
        if not header:
            return None
        creds = parse_basic(header)
        if creds is None:
            self.failed(protocol, "(unreadable Authorization)", host)
            raise BadCredentials()
        user, password = creds
        await self.limiter.before(protocol, user, host)
        account = await self.verified.verified(user, password, self._check)
        if account is None:
            self.failed(protocol, user, host)
            raise BadCredentials()
        await self.check_policy(protocol, account, host)
        self.limiter.succeeded(protocol, account, host)
        return account

    def password_changed(self, account: str) -> None:
        """Forget the verified Basic credentials of ``account`` (in this process; other
        processes' caches expire after ``basic_ttl``), so its old password is refused
        from the next request on."""
        self.verified.forget(account)

    async def _check(self, user: bytes, password: bytes) -> Optional[str]:
        try:
            _, avatar, logout = await self.portal.login(UsernamePassword(user, password), None,
                                                        IAccountAvatar)
        except LoginBusy:
            raise LoginUnavailable("too many logins are being checked; try again later") from None
        except (UnauthorizedLogin, LoginFailed):
            return None
        logout()
        return avatar.account
