"""A recurring event as Outlook sees it in an Events list: the series and a row of its
own for each changed and deleted occurrence, each with its ID; occurrences changed and
deleted from Outlook written into the series; an exception undone on the store's side
reported deleted."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.lists import ids, soap
from smsync.testing.servers import USER, in_thread
from tests.protocols.lists.lists_support import (
    batch,
    call,
    changes_of,
    method,
    results_of,
    rows_of,
    since_token,
)

ALL = "<ViewFields/>"
SERIES = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
          b"BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20261201T100000Z\r\n"
          b"DTSTART:20261207T090000Z\r\nDTEND:20261207T093000Z\r\nSUMMARY:Stand-up\r\n"
          b"RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE:20261210T090000Z\r\nEND:VEVENT\r\n"
          b"BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20261201T100000Z\r\n"
          b"RECURRENCE-ID:20261209T090000Z\r\nDTSTART:20261209T100000Z\r\nDTEND:20261209T103000Z\r\n"
          b"SUMMARY:Stand-up (late)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_a_series_is_rows_and_its_occurrences_are_written_back(server):
    port = server.port("http")
    collection = await (await server.collections()).collection("calendar")
    guid = ids.braced(ids.list_guid(USER, (await collection.info()).id))
    await collection.put("series.ics", SERIES)
    first = await in_thread(since_token, port, guid, view_fields=ALL)
    rows = {r["EventType"]: r for r in rows_of(first)}
    assert sorted(rows) == ["1", "3", "4"]
    master = rows["1"]
    assert rows["4"]["MasterSeriesItemID"] == rows["3"]["MasterSeriesItemID"] == master["ID"]
    assert len({r["ID"] for r in rows.values()}) == 3
    assert rows["4"]["Title"] == "Stand-up (late)"
    token = changes_of(first).get("LastChangeToken")
    # Outlook deletes the occurrence of the 8th: a new deleted-occurrence row.
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "New", EventType="3", MasterSeriesItemID=master["ID"],
               RecurrenceID="2026-12-08T09:00:00Z", EventDate="2026-12-08T09:00:00Z",
               EndDate="2026-12-08T09:30:00Z", Title="Deleted: Stand-up", UID="series-1",
               fRecurrence="1"))})
    [(_, code, row, _)] = results_of(answer)
    assert code == "0x00000000" and row["EventType"] == "3", row
    assert row["ID"] not in {r["ID"] for r in rows.values()}
    [item] = await collection.get(["series.ics"])
    assert b"20261208T090000Z" in item.content
    # ... and renames the changed occurrence, by its own ID.
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "Update", ID=rows["4"]["ID"], Title="Stand-up (moved)"))})
    [(_, code, row, _)] = results_of(answer)
    assert code == "0x00000000" and row["ID"] == rows["4"]["ID"] and row["Title"] == "Stand-up (moved)"
    [item] = await collection.get(["series.ics"])
    assert b"SUMMARY:Stand-up (moved)" in item.content and b"SUMMARY:Stand-up\r\n" in item.content
    later = await in_thread(since_token, port, guid, token, view_fields=ALL)
    token = changes_of(later).get("LastChangeToken")
    # The exception undone on the store's side (a CalDAV client): its row is deleted.
    await collection.put("series.ics", SERIES.split(b"BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20261201T100000Z"
                                                    b"\r\nRECURRENCE-ID")[0] + b"END:VCALENDAR\r\n")
    answer = await in_thread(since_token, port, guid, token, view_fields=ALL)
    deleted = [i.text for i in changes_of(answer).iter(soap.sp("Id")) if i.get("ChangeType") == "Delete"]
    assert rows["4"]["ID"] in deleted
    assert [r["EventType"] for r in rows_of(answer)].count("1") == 1
