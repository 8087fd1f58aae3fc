"""Which protocols an account may use: checked at login by every protocol.

A rule names the protocols allowed, for a whole domain (``example.org``) or for one
account (``alice@example.org``); an account's own rule wins over its domain's, and with
neither every protocol is allowed. Rules live in the store (``IProtocolPolicy``, the
store's optional ``policy`` part) so every process on one store sees them; a store
without it (a third-party backend) allows everything, and the CLI says it cannot hold a
policy.

Answers are remembered for ``ttl`` seconds per account, so a change reaches a running
server within that time and a client logging in every few seconds costs no reads.
"""

from __future__ import annotations

import time
from typing import Optional

from smsync.edge.remembered import Remembered, missing
from smsync.errors import InvalidData
from smsync.interfaces import IProtocolPolicy

#: Every protocol name a rule may hold: ``submission`` is SMTP AUTH, ``dav`` is CalDAV
#: and CardDAV together (one login serves both), ``lists`` is Add to Outlook (the
#: SharePoint Lists web service).
PROTOCOLS = ("imap", "pop3", "submission", "dav", "eas", "ews", "syncml", "lists")

ALL = frozenset(PROTOCOLS)
#: Logins no rule refuses.
ALWAYS_ALLOWED = frozenset({"web"})


def parse_protocols(text: str) -> frozenset:
    """The protocols of ``text``: comma- or space-separated names, ``all`` or ``none``.

    Raises:
        InvalidData: an unknown name (the message lists the known ones).
    """
    words = [w for w in text.replace(",", " ").lower().split() if w]
    if words == ["all"]:
        return ALL
    if words == ["none"] or not words:
        return frozenset()
    unknown = [w for w in words if w not in ALL]
    if unknown:
        raise InvalidData(f"unknown protocol {unknown[0]!r} (known: {', '.join(PROTOCOLS)})")
    return frozenset(words)


def describe(protocols: Optional[frozenset]) -> str:
    """A rule as the CLI prints it, in ``PROTOCOLS`` order."""
    if protocols is None or protocols >= ALL:
        return "all"
    if not protocols:
        return "none"
    return ",".join(p for p in PROTOCOLS if p in protocols)


def subject_of(text: str) -> str:
    """A rule's subject normalised: lower-case ``user@domain`` or ``domain``.

    Raises:
        InvalidData: empty, or not one word.
    """
    subject = text.strip().lower()
    if not subject or any(c.isspace() for c in subject) or subject.startswith("@") \
            or subject.endswith("@") or subject.count("@") > 1:
        raise InvalidData(f"{text!r} is neither user@domain nor a domain")
    return subject


def store_policy(store) -> Optional[object]:
    """``store``'s ``IProtocolPolicy``, or None when the store cannot hold one."""
    policy = getattr(store, "policy", None)
    return policy if IProtocolPolicy.providedBy(policy) else None


class Policy:
    """The protocol policy of one store, as every protocol's login asks it."""

    def __init__(self, store, ttl: float = 5.0, clock=time.monotonic, max_entries: int = 10000):
        self.rules = store_policy(store)
        self._remembered = Remembered(ttl, clock, max_entries)

    @property
    def supported(self) -> bool:
        """False when the store cannot hold a policy (everything is allowed)."""
        return self.rules is not None

    async def allowed(self, account: str) -> Optional[frozenset]:
        """The protocols ``account`` may use; None for all."""
        if self.rules is None:
            return None
        account = account.lower()
        cached = self._remembered.get(account)
        if not missing(cached):
            return cached
        rule = await self.rules.get(account)
        if rule is None and "@" in account:
            rule = await self.rules.get(account.rpartition("@")[2])
        self._remembered.put(account, rule)
        return rule

    async def allows(self, account: str, protocol: str) -> bool:
        """True when ``account`` may log in over ``protocol``. The web interface
        (``web``) is always allowed: an account the policy keeps off every protocol
        still reaches its own devices and settings."""
        if protocol in ALWAYS_ALLOWED:
            return True
        rule = await self.allowed(account)
        return rule is None or protocol in rule

    def forget(self) -> None:
        """Drop every remembered answer: after this process changed a rule."""
        self._remembered.forget()
