"""HTTP Basic through the real portal over a real store: concurrent identical logins
share one password check, and a wrong password never gets in."""

import base64

import pytest_twisted
from twisted.internet.defer import gatherResults

from dav_harness import PASSWORD, USER, password_hash
from smsync.auth import make_portal
from smsync.protocols.dav.auth import BasicAuthenticator
from smsync.store.registry import open_store


class CountingPortal:
    """The real portal, counting the logins that reach it."""

    def __init__(self, portal):
        self.portal = portal
        self.logins = 0

    def login(self, *args):
        self.logins += 1
        return self.portal.login(*args)


def header(user, password):
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


@pytest_twisted.ensureDeferred
async def test_concurrent_logins_share_one_check():
    from twisted.internet.defer import Deferred

    store = await open_store("memory:")
    try:
        await store.accounts.add(USER, password_hash())
        portal = CountingPortal(make_portal(store))
        auth = BasicAuthenticator(portal)
        results = await gatherResults([Deferred.fromCoroutine(auth.authenticate(header(USER, PASSWORD)))
                                       for _ in range(8)])
        assert results == [USER] * 8 and portal.logins == 1
        wrong = await gatherResults([Deferred.fromCoroutine(auth.authenticate(header(USER, "nope")))
                                     for _ in range(4)])
        assert wrong == [None] * 4 and portal.logins == 2
        # A wrong password is not remembered as right, nor a right one forgotten.
        assert await auth.authenticate(header(USER, "nope")) is None and portal.logins == 3
        assert await auth.authenticate(header(USER, PASSWORD)) == USER and portal.logins == 3
    finally:
        await store.close()
