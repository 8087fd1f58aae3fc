"""exchangelib asking free/busy: GetServerTimeZones for the zone it works in, then
GetUserAvailability over the calendars (a recurring series with a moved occurrence, a
tentative and a transparent event), times in the zone the request carries, the merged
string, Detailed for the account's own calendar and FreeBusy for another's, and
ErrorMailRecipientNotFound for a mailbox of no account -- the others answered."""

from __future__ import annotations

import pytest_twisted

from smsync.model import CollectionKind
from smsync.protocols.ews import soap
from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import account, call

#: Daily 09:00-10:00 Berlin time from Monday 7 December 2026, three times; the second
#: moved to 14:00-15:00.
SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:standup-1\r
DTSTAMP:20261201T000000Z\r
DTSTART;TZID=Europe/Berlin:20261207T090000\r
DTEND;TZID=Europe/Berlin:20261207T100000\r
RRULE:FREQ=DAILY;COUNT=3\r
SUMMARY:Standup\r
LOCATION:Room 1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup-1\r
DTSTAMP:20261201T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261208T090000\r
DTSTART;TZID=Europe/Berlin:20261208T140000\r
DTEND;TZID=Europe/Berlin:20261208T150000\r
SUMMARY:Standup (moved)\r
LOCATION:Room 2\r
END:VEVENT\r
END:VCALENDAR\r
"""

TENTATIVE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:maybe-2\r
DTSTAMP:20261201T000000Z\r
DTSTART:20261207T120000Z\r
DTEND:20261207T130000Z\r
STATUS:TENTATIVE\r
SUMMARY:Lunch maybe\r
END:VEVENT\r
END:VCALENDAR\r
"""

FREE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:free-3\r
DTSTAMP:20261201T000000Z\r
DTSTART:20261207T150000Z\r
DTEND:20261207T160000Z\r
TRANSP:TRANSPARENT\r
SUMMARY:Reminder only\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def put_events(server, user, *events):
    collections = await server.collections(user)
    (calendar,) = await collections.list_collections(CollectionKind.CALENDAR)
    handle = await collections.collection_by_id(calendar.id)
    for n, event in enumerate(events):
        await handle.put(f"e{n}.ics", event.encode())


@pytest_twisted.ensureDeferred
async def test_free_busy_of_own_and_other_calendars(server):
    await put_events(server, USER, SERIES, TENTATIVE, FREE)
    await put_events(server, OTHER, SERIES)

    def client():
        from exchangelib import EWSDateTime, EWSTimeZone
        from exchangelib.errors import ErrorMailRecipientNotFound

        acc = account(server)
        assert acc.version.build
        berlin = EWSTimeZone("Europe/Berlin")
        start = EWSDateTime(2026, 12, 7, 0, 0, tzinfo=berlin)
        end = EWSDateTime(2026, 12, 10, 0, 0, tzinfo=berlin)
        mine, theirs, nobody = acc.protocol.get_free_busy_info(
            accounts=[(acc, "Organizer", False), (OTHER, "Required", False),
                      ("nobody@elsewhere.example", "Required", False)],
            start=start, end=end, merged_free_busy_interval=60, requested_view="DetailedMerged")
        assert mine.view_type == "DetailedMerged"
        events = [(e.start.astimezone(berlin).hour, e.end.astimezone(berlin).hour, e.busy_type,
                   e.details.subject if e.details else None) for e in mine.calendar_events]
        assert events == [(9, 10, "Busy", "Standup"), (13, 14, "Tentative", "Lunch maybe"),
                          (14, 15, "Busy", "Standup (moved)"), (9, 10, "Busy", "Standup")]
        moved = mine.calendar_events[2].details
        assert moved.is_recurring and moved.is_exception and moved.location == "Room 2"
        # One digit an hour, in Berlin time: day one busy at 9, tentative at 13.
        assert len(mine.merged) == 72
        assert mine.merged[9] == "2" and mine.merged[13] == "1" and mine.merged[16] == "0"
        assert mine.merged[24 + 9] == "0" and mine.merged[24 + 14] == "2" and mine.merged[48 + 9] == "2"
        # Another account's calendar: times only.
        assert theirs.view_type == "FreeBusyMerged"
        assert [e.details for e in theirs.calendar_events] == [None, None, None]
        assert isinstance(nobody, ErrorMailRecipientNotFound)

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_server_time_zones_and_bad_windows(server):
    def client():
        acc = account(server)
        assert acc.version.build
        from exchangelib import EWSTimeZone

        [berlin] = list(acc.protocol.get_timezones(timezones=[EWSTimeZone("Europe/Berlin")],
                                                   return_full_timezone_data=True))
        assert berlin.id == "W. Europe Standard Time"
        std, dst, period = berlin.get_std_and_dst(2026)
        assert period.bias_in_minutes == -60 and dst.bias == -60
        assert (dst.iso_month, dst.occurrence, std.iso_month, std.occurrence) == (3, 5, 10, 5)
        names = list(acc.protocol.get_timezones())
        assert len(names) > 50
        answer = call(server.portno, "GetServerTimeZones", "<m:Ids><t:Id>Mars Standard Time</t:Id></m:Ids>")
        assert answer.payload.findtext(f".//{soap.m('ResponseCode')}") == "ErrorTimeZone"
        window = ("<t:TimeZone><t:Bias>0</t:Bias></t:TimeZone>"
                  f"<m:MailboxDataArray><t:MailboxData><t:Email><t:Address>{USER}</t:Address>"
                  "</t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData></m:MailboxDataArray>"
                  "<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>{start}</t:StartTime>"
                  "<t:EndTime>{end}</t:EndTime></t:TimeWindow><t:RequestedView>FreeBusy</t:RequestedView>"
                  "</t:FreeBusyViewOptions>")
        backwards = call(server.portno, "GetUserAvailabilityRequest",
                         window.format(start="2026-12-08T00:00:00", end="2026-12-07T00:00:00"))
        assert backwards.response_code == "ErrorInvalidTimeInterval"
        too_long = call(server.portno, "GetUserAvailabilityRequest",
                        window.format(start="2026-01-01T00:00:00", end="2026-12-07T00:00:00"))
        assert too_long.response_code == "ErrorTimeIntervalTooBig"
        fine = call(server.portno, "GetUserAvailabilityRequest",
                    window.format(start="2026-12-07T00:00:00", end="2026-12-08T00:00:00"))
        assert fine.payload.findtext(f".//{soap.t('FreeBusyViewType')}") == "FreeBusy"

    await in_thread(client)
