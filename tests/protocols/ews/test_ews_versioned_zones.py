"""The zone fields of calendar items follow the client's version in every operation
that answers them: an Exchange2007_SP1 client gets MeetingTimeZone from FindItem and
SyncFolderItems as from GetItem, a later one StartTimeZone and EndTimeZone."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.ews import soap
from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import call

EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
         b"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
         b"RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
         b"END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
         b"TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
         b"BEGIN:VEVENT\r\nUID:zoned-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Zoned\r\n"
         b"DTSTART;TZID=Europe/Berlin:20260105T090000\r\nDTEND;TZID=Europe/Berlin:20260105T093000\r\n"
         b"END:VEVENT\r\nEND:VCALENDAR\r\n")
SHAPE = '<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>'
CALENDAR = '<t:DistinguishedFolderId Id="calendar"/>'


def _zones(item) -> set:
    return {name for name in ("MeetingTimeZone", "StartTimeZone", "EndTimeZone")
            if item.find(soap.t(name)) is not None}


@pytest_twisted.ensureDeferred
async def test_find_and_sync_answer_the_zone_of_the_clients_version(server):
    calendar = await (await server.collections()).collection("calendar")
    await calendar.put("zoned-1.ics", EVENT)
    port = server.port("http")
    for version, wanted in (("Exchange2007_SP1", {"MeetingTimeZone"}),
                            ("Exchange2016", {"StartTimeZone", "EndTimeZone"})):
        found = await in_thread(call, port, "FindItem", SHAPE + f'<m:ParentFolderIds>{CALENDAR}</m:ParentFolderIds>',
                                version=version)
        [message] = soap.messages_of(found.payload)
        [item] = message.find(soap.m("RootFolder")).find(soap.t("Items"))
        assert _zones(item) == wanted, version
        synced = await in_thread(call, port, "SyncFolderItems",
                                 SHAPE + f'<m:SyncFolderId>{CALENDAR}</m:SyncFolderId>'
                                 '<m:MaxChangesReturned>10</m:MaxChangesReturned>', version=version)
        [message] = soap.messages_of(synced.payload)
        [create] = message.find(soap.m("Changes"))
        assert _zones(create[0]) == wanted, version
