"""SyncML next to the other protocols on one store: a contact a SyncEvolution device adds
is in CardDAV and reaches an EAS phone; an event put and then edited over CalDAV reaches
the SyncML device with its recurrence and time zone intact."""

from __future__ import annotations

import base64
import http.client

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.testing.servers import PASSWORD, USER, RunningServers
from tests.protocols.eas.eas_client import AS, RawEAS
from tests.protocols.syncml import syncevo
from tests.protocols.syncml.test_syncevolution import vcard

CONTACTS_TYPE = 9  # MS-ASCMD: the default contacts folder
EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n"
         b"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
         b"RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
         b"TZNAME:CET\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n"
         b"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
         b"TZNAME:CEST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
         b"BEGIN:VEVENT\r\nUID:weekly@caldav\r\nDTSTAMP:20260101T000000Z\r\n"
         b"DTSTART;TZID=Europe/Berlin:20261207T090000\r\nDTEND;TZID=Europe/Berlin:20261207T093000\r\n"
         b"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def server():
    syncevo.require()
    running = pytest_twisted.blockon(ensureDeferred(
        RunningServers.start(("syncml", "caldav", "carddav", "eas"))))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def dav(port: int, method: str, path: str, body: bytes = b"", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    c.request(method, path, body=body, headers={"Authorization": f"Basic {token}", **(headers or {})})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


@pytest_twisted.ensureDeferred
async def test_syncml_next_to_caldav_carddav_and_eas(server, tmp_path):
    await deferToThread(_cross, server, tmp_path)


def _cross(server, root):
    port = server.port("syncml")
    phone = syncevo.Device(root, "cross", f"http://127.0.0.1:{port}/syncml", USER, PASSWORD,
                           databases=("addressbook", "calendar"))
    phone.write("addressbook", "grace", vcard("Grace Hopper", "grace@example.org"))
    phone.sync()

    # CardDAV lists it and serves it.
    book = f"/dav/addressbooks/{USER}/contacts/"
    status, listing = dav(port, "PROPFIND", book, headers={"Depth": "1"})
    assert status == 207
    hrefs = [h for h in listing.decode().split("<") if h.startswith(("href>", "D:href>", "d:href>"))]
    cards = [h.split(">", 1)[1] for h in hrefs if h.split(">", 1)[1].endswith(".vcf")]
    assert len(cards) == 1, listing
    status, card = dav(port, "GET", cards[0])
    assert status == 200 and b"FN:Grace Hopper" in card

    # An EAS phone gets it in its contacts folder.
    eas = RawEAS(port, USER, PASSWORD, "cross-eas")
    eas.provision()
    eas.folder_sync()
    _, commands = eas.sync_all(eas.folder_of_type(CONTACTS_TYPE))
    adds = [c for c in commands if c.tag == "Add"]
    assert len(adds) == 1
    data = adds[0].find(AS, "ApplicationData")
    assert any(c.tag == "LastName" and c.text == "Hopper" for c in data.children)

    # A recurring event in a time zone, put and then edited over CalDAV, reaches the
    # SyncML device whole.
    path = f"/dav/calendars/{USER}/calendar/weekly.ics"
    status, _ = dav(port, "PUT", path, EVENT % b"Weekly sync", {"Content-Type": "text/calendar"})
    assert status in (201, 204)
    phone.sync()
    status, _ = dav(port, "PUT", path, EVENT % b"Weekly sync (moved room)", {"Content-Type": "text/calendar"})
    assert status in (201, 204)
    phone.sync()
    (event,) = phone.items("calendar").values()
    assert b"SUMMARY:Weekly sync (moved room)" in event
    # The same ten Mondays (SyncEvolution's engine writes COUNT as the UNTIL it ends).
    vevent = event[event.index(b"BEGIN:VEVENT"):]
    rrule = next(line for line in vevent.split(b"\r\n") if line.startswith(b"RRULE:"))
    assert b"FREQ=WEEKLY" in rrule and b"BYDAY=MO" in rrule
    assert b"COUNT=10" in rrule or b"UNTIL=20270208T080000Z" in rrule, rrule
    assert b"DTSTART;TZID=Europe/Berlin:20261207T090000" in event
    assert b"TZID:Europe/Berlin" in event
