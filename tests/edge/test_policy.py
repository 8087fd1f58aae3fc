"""The protocol policy as logins ask it: the account's rule, else its domain's, else all;
answers remembered for a few seconds; a store without a policy allows everything."""

import pytest
import pytest_twisted

from smsync.edge.policy import ALL, Policy, describe, parse_protocols, subject_of
from smsync.errors import InvalidData
from smsync.store.registry import open_store


@pytest.mark.parametrize("text, expected", [
    ("imap", {"imap"}), ("IMAP, pop3", {"imap", "pop3"}), ("dav submission", {"dav", "submission"}),
    ("all", ALL), ("none", set()), ("", set())])
def test_parse_protocols(text, expected):
    assert parse_protocols(text) == frozenset(expected)


def test_describe_and_subjects():
    assert describe(frozenset({"pop3", "imap"})) == "imap,pop3"
    assert describe(None) == describe(ALL) == "all" and describe(frozenset()) == "none"
    assert subject_of(" Example.ORG ") == "example.org"
    for bad in ("", "a b", "@x", "x@", "a@b@c"):
        with pytest.raises(InvalidData):
            subject_of(bad)
    with pytest.raises(InvalidData, match="gopher"):
        parse_protocols("imap,gopher")


@pytest_twisted.ensureDeferred
async def test_account_rule_wins_over_domain_and_answers_are_remembered():
    store = await open_store("memory:")
    now = [0.0]
    try:
        policy = Policy(store, ttl=5.0, clock=lambda: now[0])
        assert policy.supported and await policy.allows("alice@example.org", "pop3")
        await store.policy.set("example.org", {"imap"})
        assert await policy.allows("alice@example.org", "pop3")  # remembered: still allowed
        now[0] += 6
        assert not await policy.allows("Alice@example.org", "pop3")
        assert await policy.allows("alice@example.org", "imap")
        await store.policy.set("alice@example.org", {"pop3"})
        policy.forget()
        assert await policy.allows("alice@example.org", "pop3")
        assert not await policy.allows("alice@example.org", "imap")
        assert await policy.allows("bob@other.example", "dav")
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_store_without_a_policy_allows_everything():
    class Bare:
        pass

    policy = Policy(Bare())
    assert not policy.supported
    assert await policy.allowed("alice@example.org") is None
    assert await policy.allows("alice@example.org", "imap")
