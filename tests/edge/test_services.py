"""The one Edge per server: every protocol smsync builds gets the same one, and a
factory embedded on its own makes its own from its store and portal."""

import pytest_twisted

from smsync.auth import make_portal
from smsync.config import Config
from smsync.edge import Edge, edge_for, make_edge
from smsync.protocols.dav import app_for
from smsync.protocols.imap.server import IMAPFactory
from smsync.protocols.pop3.server import POP3Factory
from smsync.store.registry import open_store
from smsync.tap.service import Plan, SmsyncService

LOCAL = "tcp:0:interface=127.0.0.1"


@pytest_twisted.ensureDeferred
async def test_every_protocol_of_a_server_shares_its_edge():
    plan = Plan(store_uri="memory:", config=Config(), streams={"imap": [LOCAL], "pop3": [LOCAL]},
                http=("caldav", "carddav"), http_endpoints=(LOCAL,))
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    try:
        await service.ready
        edge = service.edge
        assert isinstance(edge, Edge) and edge.store is service.store and edge.config is plan.config
        assert edge.tls is None  # no [tls]: no protocol offers it
        factories = [child.factory for child in service if hasattr(child, "factory")]
        assert {type(f) for f in factories} >= {IMAPFactory, POP3Factory}
        assert all(f.edge is edge for f in factories if hasattr(f, "edge"))
        assert app_for(service.store, service.portal).edge is edge
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_an_embedded_factory_makes_its_own_edge():
    store = await open_store("memory:")
    try:
        portal = make_portal(store)
        alone = IMAPFactory(store, portal)
        assert alone.edge.store is store and alone.edge.portal is portal
        shared = make_edge(store, portal)
        assert POP3Factory(store, portal, edge=shared).edge is shared
        assert edge_for(store, portal, shared) is shared
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_server_of_its_own_freezes_what_start_up_made_and_an_embedded_one_does_not():
    # A full collection then leaves the start-up objects alone (bench_web.py: 30-50 ms
    # pauses without it); embedders and tests, starting many servers, freeze nothing.
    import gc

    plan = Plan(store_uri="memory:", config=Config(), streams={"imap": [LOCAL]})
    gc.unfreeze()
    try:
        embedded = SmsyncService(plan, stop_reactor_on_failure=False)
        embedded.startService()
        await embedded.ready
        await embedded.stopService()
        assert gc.get_freeze_count() == 0
        own = SmsyncService(plan, stop_reactor_on_failure=False, freeze_gc=True)
        own.startService()
        await own.ready
        assert not own.failures
        assert gc.get_freeze_count() > 0
        await own.stopService()
    finally:
        gc.unfreeze()
