"""``IProtocolPolicy`` on every store that has one (memory, sqlite, postgresql): rules are
kept per subject, replaced, removed, listed, and seen by a second opening of the store."""

import pytest
import pytest_twisted
from pg_support import fresh_schema_uri, pg_database, require_postgresql  # noqa: F401

from smsync.interfaces import IProtocolPolicy
from smsync.store.registry import open_store


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_uri(request, tmp_path):
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store"
    require_postgresql()
    return fresh_schema_uri(request.getfixturevalue("pg_database"))


@pytest_twisted.ensureDeferred
async def test_rules_are_kept_replaced_and_removed(store_uri):
    store = await open_store(store_uri)
    try:
        rules = store.policy
        assert IProtocolPolicy.providedBy(rules)
        assert await rules.get("example.org") is None and await rules.list() == []
        await rules.set("example.org", ["imap", "pop3"])
        await rules.set("Alice@Example.org", [])
        assert await rules.get("example.org") == frozenset({"imap", "pop3"})
        assert await rules.get("alice@example.org") == frozenset()
        await rules.set("example.org", {"dav"})
        assert await rules.list() == [("alice@example.org", frozenset()),
                                      ("example.org", frozenset({"dav"}))]
        await rules.set("alice@example.org", None)
        await rules.set("nobody.example", None)
        assert await rules.list() == [("example.org", frozenset({"dav"}))]
    finally:
        await store.close()
    if store_uri == "memory:":
        return
    again = await open_store(store_uri, create=False)
    try:
        assert await again.policy.get("example.org") == frozenset({"dav"})
    finally:
        await again.close()
