"""sync-collection (RFC 6578) from the store's change log: initial, incremental,
deletions, truncation with 507 and a continuation token, bad tokens; changes made
through the store show up in the next sync, over memory: and sqlite:."""

import pytest_twisted

from dav_harness import USER

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
CAL = f"/dav/calendars/{USER}/calendar/"


def event(uid, summary="x"):
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nSUMMARY:{summary}\r\n"
            f"END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def sync_body(token="", limit=None, data=False):
    lim = f"<D:limit><D:nresults>{limit}</D:nresults></D:limit>" if limit else ""
    extra = "<C:calendar-data/>" if data else ""
    return (f'<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" xmlns:C="{NS["C"]}">'
            f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{lim}"
            f"<D:prop><D:getetag/>{extra}</D:prop></D:sync-collection>")


async def sync(server, token="", limit=None, data=False):
    r = await server.call("REPORT", CAL, sync_body(token, limit, data))
    assert r.status == 207, r
    doc = r.xml()
    changed, deleted, status_507 = {}, [], False
    for resp in doc.findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS)
        status = resp.findtext("D:status", namespaces=NS)
        if status and " 404 " in status:
            deleted.append(href.rsplit("/", 1)[-1])
        elif status and " 507 " in status:
            assert href == CAL
            status_507 = True
        else:
            changed[href.rsplit("/", 1)[-1]] = (resp.findtext(".//D:getetag", namespaces=NS),
                                                resp.findtext(".//C:calendar-data", namespaces=NS))
    return changed, deleted, status_507, doc.findtext("D:sync-token", namespaces=NS)


async def scenario(server):
    coll = await (await server.collections()).collection("calendar")
    for i in range(5):
        await coll.put(f"e{i}.ics", event(f"e{i}"))
    changed, deleted, more, token = await sync(server, data=True)
    assert sorted(changed) == [f"e{i}.ics" for i in range(5)] and deleted == [] and not more
    assert all(data and "BEGIN:VEVENT" in data for _, data in changed.values())
    info = await coll.info()
    assert token == f"http://smsync.org/ns/sync/{info.id}/{info.revision}"

    # Nothing changed: nothing reported, same token.
    assert await sync(server, token) == ({}, [], False, token)

    # Changes through the store interface appear in the next sync-collection.
    await coll.put("e1.ics", event("e1", "changed"))
    await coll.delete("e2.ics")
    await coll.put("new.ics", event("new"))
    changed, deleted, more, token2 = await sync(server, token)
    assert sorted(changed) == ["e1.ics", "new.ics"] and deleted == ["e2.ics"] and not more
    assert changed["e1.ics"][0] == (await coll.get(["e1.ics"]))[0].info.etag

    # Truncation: 2 at a time, with a 507 for the collection until the end.
    seen, token, rounds = set(), "", 0
    while True:
        changed, deleted, more, token = await sync(server, token, limit=2)
        rounds += 1
        assert len(changed) + len(deleted) <= 2
        seen |= set(changed)
        if not more:
            break
    assert seen == {"e0.ics", "e1.ics", "e3.ics", "e4.ics", "new.ics"} and rounds >= 3

    # getctag follows the same revision.
    ctag = await server.call("PROPFIND", CAL, '<D:propfind xmlns:D="DAV:" xmlns:CS="http://'
                             'calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>',
                             headers={"Depth": "0"})
    assert ctag.xml().findtext(".//CS:getctag", namespaces=NS) == token2


@pytest_twisted.ensureDeferred
async def test_sync_collection_memory(server):
    await scenario(server)


@pytest_twisted.ensureDeferred
async def test_sync_collection_sqlite(sqlite_server):
    await scenario(sqlite_server)


@pytest_twisted.ensureDeferred
async def test_bad_tokens_are_refused(server):
    coll = await (await server.collections()).collection("calendar")
    info = await coll.info()
    tasks = await (await (await server.collections()).collection("tasks")).info()
    for token in ("bogus", f"http://smsync.org/ns/sync/{tasks.id}/0",
                  f"http://smsync.org/ns/sync/{info.id}/999", f"http://smsync.org/ns/sync/{info.id}/x"):
        r = await server.call("REPORT", CAL, sync_body(token))
        assert r.status == 403 and b"valid-sync-token" in r.body, token
    r = await server.call("REPORT", f"/dav/calendars/{USER}/", sync_body())
    assert r.status == 403 and b"supported-report" in r.body


@pytest_twisted.ensureDeferred
async def test_large_listings_follow_every_write(sqlite_server):
    """Listings of big collections are kept between requests; a write through this
    server, through another store on the same files (another process's view), or a
    collection deleted and made again under the same name all show at once."""
    from smsync.store.registry import open_store

    from dav_harness import USER as user

    server = sqlite_server
    cstore = await server.collections()
    coll = await cstore.collection("calendar")
    for i in range(300):
        await coll.put(f"e{i}.ics", event(f"e{i}"))

    async def listing():
        r = await server.call("PROPFIND", CAL, '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                              "</D:prop></D:propfind>", headers={"Depth": "1"})
        assert r.status == 207
        return {resp.findtext("D:href", namespaces=NS).rsplit("/", 1)[-1]:
                resp.findtext(".//D:getetag", namespaces=NS) for resp in r.xml().findall("D:response", NS)
                if resp.findtext("D:href", namespaces=NS) != CAL}

    first = await listing()
    assert len(first) == 300 and await listing() == first
    changed, _, _, _ = await sync(server)
    assert len(changed) == 300

    await coll.put("e7.ics", event("e7", "changed"))
    second = await listing()
    assert second["e7.ics"] != first["e7.ics"] and len(second) == 300
    changed, _, _, _ = await sync(server)
    assert changed["e7.ics"][0] == second["e7.ics"]

    other = await open_store(sqlite_server.store_uri)
    try:
        theirs = await (await other.collections(user)).collection("calendar")
        await theirs.delete("e8.ics")
        await theirs.put("x.ics", event("x"))
    finally:
        await other.close()
    third = await listing()
    assert "e8.ics" not in third and "x.ics" in third and len(third) == 300
    changed, _, _, _ = await sync(server)
    assert set(changed) == set(third)

    await cstore.delete_collection("calendar")
    await cstore.create_collection("calendar", "calendar")
    fresh = await cstore.collection("calendar")
    for i in range(300):
        await fresh.put(f"n{i}.ics", event(f"n{i}"))
    fourth = await listing()
    assert sorted(fourth) == sorted(f"n{i}.ics" for i in range(300))
