"""Sending mail out: one submitter and one running relayer per server, however many
protocols send, and a server with no sending protocol opens no queue."""

import pytest_twisted

from smsync.auth import hash_password, make_portal
from smsync.config import Config, DeliveryConfig
from smsync.edge import make_edge
from smsync.edge.outbound import Relayer
from smsync.model import Role
from smsync.store.registry import open_store
from smsync.tap.service import Plan, SmsyncService, build

USER = "alice@example.org"


def _config(tmp_path):
    return Config(delivery=DeliveryConfig(queue_dir=str(tmp_path / "queue"), hostname="mx.test"))


@pytest_twisted.ensureDeferred
async def test_submitter_is_made_once_and_its_relayer_runs_with_the_edge(tmp_path):
    store = await open_store("memory:")
    try:
        await store.accounts.add(USER, hash_password("pw"))
        edge = make_edge(store, make_portal(store), _config(tmp_path))
        assert not edge.outbound.in_use and list(edge.service) == []
        submitter = edge.outbound.submitter
        assert edge.outbound.submitter is submitter and edge.outbound.in_use
        assert [type(s) for s in edge.service] == [Relayer]
        edge.service.startService()
        try:
            assert submitter.relayer.running
            await submitter.relayer.ready
            qid = await submitter.submit(USER, USER, ["bob@elsewhere.test"], b"Subject: hi\r\n\r\nyo\r\n")
            assert (tmp_path / "queue" / "msg" / f"{qid}.json").exists()
            sent = await (await store.mail(USER)).mailbox_by_role(Role.SENT)
            assert len(await sent.messages()) == 1
        finally:
            await edge.service.stopService()
        assert not submitter.relayer.running
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_a_server_runs_one_relayer_and_none_without_submission(tmp_path):
    config = _config(tmp_path)
    plan = Plan(store_uri="memory:", config=config,
                streams={"submission": ["tcp:0:interface=127.0.0.1"],
                         "imap": ["tcp:0:interface=127.0.0.1"]})
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    try:
        await service.ready
        assert service.failures == []
        relayers = [s for s in service.edge.service if isinstance(s, Relayer)]
        assert len(relayers) == 1 and relayers[0].running
        # Every protocol got the same edge.
        factories = [getattr(s, "factory", None) for s in service]
        edges = {id(f.edge) for f in factories if f is not None and hasattr(f, "edge")}
        assert edges == {id(service.edge)}
    finally:
        await service.stopService()

    plan = Plan(store_uri="memory:", config=config, streams={"imap": ["tcp:0:interface=127.0.0.1"]})
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    try:
        await service.ready
        assert list(service.edge.service) == []
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_build_on_its_own_runs_the_relayer_inside_the_service(tmp_path):
    store = await open_store("memory:")
    try:
        service = build("submission", store, make_portal(store), ["tcp:0:interface=127.0.0.1"],
                        _config(tmp_path))
        relayers = [s for child in service for s in getattr(child, "services", [child])
                    if isinstance(s, Relayer)]
        assert len(relayers) == 1
        service.startService()
        assert relayers[0].running
        await service.stopService()
    finally:
        await store.close()
