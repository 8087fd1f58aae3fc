"""The protocol policy as administrators manage it (``smsync policy`` and the web
interface's policy page alike): rules per domain and per account saying which protocols
of ``smsync.edge.policy.PROTOCOLS`` an account may use, kept by the store's optional
``IProtocolPolicy`` part. Running servers see a change within the policy's few seconds;
a caller holding a ``Policy`` forgets its answers at once (``changed``)."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.edge.policy import PROTOCOLS, describe, parse_protocols, store_policy, subject_of
from smsync.errors import InvalidData, NotFound
from smsync.store.common import normalize_account


class NoPolicy(InvalidData):
    """The store cannot hold a protocol policy: every account may use every protocol."""

    def __init__(self, store):
        super().__init__(f"the store {store.uri} cannot hold a protocol policy: every account "
                         "may use every protocol")


@attrs.frozen
class Rule:
    """A subject's rule: ``protocols`` allowed (a frozenset)."""

    subject: str
    protocols: frozenset

    @property
    def is_domain(self) -> bool:
        return "@" not in self.subject

    @property
    def text(self) -> str:
        return describe(self.protocols)

    def as_json(self) -> dict:
        return {"subject": self.subject, "protocols": [p for p in PROTOCOLS if p in self.protocols]}


@attrs.frozen
class Effective:
    """What applies to a subject: its own rule, else its domain's (``source`` says
    which: the subject, the domain, or None for no rule: everything)."""

    subject: str
    protocols: Optional[frozenset]
    source: Optional[str]

    @property
    def text(self) -> str:
        return describe(self.protocols)

    def as_json(self) -> dict:
        allowed = PROTOCOLS if self.protocols is None else [p for p in PROTOCOLS if p in self.protocols]
        return {"subject": self.subject, "protocols": list(allowed), "source": self.source}


def subject(text) -> str:
    """A rule's subject as given: ``user@domain`` (normalised) or a domain;
    ``InvalidData`` with a message saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidData("enter an address (user@domain) or a domain")
    if "@" in text:
        return normalize_account(text.strip())
    return subject_of(text)


def protocols_of(value) -> frozenset:
    """Protocols as given: text (``imap,pop3``, ``all``, ``none``) or a list of names;
    ``InvalidData`` for an unknown one."""
    if isinstance(value, str):
        return parse_protocols(value)
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(p, str) for p in value):
        return parse_protocols(" ".join(value)) if value else frozenset()
    raise InvalidData("protocols are a list of protocol names")


def rules_of(store):
    """``store``'s ``IProtocolPolicy``; ``NoPolicy`` when it has none."""
    rules = store_policy(store)
    if rules is None:
        raise NoPolicy(store)
    return rules


def supported(store) -> bool:
    return store_policy(store) is not None


async def list_rules(store) -> list[Rule]:
    """Every rule, by subject. ``NoPolicy``."""
    return [Rule(s, p) for s, p in await rules_of(store).list()]


async def effective(store, who: str) -> Effective:
    """What applies to ``who`` (an account or a domain), and where it comes from."""
    who = subject(who)
    rules = store_policy(store)
    if rules is None:
        return Effective(who, None, None)
    own = await rules.get(who)
    if own is not None:
        return Effective(who, own, who)
    if "@" in who:
        domain = who.rpartition("@")[2]
        inherited = await rules.get(domain)
        if inherited is not None:
            return Effective(who, inherited, domain)
    return Effective(who, None, None)


async def set_rule(store, who, protocols, policy=None) -> Rule:
    """Make ``who``'s rule allow exactly ``protocols``; ``policy`` (a running
    ``smsync.edge.policy.Policy``) forgets its answers so the change applies at once.
    ``NoPolicy``; ``InvalidData`` for a bad subject or protocol."""
    who = subject(who)
    allowed = protocols_of(protocols)
    await rules_of(store).set(who, allowed)
    if policy is not None:
        policy.forget()
    return Rule(who, allowed)


async def clear_rule(store, who, policy=None) -> str:
    """Remove ``who``'s own rule (its domain's, else everything, applies). ``NotFound``
    when it has none; ``NoPolicy``."""
    who = subject(who)
    rules = rules_of(store)
    if await rules.get(who) is None:
        raise NotFound(f"{who} has no rule")
    await rules.set(who, None)
    if policy is not None:
        policy.forget()
    return who
