"""Add to Outlook beside CalDAV and CardDAV over one store (issue 18's Done-when): a
recurring event with an exception, a contact and a task, each created, changed and
deleted from the Outlook side (raw UpdateListItems shaped as MS-OUTSPS's) and seen by
CalDAV/CardDAV GETs; and each created, changed and deleted over CalDAV/CardDAV (raw
PUT/DELETE) and seen by GetListItemChangesSinceToken with a token; a CalDAV edit
racing an Outlook edit is a conflict (owshiddenversion) that changes nothing."""

from __future__ import annotations

import base64
import http.client

import pytest
import pytest_twisted

from smsync.protocols.lists import soap
from smsync.testing.servers import PASSWORD, USER, in_thread
from tests.protocols.lists.lists_support import (
    batch,
    call,
    changes_of,
    method,
    results_of,
    rows_of,
    since_token,
    start,
    stop,
)
from tests.protocols.lists.test_lists_sync import collection_and_guid

ALL = "<ViewFields/>"
OK = "0x00000000"
HOMES = {"calendar": f"/dav/calendars/{USER}/calendar/", "tasks": f"/dav/calendars/{USER}/tasks/",
         "contacts": f"/dav/addressbooks/{USER}/contacts/"}
DAILY = ('<recurrence><rule><firstDayOfWeek>mo</firstDayOfWeek><repeat><daily dayFrequency="1" /></repeat>'
         '<repeatInstances>5</repeatInstances></rule></recurrence>')
SERIES = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//caldav client//EN\r\n"
          b"BEGIN:VEVENT\r\nUID:dav-series\r\nDTSTAMP:20261201T100000Z\r\n"
          b"DTSTART:20261214T090000Z\r\nDTEND:20261214T093000Z\r\nSUMMARY:Daily sync\r\n"
          b"RRULE:FREQ=DAILY;COUNT=5\r\nEND:VEVENT\r\n"
          b"BEGIN:VEVENT\r\nUID:dav-series\r\nDTSTAMP:20261201T100000Z\r\n"
          b"RECURRENCE-ID:20261216T090000Z\r\nDTSTART:20261216T110000Z\r\nDTEND:20261216T113000Z\r\n"
          b"SUMMARY:Daily sync (late)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dav-card\r\nFN:Dora Dav\r\nN:Dav;Dora;;;\r\nEMAIL:dora@example.org\r\nEND:VCARD\r\n"
TODO = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//caldav client//EN\r\nBEGIN:VTODO\r\nUID:dav-todo\r\n"
        b"DTSTAMP:20261201T100000Z\r\nSUMMARY:File the report\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def pim():
    running = start(("caldav", "carddav", "lists"))
    yield running
    stop(running)


def dav(running, verb: str, path: str, body: bytes = b"", headers=None):
    conn = http.client.HTTPConnection(running.host, running.port("http"), timeout=30)
    sent = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    sent.update(headers or {})
    conn.request(verb, path, body=body, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


async def _only(collection):
    infos = await collection.items()
    assert len(infos) == 1, infos
    return infos[0].name


def _update(port, guid, *methods):
    answer = call(port, "UpdateListItems", {"listName": guid, "updates": batch(*methods)})
    return results_of(answer)


@pytest.mark.parametrize("kind", ["calendar", "contacts", "tasks"])
@pytest_twisted.ensureDeferred
async def test_made_changed_and_deleted_in_outlook_seen_over_dav(pim, kind):
    port = pim.port("http")
    collection, guid = await collection_and_guid(pim, kind)
    token = changes_of(await in_thread(since_token, port, guid)).get("LastChangeToken")
    fields = {"calendar": dict(Title="Planning", EventDate="2026-12-14T09:00:00Z", EndDate="2026-12-14T10:00:00Z",
                               fRecurrence="1", RecurrenceData=DAILY, EventType="1", fAllDayEvent="0"),
              "contacts": dict(Title="Outlook", FirstName="Olga", Email="olga@example.org"),
              "tasks": dict(Title="Call the bank", Status="In Progress", Priority="(1) High")}[kind]
    [(_, code, row, _)] = await in_thread(_update, port, guid, method(1, "New", **fields))
    assert code == OK, row
    name = await _only(collection)
    status, _, body = await in_thread(dav, pim, "GET", HOMES[kind] + name)
    assert status == 200
    expect = {"calendar": [b"SUMMARY:Planning", b"RRULE:FREQ=DAILY;COUNT=5"],
              "contacts": [b"Olga", b"EMAIL", b"olga@example.org"],
              "tasks": [b"SUMMARY:Call the bank", b"STATUS:IN-PROCESS", b"PRIORITY:1"]}[kind]
    assert all(piece in body for piece in expect), body
    if kind == "calendar":
        # An exception made in Outlook: the occurrence of the 16th moved an hour.
        [(_, code, occ, _)] = await in_thread(_update, port, guid, method(
            1, "New", EventType="4", MasterSeriesItemID=row["ID"], RecurrenceID="2026-12-16T09:00:00Z",
            EventDate="2026-12-16T10:00:00Z", EndDate="2026-12-16T11:00:00Z", Title="Planning (moved)",
            fRecurrence="1", fAllDayEvent="0"))
        assert code == OK and occ["EventType"] == "4"
        body = (await in_thread(dav, pim, "GET", HOMES[kind] + name))[2]
        assert b"RECURRENCE-ID:20261216T090000Z" in body and b"SUMMARY:Planning (moved)" in body
        assert b"RRULE:FREQ=DAILY;COUNT=5" in body
        row = next(r for r in rows_of(await in_thread(since_token, port, guid, token, view_fields=ALL))
                   if r["ID"] == row["ID"])
    # Changed in Outlook, with the version it has.
    [(_, code, changed, _)] = await in_thread(_update, port, guid, method(
        1, "Update", ID=row["ID"], owshiddenversion=row["owshiddenversion"], Title="Renamed in Outlook"))
    assert code == OK and changed["Title"] == "Renamed in Outlook"
    status, headers, body = await in_thread(dav, pim, "GET", HOMES[kind] + name)
    assert b"Renamed in Outlook" in body
    if kind == "calendar":
        assert b"SUMMARY:Planning (moved)" in body  # the exception stays
    # Deleted in Outlook: gone over DAV.
    [(_, code, _, _)] = await in_thread(_update, port, guid, method(1, "Delete", ID=row["ID"]))
    assert code == OK
    assert (await in_thread(dav, pim, "GET", HOMES[kind] + name))[0] == 404


def _deleted(answer) -> list:
    return sorted(i.text for i in changes_of(answer).iter(soap.sp("Id")) if i.get("ChangeType") == "Delete")


@pytest.mark.parametrize("kind, content, changed", [
    ("calendar", SERIES, SERIES.replace(b"SUMMARY:Daily sync\r\n", b"SUMMARY:Daily sync (room 4)\r\n")),
    ("contacts", CARD, CARD.replace(b"EMAIL:dora@example.org", b"EMAIL:dora@example.net")),
    ("tasks", TODO, TODO.replace(b"SUMMARY:File the report", b"SUMMARY:File the report today")),
])
@pytest_twisted.ensureDeferred
async def test_made_changed_and_deleted_over_dav_seen_in_outlook(pim, kind, content, changed):
    port = pim.port("http")
    _collection, guid = await collection_and_guid(pim, kind)
    token = changes_of(await in_thread(since_token, port, guid)).get("LastChangeToken")
    kind_type = {"calendar": "text/calendar", "tasks": "text/calendar", "contacts": "text/vcard"}[kind]
    path = HOMES[kind] + ("item.vcf" if kind == "contacts" else "item.ics")
    status, headers, _ = await in_thread(dav, pim, "PUT", path, content,
                                         {"Content-Type": kind_type, "If-None-Match": "*"})
    assert status == 201
    first = await in_thread(since_token, port, guid, token, view_fields=ALL)
    found = rows_of(first)
    if kind == "calendar":
        assert sorted(r["EventType"] for r in found) == ["1", "4"]
        series = next(r for r in found if r["EventType"] == "1")
        occurrence = next(r for r in found if r["EventType"] == "4")
        assert occurrence["MasterSeriesItemID"] == series["ID"] and occurrence["Title"] == "Daily sync (late)"
        assert "<daily" in series["RecurrenceData"] and series["fRecurrence"] == "1"
    else:
        assert len(found) == 1
        series = found[0]
    assert _deleted(first) == []
    token = changes_of(first).get("LastChangeToken")
    # A conflict: CalDAV changes the item; Outlook's edit with the old version is refused.
    status, _, _ = await in_thread(dav, pim, "PUT", path, changed, {"Content-Type": kind_type})
    assert status in (201, 204)
    [(_, code, current, extra)] = await in_thread(_update, port, guid, method(
        1, "Update", ID=series["ID"], owshiddenversion=series["owshiddenversion"], Title="Outlook's edit"))
    assert code == "0x81020015" and extra["Version"] == current["owshiddenversion"] != series["owshiddenversion"]
    body = (await in_thread(dav, pim, "GET", path))[2]
    assert b"Outlook's edit" not in body and body.replace(b"\r\n ", b"") .count(b"UID:") >= 1
    # The change is seen with the token, under the same ID.
    later = await in_thread(since_token, port, guid, token, view_fields=ALL)
    again = {r["ID"]: r for r in rows_of(later)}
    assert series["ID"] in again and again[series["ID"]]["owshiddenversion"] == current["owshiddenversion"]
    if kind == "calendar":
        assert again[series["ID"]]["Title"] == "Daily sync (room 4)"
    elif kind == "contacts":
        assert again[series["ID"]]["Email"] == "dora@example.net"
    else:
        assert again[series["ID"]]["Title"] == "File the report today"
    token = changes_of(later).get("LastChangeToken")
    # Deleted over DAV: every row of it reported deleted (a series and its exception).
    assert (await in_thread(dav, pim, "DELETE", path))[0] in (200, 204)
    gone = await in_thread(since_token, port, guid, token, view_fields=ALL)
    expected = sorted([series["ID"]] + ([occurrence["ID"]] if kind == "calendar" else []))
    assert _deleted(gone) == expected and rows_of(gone) == []
    # Nothing more after that.
    token = changes_of(gone).get("LastChangeToken")
    quiet = await in_thread(since_token, port, guid, token)
    assert rows_of(quiet) == [] and _deleted(quiet) == []


@pytest_twisted.ensureDeferred
async def test_attachment_added_in_outlook_is_an_attach_over_caldav(pim):
    port = pim.port("http")
    collection, guid = await collection_and_guid(pim, "tasks")
    status, _, _ = await in_thread(dav, pim, "PUT", HOMES["tasks"] + "t.ics", TODO, {"Content-Type": "text/calendar"})
    assert status == 201
    row = rows_of(await in_thread(since_token, port, guid))[0]
    await in_thread(call, port, "AddAttachment", {"listName": guid, "listItemID": row["ID"], "fileName": "report.txt",
                                                  "attachment": base64.b64encode(b"numbers").decode()})
    body = (await in_thread(dav, pim, "GET", HOMES["tasks"] + "t.ics"))[2].replace(b"\r\n ", b"")
    assert b"ATTACH;FMTTYPE=text/plain;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=report.txt:" \
        + base64.b64encode(b"numbers") in body


@pytest.mark.parametrize("kind", ["contacts", "tasks"])
@pytest_twisted.ensureDeferred
async def test_shareplum_writes_seen_over_dav_and_dav_writes_seen_by_shareplum(pim, kind):
    from tests.protocols.lists.lists_support import shareplum_site

    port = pim.port("http")
    collection, guid = await collection_and_guid(pim, kind)
    site = await in_thread(shareplum_site, port)
    sp_list = await in_thread(site.list, guid)
    title = {f["Name"]: f["DisplayName"] for f in sp_list.fields}["Title"]
    assert await in_thread(sp_list.update_list_items, [{title: "From shareplum"}], "New") == {"1,New": OK}
    name = await _only(collection)
    assert b"From shareplum" in (await in_thread(dav, pim, "GET", HOMES[kind] + name))[2]
    [item] = await in_thread(sp_list.get_list_items)
    assert await in_thread(sp_list.update_list_items, [{"ID": item["ID"], title: "Changed by shareplum"}],
                           "Update") == {"1,Update": OK}
    status, _, body = await in_thread(dav, pim, "GET", HOMES[kind] + name)
    assert b"Changed by shareplum" in body
    # A DAV edit is what shareplum reads next; a DAV delete empties its list.
    await in_thread(dav, pim, "PUT", HOMES[kind] + name, body.replace(b"Changed by shareplum", b"Changed over DAV"),
                    {"Content-Type": "text/vcard" if kind == "contacts" else "text/calendar"})
    assert [i[title] for i in await in_thread(sp_list.get_list_items)] == ["Changed over DAV"]
    assert (await in_thread(dav, pim, "DELETE", HOMES[kind] + name))[0] in (200, 204)
    assert await in_thread(sp_list.get_list_items) == []
