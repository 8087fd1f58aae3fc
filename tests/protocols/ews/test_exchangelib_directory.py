"""exchangelib asking the directory: ResolveNames over the server's accounts, and the
(empty) inbox rules."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import OTHER, in_thread
from tests.protocols.ews.ews_support import account


@pytest_twisted.ensureDeferred
async def test_resolve_names_and_rules(server):
    await server.store.accounts.add("bobby@example.org", "x")

    def client():
        from exchangelib.errors import ErrorNameResolutionNoResults

        acc = account(server)
        assert acc.version.api_version  # the version is guessed before the protocol is asked
        exact = acc.protocol.resolve_names([OTHER])
        several = acc.protocol.resolve_names(["bob"])
        nobody = acc.protocol.resolve_names(["zed"])
        return ([m.email_address for m in exact], sorted(m.email_address for m in several),
                [type(x) is ErrorNameResolutionNoResults for x in nobody] or nobody, list(acc.rules))

    exact, several, nobody, rules = await in_thread(client)
    assert exact == [OTHER] and several == ["bob@example.org", "bobby@example.org"]
    assert nobody in ([], [True]) and rules == []
