"""The delivery core LMTP and SMTP share: which recipients exist, and storing a message
in a recipient's Inbox with its trace fields.

A message counts as delivered when ``IMailbox.append``'s Deferred has fired: the store
promises the body and its metadata are durable then, so a 250 sent after that loses
nothing if the process dies a moment later. Appending wakes IDLE/push subscribers
through the store's notifier; nothing here needs to.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Optional

import attrs
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from smsync._async import deferred
from smsync.edge.quota import exceeded
from smsync.errors import InvalidData, NotFound, QuotaExceeded, SmsyncError, StorageUnavailable
from smsync.protocols.delivery.envelope import account_of, return_path_header, split_address

log = Logger(namespace="smsync.delivery")

#: How long the set of local domains is cached (seconds).
DOMAIN_CACHE_SECONDS = 30.0

#: How long an account found to exist is taken to exist without asking again (seconds).
ACCOUNT_CACHE_SECONDS = 30.0


@attrs.frozen
class Reply:
    """An SMTP reply: ``code``, enhanced status (RFC 3463) and text."""

    code: int
    enhanced: str
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def line(self) -> bytes:
        return f"{self.code} {self.enhanced} {self.text}\r\n".encode("utf-8")


class Rejected(Exception):
    """A recipient (or message) refused with ``reply``."""

    def __init__(self, reply: Reply):
        super().__init__(reply.text)
        self.reply = reply


class DeliveryCore:
    """Resolves recipients to accounts and stores messages in their Inbox."""

    def __init__(self, store, hostname: str, max_message_size: int,
                 plus_separator: str = "+", clock=time.monotonic, quotas=None):
        self.store = store
        #: ``smsync.edge.quota.Quotas``: each account's storage limit (None: none).
        self.quotas = quotas
        self.hostname = hostname
        self.max_message_size = max_message_size
        self.plus_separator = plus_separator
        self._clock = clock
        self._domains: Optional[frozenset] = None
        self._domains_at = 0.0
        self._known: dict[str, float] = {}
        # A few Inbox handles: a handle reads current state, so keeping it is safe.
        self._inboxes: "OrderedDict[str, object]" = OrderedDict()

    async def _local_domains(self) -> frozenset:
        now = self._clock()
        if self._domains is None or now - self._domains_at > DOMAIN_CACHE_SECONDS:
            accounts = await self.store.accounts.list()
            self._domains = frozenset(a.rpartition("@")[2] for a in accounts)
            self._domains_at = now
        return self._domains

    def resolve(self, address: str) -> Deferred:
        """Fire with the account ``address`` delivers to (plus-addressing applied).

        Fails with ``Rejected``: 550 5.1.1 for an unknown user of a local domain, 550
        5.7.1 for a domain that is not ours (no relaying), 501 for the null address,
        452 4.2.2 for an account already at its quota (refused before the message is
        sent: an SMTP transaction's other recipients are then not held back with it).
        """
        if address:
            account = account_of(address, self.plus_separator)
            # The usual case on a busy listener: answered without a coroutine.
            if self._known.get(account, 0.0) > self._clock():
                return self._with_room(account)
        return self._resolve(address).addCallback(self._with_room)

    def _with_room(self, account: str):
        if self.quotas is None or self.quotas.known_unlimited(account):
            return succeed(account)
        return self._room_for(account)

    @deferred
    async def _room_for(self, account: str) -> str:
        if await exceeded(self.quotas, account, 1, "delivery (at RCPT)") is not None:
            raise Rejected(Reply(452, "4.2.2", "mailbox full, try again later"))
        return account

    @deferred
    async def _resolve(self, address: str) -> str:
        if not address:
            raise Rejected(Reply(501, "5.1.3", "null recipient"))
        account = account_of(address, self.plus_separator)
        now = self._clock()
        if await self.store.accounts.password_hash(account) is not None:
            # Remembered briefly: a busy LMTP listener asks about the same few
            # accounts all day. An account removed meanwhile fails at append (550).
            if len(self._known) > 10000:
                self._known.clear()
            self._known[account] = now + ACCOUNT_CACHE_SECONDS
            return account
        _, domain = split_address(address)
        if domain in await self._local_domains():
            raise Rejected(Reply(550, "5.1.1", f"<{address}>: no such user here"))
        raise Rejected(Reply(550, "5.7.1", f"<{address}>: relay access denied"))

    async def _inbox(self, account: str):
        inbox = self._inboxes.get(account)
        if inbox is None:
            mail = await self.store.mail(account)
            inbox = await mail.mailbox("INBOX")
            self._inboxes[account] = inbox
            if len(self._inboxes) > 256:
                self._inboxes.popitem(last=False)
        else:
            self._inboxes.move_to_end(account)
        return inbox

    def deliver(self, account: str, spool, sender: str, received: bytes) -> Deferred:
        """Store the spooled message in ``account``'s Inbox with ``Return-Path`` and
        ``received`` prepended, if it fits the account's quota. Fires with the reply
        for this recipient: 250 once the store has made it durable, an error reply
        otherwise (never fails)."""
        if self.quotas is not None and not self.quotas.known_unlimited(account):
            return self._deliver_within_quota(account, spool, sender, received)
        return self._deliver(account, spool, sender, received)

    @deferred
    async def _deliver_within_quota(self, account, spool, sender, received) -> Reply:
        # RFC 3463: 4.2.2 "mailbox full" (the sender retries; the user may make room),
        # 5.2.2 for a message that would not fit even in an empty mailbox.
        try:
            refused = await exceeded(self.quotas, account, spool.size, "delivery")
        except Exception:
            return self._failed(Failure(), account)
        if refused is not None:
            if refused.permanent:
                return Reply(552, "5.2.2", "message larger than the mailbox quota")
            return Reply(452, "4.2.2", "mailbox full, try again later")
        return await self._deliver(account, spool, sender, received)

    def _deliver(self, account: str, spool, sender: str, received: bytes) -> Deferred:
        inbox = self._inboxes.get(account)
        if inbox is None:
            return self._deliver_opening(account, spool, sender, received)
        # The usual case: the Inbox handle is cached, one append and its callbacks.
        self._inboxes.move_to_end(account)
        return self._append(inbox, spool, sender, received).addCallbacks(
            _delivered, self._stale_or_failed, callbackArgs=(account,),
            errbackArgs=(account, spool, sender, received))

    def _stale_or_failed(self, failure: Failure, account, spool, sender, received):
        if failure.check(NotFound):
            # The cached handle may name an Inbox that went with an account since
            # removed and created again: ask the store afresh before answering 550.
            self._inboxes.pop(account, None)
            return self._deliver_opening(account, spool, sender, received)
        return self._failed(failure, account)

    @deferred
    async def _deliver_opening(self, account, spool, sender, received) -> Reply:
        try:
            inbox = await self._inbox(account)
        except Exception:
            return self._failed(Failure(), account)
        return await self._append(inbox, spool, sender, received).addCallbacks(
            _delivered, self._failed, callbackArgs=(account,), errbackArgs=(account,))

    def _append(self, inbox, spool, sender, received) -> Deferred:
        try:
            return inbox.append(spool.body(return_path_header(sender) + received))
        except Exception:
            return fail()

    def _failed(self, failure: Failure, account: str) -> Reply:
        if failure.check(NotFound):
            self._inboxes.pop(account, None)
            return Reply(550, "5.1.1", "no such user here")
        if failure.check(QuotaExceeded):
            return Reply(552, "5.2.2", "mailbox full")
        if failure.check(InvalidData):
            return Reply(554, "5.6.0", f"message refused: {failure.value}")
        if failure.check(StorageUnavailable):
            # RFC 3463 4.3.1 "mail system full"; the store logged what is wrong.
            if failure.value.full:
                return Reply(452, "4.3.1", "insufficient system storage, try again later")
            return Reply(451, "4.3.0", "cannot store now, try again later")
        if failure.check(SmsyncError):
            log.warn("delivery to {account} failed: {error}", account=account,
                     error=failure.value)
        else:
            log.failure("delivery to {account} failed", failure, account=account)
        return Reply(451, "4.3.0", "temporary failure, try again later")


def _delivered(result, account: str) -> Reply:
    return Reply(250, "2.0.0", f"<{account}> delivered as UID {result.uid}")
