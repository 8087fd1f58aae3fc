"""HTTP Basic through the real portal over a real store: parsing, concurrent identical
logins sharing one password check, and a wrong password never getting in."""

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, gatherResults

from smsync.auth import hash_password, make_portal
from smsync.edge.basic import basic_header, parse_basic
from smsync.edge.logins import BadCredentials, Logins
from smsync.edge.policy import Policy
from smsync.store.registry import open_store

USER = "alice@example.org"
PASSWORD = "correct horse"


class CountingPortal:
    """The real portal, counting the logins that reach it."""

    def __init__(self, portal):
        self.portal = portal
        self.logins = 0

    def login(self, *args):
        self.logins += 1
        return self.portal.login(*args)


@given(st.binary(max_size=40).filter(lambda b: b":" not in b), st.binary(max_size=40))
def test_basic_header_round_trip(user, password):
    assert parse_basic(basic_header(user, password)) == (user, password)


@pytest.mark.parametrize("header", [None, b"", b"Basic", b"Bearer abc", b"Basic !!!",
                                    b"Basic " + __import__("base64").b64encode(b"nocolon")])
def test_unreadable_headers(header):
    assert parse_basic(header) is None


async def _attempt(logins, password):
    try:
        return await logins.basic("dav", basic_header(USER.encode(), password.encode()), "192.0.2.1")
    except BadCredentials:
        return None


@pytest_twisted.ensureDeferred
async def test_concurrent_logins_share_one_check(log_capture):
    store = await open_store("memory:")
    try:
        await store.accounts.add(USER, hash_password(PASSWORD))
        portal = CountingPortal(make_portal(store))
        logins = Logins(portal, Policy(store))
        results = await gatherResults([Deferred.fromCoroutine(_attempt(logins, PASSWORD))
                                       for _ in range(8)])
        assert results == [USER] * 8 and portal.logins == 1
        wrong = await gatherResults([Deferred.fromCoroutine(_attempt(logins, "nope"))
                                     for _ in range(4)])
        assert wrong == [None] * 4 and portal.logins == 2
        # A wrong password is not remembered as right, nor a right one forgotten.
        assert await _attempt(logins, "nope") is None and portal.logins == 3
        assert await _attempt(logins, PASSWORD) == USER and portal.logins == 3
        failed = [line for line in log_capture.lines("smsync.client") if "authentication failed" in line]
        assert failed == [f"smsync: dav: authentication failed for {USER} from 192.0.2.1"] * 5
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_no_header_is_anonymous_and_garbage_is_a_failed_login(log_capture):
    store = await open_store("memory:")
    try:
        logins = Logins(make_portal(store), Policy(store))
        assert await logins.basic("dav", None, "192.0.2.1") is None
        with pytest.raises(BadCredentials):
            await logins.basic("dav", b"Basic ???", "192.0.2.1")
        assert log_capture.lines("smsync.client") == [
            "smsync: dav: authentication failed for (unreadable Authorization) from 192.0.2.1"]
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_changed_password_forgets_the_verified_credentials():
    store = await open_store("memory:")
    try:
        await store.accounts.add(USER, hash_password(PASSWORD))
        await store.accounts.add("bob@example.org", hash_password(PASSWORD))
        portal = CountingPortal(make_portal(store))
        logins = Logins(portal, Policy(store))
        assert await _attempt(logins, PASSWORD) == USER and portal.logins == 1
        assert await logins.basic("dav", basic_header(b"bob@example.org", PASSWORD.encode()),
                                  "192.0.2.1") == "bob@example.org"
        await store.accounts.set_password_hash(USER, hash_password("another one"))
        logins.password_changed(USER)
        # Checked again (and refused) at once, not after the cache's ttl; bob's stays.
        assert await _attempt(logins, PASSWORD) is None and portal.logins == 3
        assert await logins.basic("dav", basic_header(b"bob@example.org", PASSWORD.encode()),
                                  "192.0.2.1") == "bob@example.org"
        assert portal.logins == 3
    finally:
        await store.close()
