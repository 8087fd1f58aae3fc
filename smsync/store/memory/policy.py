"""``IProtocolPolicy`` in memory: the protocol rules of a memory store."""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.interfaces import IProtocolPolicy
from smsync.store.common import policy_subject


@implementer(IProtocolPolicy)
class MemoryProtocolPolicy:
    """Rules in a dict: subject -> frozenset of protocol names."""

    def __init__(self):
        self._rules: dict[str, frozenset] = {}

    @deferred
    async def get(self, subject):
        return self._rules.get(policy_subject(subject))

    @deferred
    async def set(self, subject, protocols):
        subject = policy_subject(subject)
        if protocols is None:
            self._rules.pop(subject, None)
        else:
            self._rules[subject] = frozenset(str(p) for p in protocols)

    @deferred
    async def list(self):
        return sorted(self._rules.items())
