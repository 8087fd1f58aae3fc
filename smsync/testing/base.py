"""The harness every conformance mixin shares: fixtures that open the store under test,
and helpers that hold stores to the "always a Deferred" rule."""

from __future__ import annotations

import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from smsync.store.registry import open_store

#: Opaque password hashes; the store keeps them as strings and never interprets them.
HASH_1 = "$argon2id$v=19$m=65536,t=3,p=4$conformance$one"
HASH_2 = "$argon2id$v=19$m=65536,t=3,p=4$conformance$two"


def call(fn, *args, **kwargs) -> Deferred:
    """Call an interface method and insist that it answered with a Deferred.

    Every storage method must return a Deferred -- also when it fails -- so a method that
    raises synchronously or hands back a plain value or a coroutine fails the test here
    with a message naming the method.
    """
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported as the contract violation it is
        raise AssertionError(f"{name} raised {e!r} synchronously instead of failing its Deferred") from e
    assert isinstance(result, Deferred), f"{name} returned {type(result).__name__}, not a Deferred"
    return result


def sleep(seconds: float) -> Deferred:
    """A Deferred firing after ``seconds`` of reactor time."""
    return deferLater(reactor, seconds, lambda: None)


async def eventually(predicate, timeout: float = 3.0, step: float = 0.01) -> None:
    """Wait until ``predicate()`` is true, failing the test after ``timeout`` seconds.

    For things a store may legitimately do just after a Deferred fires (notification
    from another thread goes through the reactor queue)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await sleep(step)


class _StoreBox:
    """Holds the current store of a test so ``reopen`` can swap it and teardown closes
    whichever one is open at the end."""

    def __init__(self, uri: str, opener=open_store):
        self.uri = uri
        self.opener = opener
        self.store = None

    async def open(self, create: bool = True):
        self.store = await call(self.opener, self.uri, create=create)
        return self.store

    async def close(self):
        store, self.store = self.store, None
        if store is not None:
            await call(store.close)


class StoreHarness:
    """Fixtures shared by every conformance mixin.

    A backend's test class supplies ``store_uri`` and, for a store that keeps its data
    across ``close``/``open``, sets ``reopen_supported = True``.
    """

    #: True when closing the store and opening the same URI again finds the same data.
    #: Persistence tests are skipped otherwise (e.g. ``memory:``).
    reopen_supported: bool = False

    #: The two accounts every test store starts with.
    ACCOUNT = "alice@example.com"
    OTHER_ACCOUNT = "bob@example.org"

    @pytest.fixture
    def store_uri(self):
        pytest.fail("a StoreConformance subclass must define a 'store_uri' fixture")

    def open_store(self, uri: str, create: bool = True) -> Deferred:
        """Open the store under test: by default with the backend installed for the URI's
        scheme (``smsync.store.registry.open_store``). Override it to test a backend that
        is not installed as a plugin."""
        return open_store(uri, create=create)

    @pytest.fixture
    def store_box(self, store_uri):
        box = _StoreBox(store_uri, self.open_store)
        yield box
        pytest_twisted.blockon(Deferred.fromCoroutine(box.close()))

    @pytest.fixture
    def store(self, store_box):
        """An opened store holding ``ACCOUNT`` and ``OTHER_ACCOUNT``; closed after the test."""

        async def setup():
            store = await store_box.open()
            await call(store.accounts.add, self.ACCOUNT, HASH_1)
            await call(store.accounts.add, self.OTHER_ACCOUNT, HASH_2)
            return store

        return pytest_twisted.blockon(Deferred.fromCoroutine(setup()))

    @pytest.fixture
    def reopen(self, store, store_box):
        """``await reopen()`` closes the store and opens its URI again (``create=False``),
        returning the new store. Skips the test for backends without persistence."""
        if not self.reopen_supported:
            pytest.skip("backend does not persist across close/open (reopen_supported is False)")

        async def reopen():
            await store_box.close()
            return await store_box.open(create=False)

        return reopen

    @pytest.fixture
    def mail(self, store):
        """``ACCOUNT``'s ``IMailStore``."""
        return pytest_twisted.blockon(call(store.mail, self.ACCOUNT))

    @pytest.fixture
    def collections(self, store):
        """``ACCOUNT``'s ``ICollectionStore``."""
        return pytest_twisted.blockon(call(store.collections, self.ACCOUNT))
