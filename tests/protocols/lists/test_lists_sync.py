"""Syncing lists as Outlook does: shareplum (a SharePoint Lists client) reading lists and
writing items, and raw GetListItemChangesSinceToken requests shaped as MS-OUTSPS's --
without a token (schema, everything, a token; paged), with one (changes and deletions
made on the store's side, as CalDAV and CardDAV make them), conflicts on
owshiddenversion, per-method errors, and the devices list."""

from __future__ import annotations

from datetime import datetime

import pytest_twisted

from smsync.protocols.lists import ids, soap
from smsync.testing.servers import USER, in_thread
from tests.protocols.lists.lists_support import (
    OUTLOOK,
    WHEN,
    batch,
    call,
    changes_of,
    method,
    results_of,
    rows_of,
    shareplum_site,
    since_token,
)


def event(uid: str, summary: str) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20261201T100000Z\r\nDTSTART:20261210T100000Z\r\nDTEND:20261210T110000Z\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def todo(uid: str, summary: str) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            f"DTSTAMP:20261201T100000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n").encode()


def card(uid: str, name: str) -> bytes:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
            f"END:VCARD\r\n").encode()


async def collection_and_guid(server, name: str):
    collection = await (await server.collections()).collection(name)
    info = await collection.info()
    return collection, ids.braced(ids.list_guid(USER, info.id))


@pytest_twisted.ensureDeferred
async def test_shareplum_reads_and_writes_each_kind_of_list(server):
    port = server.port("http")
    site = await in_thread(shareplum_site, port)
    for name, content in (("calendar", event), ("contacts", card), ("tasks", todo)):
        collection, guid = await collection_and_guid(server, name)
        await collection.put(f"existing-{name}", content(f"uid-{name}", f"Stored {name}"))
        sp_list = await in_thread(site.list, guid)
        shown = {f["Name"]: f["DisplayName"] for f in sp_list.fields}
        assert {"Title", "ID", "owshiddenversion"} <= set(shown)
        title = shown["Title"]  # shareplum writes and reads by display name
        items = await in_thread(sp_list.get_list_items)
        assert [(i["ID"], i[title]) for i in items] == [("1", f"Stored {name}")]
        new = {title: "Made in Outlook"}
        for field, when in (("EventDate", datetime(2026, 12, 10, 10)), ("EndDate", datetime(2026, 12, 10, 11))):
            if field in shown:
                new[shown[field]] = when
        # New, Update and Delete as three batches, each method answered 0x00000000.
        assert await in_thread(sp_list.update_list_items, [new], "New") == {"1,New": "0x00000000"}
        assert await in_thread(sp_list.update_list_items, [{"ID": "1", title: "Renamed"}], "Update") \
            == {"1,Update": "0x00000000"}
        titles = {i["ID"]: i[title] for i in await in_thread(sp_list.get_list_items)}
        assert titles == {"1": "Renamed", "2": "Made in Outlook"}
        stored = {item.info.name: item.content for item in
                  await collection.get([i.name for i in await collection.items()])}
        assert b"Renamed" in stored[f"existing-{name}"]
        assert any(b"Made in Outlook" in c for c in stored.values())
        assert await in_thread(sp_list.update_list_items, ["1"], "Delete") == {"1,Delete": "0x00000000"}
        assert [i.name for i in await collection.items()] != [f"existing-{name}"]
        assert len(await collection.items()) == 1
        # shareplum asked for the site's user list too: the account is user 1.
        assert site.users["py"] == {USER: f"1;#{USER}"}


@pytest_twisted.ensureDeferred
async def test_changes_since_a_token_come_from_the_change_log(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "calendar")
    for n in range(5):
        await collection.put(f"e{n}.ics", event(f"uid-{n}", f"Event {n}"))
    # A task in the calendar collection is not an event of the Events list.
    await collection.put("t.ics", todo("uid-t", "A task"))
    first = await in_thread(since_token, port, guid)
    changes = changes_of(first)
    assert changes.find(soap.sp("List")).get("ID") == guid  # the schema comes along
    assert [r["Title"] for r in rows_of(first)] == [f"Event {n}" for n in range(5)]
    assert [r["ID"] for r in rows_of(first)] == ["1", "2", "3", "4", "5"]
    assert first.result.get("MinTimeBetweenSyncs") == "0"
    token = changes.get("LastChangeToken")
    # Nothing new: no rows, no deletions, the same revision.
    again = await in_thread(since_token, port, guid, token)
    assert rows_of(again) == [] and len(changes_of(again)) == 0
    assert changes_of(again).find(soap.sp("List")) is None
    # Changed and deleted on the store's side (as CalDAV does), one added.
    await collection.put("e1.ics", event("uid-1", "Event 1 moved"))
    await collection.delete("e3.ics")
    await collection.put("e9.ics", event("uid-9", "Event 9"))
    later = await in_thread(since_token, port, guid, changes_of(again).get("LastChangeToken"))
    assert sorted((r["ID"], r["Title"]) for r in rows_of(later)) == [("2", "Event 1 moved"), ("6", "Event 9")]
    deletions = [(i.get("ChangeType"), i.text) for i in changes_of(later).iter(soap.sp("Id"))]
    assert deletions == [("Delete", "4")]
    assert changes_of(later).get("MoreChanges") is None
    # At most RowLimit entries a call; MoreChanges until the log is drained.
    for n in range(10, 15):
        await collection.put(f"e{n}.ics", event(f"uid-{n}", f"Event {n}"))
    token, seen, rounds = changes_of(later).get("LastChangeToken"), [], 0
    while True:
        answer = await in_thread(since_token, port, guid, token, row_limit=2)
        seen += [r["Title"] for r in rows_of(answer)]
        assert len(rows_of(answer)) <= 2
        token = changes_of(answer).get("LastChangeToken")
        rounds += 1
        if changes_of(answer).get("MoreChanges") != "TRUE":
            break
    assert seen == [f"Event {n}" for n in range(10, 15)] and rounds == 3


@pytest_twisted.ensureDeferred
async def test_a_full_sync_pages_and_its_token_covers_every_page(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "contacts")
    for n in range(5):
        await collection.put(f"c{n}.vcf", card(f"c-{n}", f"Person {n}"))
    answer = await in_thread(since_token, port, guid, row_limit=2)
    names = [r["Title"] for r in rows_of(answer)]
    data = answer.result.find(f"{{{soap.RS}}}data")
    assert data.get("ItemCount") == "2"
    position = data.get("ListItemCollectionPositionNext")
    assert position.startswith("Paged=TRUE&p_ID=2")
    # Changed between the first page and the last: the final token still sees it.
    await collection.put("c0.vcf", card("c-0", "Person 0 renamed"))
    while position:
        answer = await in_thread(since_token, port, guid, row_limit=2, position=position)
        assert changes_of(answer).find(soap.sp("List")) is None
        names += [r["Title"] for r in rows_of(answer)]
        position = answer.result.find(f"{{{soap.RS}}}data").get("ListItemCollectionPositionNext")
    assert names == ["Person 0", "Person 1", "Person 2", "Person 3", "Person 4"]
    after = await in_thread(since_token, port, guid, changes_of(answer).get("LastChangeToken"))
    assert [r["Title"] for r in rows_of(after)] == ["Person 0 renamed"]
    # GetListItems pages the same way.
    page = await in_thread(call, port, "GetListItems", {"listName": guid, "rowLimit": "3"})
    assert [r["ID"] for r in rows_of(page)] == ["1", "2", "3"]


@pytest_twisted.ensureDeferred
async def test_a_stale_owshiddenversion_is_a_conflict_and_changes_nothing(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "tasks")
    await collection.put("t.ics", todo("uid-t", "Original"))
    [row] = rows_of(await in_thread(since_token, port, guid))
    version = row["owshiddenversion"]
    await collection.put("t.ics", todo("uid-t", "Changed elsewhere"))
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "Update", ID=row["ID"], owshiddenversion=version, Title="Changed in Outlook"))})
    [(result_id, code, current, attributes)] = results_of(answer)
    assert (result_id, code) == ("1,Update", "0x81020015")
    assert current["Title"] == "Changed elsewhere" and current["owshiddenversion"] != version
    assert attributes["List"] == guid and attributes["Version"] == current["owshiddenversion"]
    [item] = await collection.get(["t.ics"])
    assert b"SUMMARY:Changed elsewhere" in item.content
    # Sent again with the version the conflict named, it goes through.
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "Update", ID=row["ID"], owshiddenversion=current["owshiddenversion"],
               Title="Changed in Outlook"))})
    assert results_of(answer)[0][1] == "0x00000000"
    [item] = await collection.get(["t.ics"])
    assert b"SUMMARY:Changed in Outlook" in item.content


@pytest_twisted.ensureDeferred
async def test_each_method_fails_on_its_own(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "calendar")
    await collection.put("e.ics", event("uid-e", "Kept"))
    await in_thread(since_token, port, guid)
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "Update", ID="99", Title="no such item"),
        method(2, "Moderate", ID="1"),
        method(3, "Delete", ID="abc"),
        method(4, "New", Title="Made", **WHEN))})
    assert [(r[0], r[1]) for r in results_of(answer)] == [
        ("1,Update", "0x81020016"), ("2,Moderate", "0x81020014"), ("3,Delete", "0x81020016"),
        ("4,New", "0x00000000")]
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "Delete", ID="99"), method(2, "New", Title="not made", **WHEN), on_error="Return")})
    assert [r[1] for r in results_of(answer)] == ["0x81020016", "0x800704c7"]
    titles = sorted(r["Title"] for r in rows_of(await in_thread(call, port, "GetListItems",
                                                                  {"listName": guid})))
    assert titles == ["Kept", "Made"]
    # A request without a Batch is a fault of its own.
    answer = await in_thread(call, port, "UpdateListItems", {"listName": guid})
    assert answer.error_code == "0x81020014"


@pytest_twisted.ensureDeferred
async def test_outlook_is_in_the_devices_list_and_deleting_it_resets_its_tokens(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "calendar")
    await collection.put("e.ics", event("uid-e", "First"))
    token = changes_of(await in_thread(since_token, port, guid)).get("LastChangeToken")
    await in_thread(call, port, "UpdateListItems", {"listName": guid, "updates": batch(
        method(1, "New", Title="From Outlook", **WHEN))})
    [device] = await server.store.devices.list(USER)
    assert device.protocol == "lists" and device.user_agent == OUTLOOK
    assert device.last_sync is not None
    log = [entry.message for entry in await server.store.devices.get_log(USER, device.device_id)]
    assert any("Calendar: full sync, 1 of 1 items sent" in line for line in log)
    assert any("Calendar: 1 new, 0 changed, 0 deleted" in line for line in log)
    # Another Outlook (another User-Agent) is another device.
    await in_thread(since_token, port, guid, agent="Microsoft Office/12.0 (Outlook 12.0.6211)")
    assert len(await server.store.devices.list(USER)) == 2
    # Deleted from the list: its token is answered InvalidToken, so it fetches again.
    await server.store.devices.remove(USER, device.device_id)
    answer = await in_thread(since_token, port, guid, token)
    assert [(i.get("ChangeType"), i.text) for i in changes_of(answer).iter(soap.sp("Id"))] \
        == [("InvalidToken", None)]
    assert rows_of(answer) == [] and changes_of(answer).get("LastChangeToken") is None
    full = await in_thread(since_token, port, guid)
    assert sorted(r["Title"] for r in rows_of(full)) == ["First", "From Outlook"]
    fresh = changes_of(full).get("LastChangeToken")
    assert rows_of(await in_thread(since_token, port, guid, fresh)) == []
    # A string that is no token of ours, or another list's token, is a fault.
    for bad in ("garbage", fresh[:-1] + ("0" if fresh[-1] != "0" else "1")):
        assert (await in_thread(since_token, port, guid, bad)).fault_code == "soap:Server"
    _, tasks = await collection_and_guid(server, "tasks")
    assert (await in_thread(since_token, port, tasks, fresh)).fault_code == "soap:Server"
