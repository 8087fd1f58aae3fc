"""Storage quotas: each account's limit on the size of its mail, checked wherever mail
enters or a client makes it bigger (LMTP/SMTP delivery; IMAP APPEND, REPLACE and COPY;
EAS drafts and sent copies; EWS CreateItem, CopyItem and message rewrites; submission's
Sent copy) and reported by IMAP GETQUOTA. The protocols ask through ``exceeded``, the
one decision they share, and answer its ``OverQuota`` each in their own way.

The limit is kept in the account's settings (``IAccountSettings``, key ``quota``, the
octets as ASCII digits) so every process on the store sees it and it goes with the
account; administrators set it with ``smsync.admin.accounts.set_quota``. What an
account uses is the store's running total of its folders' sizes (``IAccountUsage``),
one small read. A store without either part enforces no quota.

Limits are remembered for ``ttl`` seconds per account, so a change reaches a running
server within that time and an account without a quota (the usual case) costs no read
per message. The check is soft, as every quota of a mail server is: two messages
arriving at once may both fit alone and together pass the limit a little.
"""

from __future__ import annotations

import inspect
import time
from typing import Optional

from twisted.logger import Logger

from smsync.edge.remembered import Remembered, missing
from smsync.errors import NotFound, QuotaExceeded
from smsync.interfaces import IAccountSettings, IAccountUsage

QUOTA_KEY = "quota"
_UNKNOWN = object()

log = Logger(namespace="smsync.quota")


class OverQuota(QuotaExceeded):
    """Storing ``size`` more octets would pass ``account``'s ``limit`` (it uses
    ``used``); ``permanent`` when the message alone is larger than the limit, so it will
    never fit (SMTP 552 5.2.2 rather than 452 4.2.2)."""

    def __init__(self, account: str, limit: int, used: int, size: int):
        self.account, self.limit, self.used, self.size = account, limit, used, size
        self.permanent = size > limit
        if self.permanent:
            text = f"the message ({size} octets) is larger than the quota of {account} ({limit} octets)"
        else:
            text = f"{account} is over its quota ({used} of {limit} octets used)"
        super().__init__(text)


def parse_quota(raw: Optional[bytes]) -> Optional[int]:
    """A stored limit in octets, or None (no limit, or a value that is not one)."""
    if not raw or not raw.isdigit() or len(raw) > 19:
        return None
    return int(raw)


def settings_of(store):
    settings = getattr(store, "settings", None)
    return settings if IAccountSettings.providedBy(settings) else None


def usage_of(store):
    """``store``'s ``IAccountUsage`` (its account store), or None."""
    accounts = getattr(store, "accounts", None)
    return accounts if IAccountUsage.providedBy(accounts) else None


class Quotas:
    """The quotas of one store, as the protocols check them."""

    def __init__(self, store, ttl: float = 5.0, clock=time.monotonic, max_entries: int = 10000):
        self.settings = settings_of(store)
        self.usage = usage_of(store)
        self._remembered = Remembered(ttl, clock, max_entries)

    @property
    def supported(self) -> bool:
        """False when the store can keep no limit or count no usage."""
        return self.settings is not None and self.usage is not None

    def known_unlimited(self, account: str) -> bool:
        """True when ``account`` is remembered to have no quota (nothing to check, no
        read): the fast path of a delivery."""
        if not self.supported:
            return True
        return self._remembered.get(account.lower(), 0) is None

    async def limit(self, account: str) -> Optional[int]:
        """``account``'s limit in octets, or None for none."""
        if not self.supported:
            return None
        account = account.lower()
        cached = self._remembered.get(account)
        if not missing(cached):
            return cached
        limit = parse_quota(await self.settings.get(account, QUOTA_KEY))
        self._remembered.put(account, limit)
        return limit

    async def check(self, account: str, size: int) -> None:
        """Raise ``OverQuota`` when storing ``size`` more octets would take ``account``
        past its limit. An account that is gone is not this check's business (the
        store refuses the write itself)."""
        limit = await self.limit(account)
        if limit is None:
            return
        if size > limit:
            raise OverQuota(account, limit, 0, size)
        try:
            used = await self.usage.usage(account)
        except NotFound:
            return
        if used + size > limit:
            raise OverQuota(account, limit, used, size)

    def forget(self, account: Optional[str] = None) -> None:
        """Drop remembered limits (of ``account``, or all): after this process changed
        one."""
        self._remembered.forget(None if account is None else account.lower())


async def exceeded(quotas: Optional[Quotas], account: str, size, what: str) -> Optional[OverQuota]:
    """The ``OverQuota`` refusing ``what`` (the protocol's command, for the log line)
    when storing ``size`` more octets would take ``account`` past its quota, else None
    (also with no ``quotas``, or nothing added: ``size`` of 0 or less).

    ``size`` is the octets, or an async function of none fetching them: it is called
    only for an account that has a limit, so a server without quotas reads no sizes
    (an IMAP COPY's messages, say). Every refusal is logged here, once."""
    if quotas is None or quotas.known_unlimited(account):
        return None
    if callable(size):
        if await quotas.limit(account) is None:
            return None
        size = size()
        if inspect.isawaitable(size):
            size = await size
    if size <= 0:
        return None
    try:
        await quotas.check(account, size)
    except OverQuota as e:
        log.info("{what} refused: {why}", what=what, why=e)
        return e
    return None


async def require(quotas: Optional[Quotas], account: str, size, what: str) -> None:
    """``exceeded``, raising its ``OverQuota`` (a ``QuotaExceeded``): for protocols
    whose store errors become their answers."""
    refused = await exceeded(quotas, account, size, what)
    if refused is not None:
        raise refused
