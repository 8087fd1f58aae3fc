"""Fixtures of the browser tests: a real server over a fresh SQLite store, one per test
module (its ``PROTOCOLS``, default the web interface alone; ``TLS = True`` for clients
that need HTTPS), and one headless Chromium per module (``browser_support.Browser``)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.testing.servers import OTHER, SQLITE, USER, RunningServers
from tests.web.browser.browser_support import ADMIN, Browser, require


@pytest.fixture(scope="module")
def browser():
    require()
    running = Browser()
    yield running
    running.close()


@pytest.fixture(scope="module")
def server(request):
    require()
    protocols = tuple(getattr(request.module, "PROTOCOLS", ("web",)))
    tls = bool(getattr(request.module, "TLS", False))
    running = pytest_twisted.blockon(ensureDeferred(
        RunningServers.start(protocols, SQLITE, tls=tls, accounts=(USER, OTHER, ADMIN))))
    from smsync.admin.accounts import set_admin

    pytest_twisted.blockon(ensureDeferred(set_admin(running.store, ADMIN, True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))
