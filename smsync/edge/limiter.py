"""The login limiter: failed logins counted per client address and per account, across
connections and across every protocol (``Logins`` calls it for IMAP, POP3, SMTP AUTH,
HTTP Basic and whatever comes later).

What holds (docs/running.md says it to administrators):

* **Per address.** After a failed login, the next attempt from that address waits
  ``initial_delay``, and the wait doubles with each further failure up to ``max_delay``.
  The waits are *slots*, not sleeps: each attempt takes the next free slot of its
  address, so 50 parallel connections from one address wait 50 delays between them,
  not one. After ``max_failures`` failures the address is locked out: every attempt is
  refused at once, unchecked, until ``lockout`` seconds have passed since its last
  failure.
* **Per account.** The same counting per account name, so guesses at one account from
  many addresses slow down and lock out too -- except from the addresses that logged in
  to that account successfully lately: the owner's phone is not locked out by somebody
  else's guessing.
* **Forgetting.** A record with no failure for ``forget_after`` seconds is dropped; a
  successful login clears its account's count (not its address's: one valid account
  must not launder an address's guesses).
* **Bounded memory.** At most ``max_entries`` records are kept (the least recently
  touched go first): a flood of random names and addresses costs a fixed amount.

A refused attempt raises ``LoginUnavailable``: protocols answer "temporary failure, try
again later" (IMAP ``NO [UNAVAILABLE]``, POP3 ``-ERR [SYS/TEMP]``, SMTP 454, HTTP 503).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import attrs
from twisted.logger import Logger
from zope.interface import implementer

from smsync.clientlog import quote
from smsync.edge.logins import ILoginLimiter, LoginUnavailable

log = Logger(namespace="smsync.client")

#: Addresses remembered per account as having logged in to it.
GOOD_HOSTS = 8


@attrs.frozen
class LimiterSettings:
    """The limiter's knobs (the config's ``[logins]`` section; times in seconds)."""

    initial_delay: float = 0.5
    max_delay: float = 15.0
    max_failures: int = 10
    lockout: float = 900.0
    forget_after: float = 900.0
    max_entries: int = 100_000
    #: Addresses never limited (a webmail or proxy that logs in for many users).
    exempt: tuple = ()

    @classmethod
    def from_config(cls, config) -> "LimiterSettings":
        section = getattr(config, "logins", None)
        if section is None:
            return cls()
        return cls(initial_delay=section.initial_delay_ms / 1000.0,
                   max_delay=section.max_delay_ms / 1000.0,
                   max_failures=section.max_failures,
                   lockout=float(section.lockout_seconds),
                   forget_after=float(section.forget_after_seconds),
                   exempt=tuple(section.exempt))


class _Record:
    __slots__ = ("failures", "last_failure", "next_slot", "good_hosts")

    def __init__(self):
        self.failures = 0
        self.last_failure = 0.0
        self.next_slot = 0.0
        self.good_hosts: dict = {}


def _account_key(user) -> str:
    if isinstance(user, (bytes, bytearray)):
        user = bytes(user).decode("utf-8", "replace")
    return str(user).strip().lower()


@implementer(ILoginLimiter)
class LoginLimiter:
    """``ILoginLimiter`` that holds across connections and protocols (module docstring).

    Args:
        settings: a ``LimiterSettings``.
        clock: a Twisted ``IReactorTime`` (``seconds`` and ``callLater``).
    """

    def __init__(self, settings: LimiterSettings = LimiterSettings(), clock=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.settings = settings
        self.clock = clock
        self._records: OrderedDict[tuple, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    # -- the records ------------------------------------------------------------------

    def _get(self, key: tuple, now: float, create: bool) -> Optional[_Record]:
        record = self._records.get(key)
        if record is not None and record.failures and now - record.last_failure > self.settings.forget_after:
            if not record.good_hosts:
                del self._records[key]
                record = None
            else:
                record.failures = 0
        if record is None:
            if not create:
                return None
            record = self._records[key] = _Record()
            while len(self._records) > self.settings.max_entries:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        return record

    def _delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        s = self.settings
        return min(s.max_delay, s.initial_delay * 2 ** min(failures - 1, 30))

    def _locked(self, record: Optional[_Record], now: float) -> bool:
        s = self.settings
        return (record is not None and record.failures >= s.max_failures
                and now - record.last_failure < s.lockout)

    # -- ILoginLimiter ----------------------------------------------------------------

    async def before(self, protocol: str, user, host: str) -> None:
        """Wait for this attempt's slot, or raise ``LoginUnavailable`` when its address
        or account is locked out."""
        if host in self.settings.exempt:
            return
        now = self.clock.seconds()
        account = _account_key(user)
        by_host = self._get(("host", host), now, create=False)
        by_account = self._get(("account", account), now, create=False)
        if by_account is not None and host in by_account.good_hosts:
            by_account = None  # its owner's address: only the address's own record counts
        for record, what in ((by_host, host), (by_account, account)):
            if self._locked(record, now):
                log.warn("smsync: {protocol}: login refused (locked out after {n} failures) "
                         "for {user!s} from {host}", protocol=protocol, n=record.failures,
                         user=quote(account), host=host)
                raise LoginUnavailable("too many failed logins; try again later")
        wait = 0.0
        for record in (by_host, by_account):
            if record is not None and record.failures:
                slot = max(now, record.next_slot)
                record.next_slot = slot + self._delay(record.failures)
                wait = max(wait, slot - now)
        if wait > 0:
            from twisted.internet.task import deferLater

            await deferLater(self.clock, wait, lambda: None)

    def failed(self, protocol: str, user, host: str) -> None:
        if host in self.settings.exempt:
            return
        now = self.clock.seconds()
        for key in (("host", host), ("account", _account_key(user))):
            record = self._get(key, now, create=True)
            record.failures += 1
            record.last_failure = now
            record.next_slot = max(record.next_slot, now + self._delay(record.failures))

    def succeeded(self, protocol: str, account: str, host: str) -> None:
        if host in self.settings.exempt:
            return
        now = self.clock.seconds()
        record = self._get(("account", _account_key(account)), now, create=True)
        record.failures = 0
        record.next_slot = 0.0
        record.good_hosts[host] = now
        if len(record.good_hosts) > GOOD_HOSTS:
            oldest = min(record.good_hosts, key=record.good_hosts.get)
            del record.good_hosts[oldest]

