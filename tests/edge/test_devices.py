"""Naming clients and recording them: one call gives the registry entry, its last sync,
and (on first sight) a line in the device's log and the server's."""

import pytest
import pytest_twisted

from smsync.edge.devices import Client, Devices
from smsync.store.registry import open_store

USER = "alice@example.org"


@pytest.fixture
def store():
    s = pytest_twisted.blockon(open_store("memory:"))
    pytest_twisted.blockon(s.accounts.add(USER, "!"))
    yield s
    pytest_twisted.blockon(s.close())


def test_every_protocol_names_its_clients_stably():
    assert Client.eas("ABC123", "iPhone").device_id == "eas-ABC123"
    assert Client.eas("ABC123").user_agent is None
    a = Client.syncml("IMEI:3560", "Nokia")
    assert a == Client.syncml("IMEI:3560", "Nokia") and a.device_id.startswith("syncml-")
    assert a.device_id != Client.syncml("IMEI:3561").device_id
    tb = Client.imap({"name": "Thunderbird", "version": "115"}, "192.0.2.1", USER)
    assert tb.user_agent == "Thunderbird/115" and tb.device_id.startswith("imap-")
    assert tb.device_id != Client.imap({"name": "Thunderbird"}, "192.0.2.2", USER).device_id
    assert Client.imap(None, "192.0.2.1", USER).device_id == "imap-192.0.2.1"
    dav = Client.http("dav", "DAVx5/4.3")
    assert dav == Client.http("dav", "DAVx5/4.3") and dav != Client.http("dav", "Evolution")
    pop = Client.address("pop3", "192.0.2.9")
    assert (pop.device_id, pop.name) == ("pop3-192.0.2.9", "POP3 client at 192.0.2.9")


@pytest_twisted.ensureDeferred
async def test_record_makes_the_entry_and_logs_first_sight_once(store, log_capture):
    devices = Devices(store)
    client = Client.http("dav", "DAVx5/4.3", "192.0.2.4")
    first = await devices.record(USER, "caldav", client)
    assert first.device_id == client.device_id and first.last_sync is not None
    again = await devices.record(USER, "caldav", client)
    assert again.last_sync >= first.last_sync
    log = await store.devices.get_log(USER, client.device_id)
    assert [e.message for e in log] == ["first synced over caldav from 192.0.2.4 (DAVx5/4.3)"]
    assert log_capture.lines("smsync.devices") == [
        f"caldav: new device {client.device_id} of {USER} (DAVx5/4.3) from 192.0.2.4"]


@pytest_twisted.ensureDeferred
async def test_a_note_goes_to_the_device_log(store):
    devices = Devices(store)
    client = Client.eas("PHONE1", "iPhone", host="192.0.2.5")
    await devices.record(USER, "eas", client, note="sync Inbox: 3 added")
    await devices.record(USER, "eas", client, success=False, note="sync Inbox: refused")
    log = [e.message for e in await store.devices.get_log(USER, client.device_id)]
    assert log == ["first synced over eas from 192.0.2.5 (iPhone)", "sync Inbox: 3 added",
                   "sync Inbox: refused"]


@pytest_twisted.ensureDeferred
async def test_min_interval_skips_repeats(store):
    now = [100.0]
    devices = Devices(store, clock=lambda: now[0])
    client = Client.address("pop3", "192.0.2.9")
    assert await devices.record(USER, "pop3", client, min_interval=60) is not None
    assert await devices.record(USER, "pop3", client, min_interval=60) is None
    now[0] += 61
    assert await devices.record(USER, "pop3", client, min_interval=60) is not None


@pytest_twisted.ensureDeferred
async def test_a_failing_registry_is_logged_not_raised(store, log_capture):
    devices = Devices(store)
    assert await devices.record("nobody@example.org", "imap", Client.address("imap", "x")) is None
    assert any("could not record device" in line for line in log_capture.lines("smsync.devices"))
