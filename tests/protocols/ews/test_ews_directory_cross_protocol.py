"""Across protocols over ``sqlite:`` and ``postgresql:``: a contact PUT over CardDAV is
found by EWS ResolveNames, an event PUT over CalDAV is busy time in EWS
GetUserAvailability, and the automatic replies set over EWS are the ones EAS Settings
reads (the core's one out-of-office state)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.edge import oof
from smsync.testing.servers import USER, RunningServers, in_thread
from tests.protocols.ews.ews_support import account, post
from tests.protocols.ews.test_exchangelib_availability import TENTATIVE
from tests.protocols.ews.test_exchangelib_people import DORA
from tests.store import pg_support
from tests.store.pg_support import fresh_schema_uri

#: The module's PostgreSQL database, a fixture.
pg_database = pg_support.pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(request, tmp_path):
    if request.param == "sqlite":
        uri = "sqlite:"
    else:
        uri = fresh_schema_uri(request.getfixturevalue("pg_database"))
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(
        ("ews", "carddav", "caldav", "eas"), uri)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


@pytest_twisted.ensureDeferred
async def test_carddav_caldav_and_eas_state_through_ews(servers):
    def client():
        from exchangelib import EWSDateTime, EWSTimeZone
        from exchangelib.settings import OofSettings

        status, _h, body = post(servers.portno, DORA.encode(), path=f"/dav/addressbooks/{USER}/contacts/dora.vcf",
                                method="PUT", headers={"Content-Type": "text/vcard"})
        assert status == 201, body[:300]
        status, _h, body = post(servers.portno, TENTATIVE.encode(), path=f"/dav/calendars/{USER}/calendar/maybe.ics",
                                method="PUT", headers={"Content-Type": "text/calendar"})
        assert status == 201, body[:300]
        acc = account(servers)
        assert acc.version.build
        [dora] = acc.protocol.resolve_names(["Dora"])
        assert dora.email_address == "dora@maps.example"
        utc = EWSTimeZone("UTC")
        [view] = acc.protocol.get_free_busy_info(
            accounts=[(acc, "Organizer", False)], start=EWSDateTime(2026, 12, 7, tzinfo=utc),
            end=EWSDateTime(2026, 12, 8, tzinfo=utc), requested_view="FreeBusy")
        assert [(e.start.hour, e.busy_type) for e in view.calendar_events] == [(12, "Tentative")]
        acc.oof_settings = OofSettings(state=OofSettings.ENABLED, external_audience="None",
                                       internal_reply="On leave", external_reply="Away")

    await in_thread(client)
    stored = await oof.load(servers.store, USER)
    assert stored.state == oof.GLOBAL
    assert stored.messages["AppliesToInternal"].reply == "On leave"
    assert not stored.messages["AppliesToExternalUnknown"].enabled
