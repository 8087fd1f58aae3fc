"""The WebDAV core over HTTP: discovery, PROPFIND/PROPPATCH, MKCOL, COPY/MOVE, LOCK,
preconditions, authentication, the device registry and the cross-user wall."""

import pytest_twisted

from dav_harness import OTHER, USER

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CR": "urn:ietf:params:xml:ns:carddav",
      "CS": "http://calendarserver.org/ns/", "X": "http://example.org/ns/"}
HOME = f"/dav/calendars/{USER}/"
CAL = HOME + "calendar/"
BOB_CAL = f"/dav/calendars/{OTHER}/calendar/"

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def event(uid="e1", summary="Meeting"):
    return EVENT.format(uid=uid, summary=summary)


def propfind(*props, ns="D"):
    inner = "".join(f"<{p}/>" for p in props)
    return (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="{NS["C"]}" '
            f'xmlns:CR="{NS["CR"]}" xmlns:CS="{NS["CS"]}" xmlns:X="{NS["X"]}">'
            f"<D:prop>{inner}</D:prop></D:propfind>")


def statuses(reply):
    """href -> [(status, [prop tags])] of a multistatus."""
    out = {}
    for resp in reply.xml().findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS)
        entries = []
        for ps in resp.findall("D:propstat", NS):
            tags = [el.tag for el in ps.find("D:prop", NS)]
            entries.append((int(ps.findtext("D:status", namespaces=NS).split()[1]), tags))
        status = resp.findtext("D:status", namespaces=NS)
        if status:
            entries.append((int(status.split()[1]), []))
        out[href] = entries
    return out


async def put(server, path, body, **headers):
    return await server.call("PUT", path, body, headers={"Content-Type": "text/calendar", **headers})


@pytest_twisted.ensureDeferred
async def test_authentication(server):
    assert (await server.call("PROPFIND", "/dav/", user=None)).status == 401
    wrong = await server.call("PROPFIND", "/dav/", password="wrong")
    assert wrong.status == 401 and "basic" in wrong.header("www-authenticate").lower()
    options = await server.call("OPTIONS", "/dav/", user=None)
    assert options.status == 200
    dav = options.header("dav")
    for token in ("1", "2", "3", "access-control", "extended-mkcol", "calendar-access", "addressbook"):
        assert token in [t.strip() for t in dav.split(",")]
    assert "MKCALENDAR" in options.header("allow") and "REPORT" in options.header("allow")


@pytest_twisted.ensureDeferred
async def test_well_known_redirects_and_discovery(server):
    for service in ("caldav", "carddav"):
        r = await server.call("PROPFIND", f"/.well-known/{service}", user=None)
        assert r.status == 301 and r.header("location") == "/dav/"
    root = await server.call("PROPFIND", "/dav/", propfind("D:current-user-principal",
                                                          "D:principal-collection-set"),
                             headers={"Depth": "0"})
    assert root.xml().findtext(".//D:current-user-principal/D:href", namespaces=NS) == \
        f"/dav/principals/{USER}/"
    principal = await server.call(
        "PROPFIND", f"/dav/principals/{USER}/",
        propfind("D:principal-URL", "C:calendar-home-set", "CR:addressbook-home-set",
                 "C:calendar-user-address-set", "D:resourcetype", "D:displayname"),
        headers={"Depth": "0"})
    doc = principal.xml()
    assert doc.findtext(".//C:calendar-home-set/D:href", namespaces=NS) == HOME
    assert doc.findtext(".//CR:addressbook-home-set/D:href", namespaces=NS) == \
        f"/dav/addressbooks/{USER}/"
    assert doc.find(".//D:resourcetype/D:principal", NS) is not None
    assert f"mailto:{USER}" in [e.text for e in doc.iterfind(".//C:calendar-user-address-set/D:href", NS)]


@pytest_twisted.ensureDeferred
async def test_propfind_depths_allprop_propname(server):
    assert (await put(server, CAL + "e1.ics", event())).status == 201
    home = await server.call("PROPFIND", HOME, propfind("D:resourcetype", "D:displayname",
                                                        "CS:getctag", "D:sync-token"),
                             headers={"Depth": "1"})
    assert home.status == 207
    found = statuses(home)
    # calendar, tasks and notes live in the calendar home; contacts do not.
    assert sorted(found) == sorted([HOME, HOME + "calendar/", HOME + "notes/", HOME + "tasks/"])
    doc = home.xml()
    cal = [r for r in doc.findall("D:response", NS) if r.findtext("D:href", namespaces=NS) == CAL][0]
    assert cal.find(".//D:resourcetype/C:calendar", NS) is not None
    assert cal.findtext(".//D:displayname", namespaces=NS) == "Calendar"
    assert cal.findtext(".//D:sync-token", namespaces=NS).startswith("http://smsync.org/ns/sync/")

    depth0 = statuses(await server.call("PROPFIND", CAL, propfind("D:getetag", "X:nothing"),
                                        headers={"Depth": "0"}))
    assert list(depth0) == [CAL]
    assert (404, ["{DAV:}getetag", "{http://example.org/ns/}nothing"]) in depth0[CAL]

    allprop = await server.call("PROPFIND", CAL + "e1.ics",
                                '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
                                headers={"Depth": "0"})
    tags = statuses(allprop)[CAL + "e1.ics"][0][1]
    assert "{DAV:}getetag" in tags and "{DAV:}getcontenttype" in tags
    assert "{urn:ietf:params:xml:ns:caldav}calendar-data" not in tags  # not in allprop
    names = await server.call("PROPFIND", CAL, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:">'
                              '<D:propname/></D:propfind>', headers={"Depth": "0"})
    tags = statuses(names)[CAL][0][1]
    assert "{DAV:}sync-token" in tags and "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set" in tags
    infinity = await server.call("PROPFIND", CAL, propfind("D:getetag"), headers={"Depth": "infinity"})
    assert infinity.status == 403 and b"propfind-finite-depth" in infinity.body
    bad = await server.call("PROPFIND", CAL, "<not-xml", headers={"Depth": "0"})
    assert bad.status == 400


@pytest_twisted.ensureDeferred
async def test_proppatch_keeps_dead_properties_and_is_atomic(server):
    body = f"""<?xml version="1.0"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}" xmlns:I="http://apple.com/ns/ical/">
  <D:set><D:prop><D:displayname>Work</D:displayname>
    <X:flavour kind="sweet">Vanilla <X:b>bold</X:b></X:flavour>
    <I:calendar-color>#FF0000FF</I:calendar-color></D:prop></D:set>
</D:propertyupdate>"""
    r = await server.call("PROPPATCH", CAL, body)
    assert r.status == 207 and statuses(r)[CAL][0][0] == 200
    info = await (await (await server.collections()).collection("calendar")).info()
    assert info.properties["displayname"] == "Work" and info.properties["color"] == "#FF0000FF"
    assert "{http://example.org/ns/}flavour" in info.properties
    got = await server.call("PROPFIND", CAL, propfind("X:flavour", "D:displayname"), headers={"Depth": "0"})
    flavour = got.xml().find(".//X:flavour", NS)
    assert flavour.get("kind") == "sweet" and flavour.text == "Vanilla "
    assert flavour.findtext("X:b", namespaces=NS) == "bold"
    # allprop includes dead properties.
    allprop = await server.call("PROPFIND", CAL, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:">'
                                "<D:allprop/></D:propfind>", headers={"Depth": "0"})
    assert "{http://example.org/ns/}flavour" in statuses(allprop)[CAL][0][1]

    # A protected property fails the whole update: 403 for it, 424 for the rest.
    mixed = f"""<?xml version="1.0"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}">
  <D:set><D:prop><D:displayname>Changed</D:displayname><D:getetag>"x"</D:getetag></D:prop></D:set>
  <D:remove><D:prop><X:flavour/></D:prop></D:remove>
</D:propertyupdate>"""
    r = await server.call("PROPPATCH", CAL, mixed)
    result = dict((s, tags) for s, tags in statuses(r)[CAL])
    assert result[403] == ["{DAV:}getetag"]
    assert sorted(result[424]) == ["{DAV:}displayname", "{http://example.org/ns/}flavour"]
    info = await (await (await server.collections()).collection("calendar")).info()
    assert info.properties["displayname"] == "Work" and "{http://example.org/ns/}flavour" in info.properties

    remove = f"""<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}">
<D:remove><D:prop><X:flavour/></D:prop></D:remove></D:propertyupdate>"""
    assert (await server.call("PROPPATCH", CAL, remove)).status == 207
    info = await (await (await server.collections()).collection("calendar")).info()
    assert "{http://example.org/ns/}flavour" not in info.properties


@pytest_twisted.ensureDeferred
async def test_extended_mkcol(server):
    body = f"""<?xml version="1.0"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="{NS['C']}"><D:set><D:prop>
  <D:resourcetype><D:collection/><C:calendar/></D:resourcetype>
  <D:displayname>Chores</D:displayname>
  <C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>
</D:prop></D:set></D:mkcol>"""
    r = await server.call("MKCOL", HOME + "chores/", body)
    assert r.status == 201, r
    info = await (await (await server.collections()).collection("chores")).info()
    assert info.kind.value == "tasks" and info.components == frozenset({"VTODO"})
    assert info.properties["displayname"] == "Chores"
    assert (await server.call("MKCOL", HOME + "chores/", body)).status == 405

    book = f"""<?xml version="1.0"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="{NS['CR']}"><D:set><D:prop>
  <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
</D:prop></D:set></D:mkcol>"""
    assert (await server.call("MKCOL", f"/dav/addressbooks/{USER}/friends/", book)).status == 201
    info = await (await (await server.collections()).collection("friends")).info()
    assert info.kind.value == "addressbook"
    # An address book resourcetype in the calendar home is refused, nothing made.
    wrong = await server.call("MKCOL", HOME + "oops/", book)
    assert wrong.status == 403 and b"valid-resourcetype" in wrong.body
    names = [i.name for i in await (await server.collections()).list_collections()]
    assert "oops" not in names


@pytest_twisted.ensureDeferred
async def test_copy_move_and_delete(server):
    await put(server, CAL + "e1.ics", event())
    # (A MKCOL without a body makes a plain collection: see test_plain_resources.)
    assert (await server.call("MKCALENDAR", HOME + "other/")).status == 201
    copied = await server.call("COPY", CAL + "e1.ics",
                               headers={"Destination": server.url + HOME + "other/e1.ics"})
    assert copied.status == 201
    again = await server.call("COPY", CAL + "e1.ics", headers={
        "Destination": server.url + HOME + "other/e1.ics", "Overwrite": "F"})
    assert again.status == 412
    moved = await server.call("MOVE", CAL + "e1.ics", headers={"Destination": CAL + "renamed.ics"})
    assert moved.status == 201
    coll = await (await server.collections()).collection("calendar")
    assert [i.name for i in await coll.items()] == ["renamed.ics"]
    assert (await server.call("GET", CAL + "e1.ics")).status == 404
    renamed = await server.call("MOVE", HOME + "other/", headers={"Destination": HOME + "archive/"})
    assert renamed.status == 201
    archive = await (await server.collections()).collection("archive")
    assert [i.uid for i in await archive.items()] == ["e1"]
    assert (await server.call("DELETE", HOME + "archive/")).status == 204
    assert (await server.call("PROPFIND", HOME + "archive/", headers={"Depth": "0"})).status == 404
    assert (await server.call("DELETE", HOME)).status == 403


@pytest_twisted.ensureDeferred
async def test_conditional_requests(server):
    first = await put(server, CAL + "e1.ics", event(), **{"If-None-Match": "*"})
    assert first.status == 201
    etag = first.header("etag")
    assert (await put(server, CAL + "e1.ics", event(), **{"If-None-Match": "*"})).status == 412
    assert (await server.call("GET", CAL + "e1.ics", headers={"If-None-Match": etag})).status == 304
    head = await server.call("HEAD", CAL + "e1.ics")
    assert head.status == 200 and head.body == b"" and head.header("etag") == etag
    assert (await put(server, CAL + "e1.ics", event(summary="new"), **{"If-Match": '"nope"'})).status == 412
    updated = await put(server, CAL + "e1.ics", event(summary="new"), **{"If-Match": etag})
    assert updated.status == 204 and updated.header("etag") != etag
    assert (await server.call("DELETE", CAL + "e1.ics", headers={"If-Match": etag})).status == 412
    assert (await put(server, CAL + "new.ics", event("e2"), **{"If-Match": "*"})).status == 412
    assert (await server.call("DELETE", CAL + "e1.ics",
                              headers={"If-Match": updated.header("etag")})).status == 204


@pytest_twisted.ensureDeferred
async def test_lock_unlock(server):
    await put(server, CAL + "e1.ics", event())
    body = """<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>
</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>"""
    lock = await server.call("LOCK", CAL + "e1.ics", body, headers={"Timeout": "Second-60"})
    assert lock.status == 200
    token = lock.header("lock-token").strip("<>")
    assert token in lock.body.decode()
    assert (await put(server, CAL + "e1.ics", event(summary="x"))).status == 423
    assert (await server.call("LOCK", CAL + "e1.ics", body)).status == 423
    ok = await put(server, CAL + "e1.ics", event(summary="x"), **{"If": f"(<{token}>)"})
    assert ok.status == 204
    assert (await server.call("UNLOCK", CAL + "e1.ics", headers={"Lock-Token": "<urn:uuid:bogus>"})).status == 409
    assert (await server.call("UNLOCK", CAL + "e1.ics", headers={"Lock-Token": f"<{token}>"})).status == 204
    assert (await put(server, CAL + "e1.ics", event(summary="y"))).status == 204


@pytest_twisted.ensureDeferred
async def test_another_users_collections_are_forbidden(server):
    bob = await (await server.collections(OTHER)).collection("calendar")
    await bob.put("secret.ics", event("secret", "Bob's secret").encode())
    before = await bob.changes_since(0)
    book = await (await server.collections(OTHER)).collection("contacts")
    await book.put("card.vcf", b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:card\r\nFN:Bob secret\r\nEND:VCARD\r\n")
    book_before = await book.changes_since(0)
    for method, path, body in [
        ("PROPFIND", BOB_CAL, ""), ("GET", BOB_CAL + "secret.ics", ""),
        ("PUT", BOB_CAL + "mine.ics", event("mine")), ("DELETE", BOB_CAL + "secret.ics", ""),
        ("PROPFIND", f"/dav/principals/{OTHER}/", ""), ("MKCOL", f"/dav/calendars/{OTHER}/x/", ""),
        ("PROPPATCH", BOB_CAL, '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>'
                               'x</D:displayname></D:prop></D:set></D:propertyupdate>'),
        ("REPORT", BOB_CAL, '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1'
                            '</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'),
        ("PROPFIND", f"/dav/addressbooks/{OTHER}/contacts/", ""),
        ("GET", f"/dav/addressbooks/{OTHER}/contacts/card.vcf", ""),
        ("PUT", f"/dav/addressbooks/{OTHER}/contacts/mine.vcf",
         "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:mine\r\nFN:Mine\r\nEND:VCARD\r\n"),
        ("REPORT", f"/dav/addressbooks/{OTHER}/contacts/",
         '<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
         '<D:prop><CR:address-data/></D:prop><CR:filter/></CR:addressbook-query>'),
    ]:
        r = await server.call(method, path, body, headers={"Depth": "0", "Content-Type": "text/calendar"})
        assert r.status == 403, (method, path, r)
        assert b"secret" not in r.body
    # Alice cannot copy her things into Bob's calendar either.
    await put(server, CAL + "e1.ics", event())
    r = await server.call("COPY", CAL + "e1.ics", headers={"Destination": BOB_CAL + "e1.ics"})
    assert r.status == 403
    # A multiget naming Bob's item gets a 403 for that href, not its data.
    multiget = f"""<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{NS['C']}"><D:prop><C:calendar-data/>
</D:prop><D:href>{BOB_CAL}secret.ics</D:href></C:calendar-multiget>"""
    r = await server.call("REPORT", CAL, multiget)
    assert r.status == 207 and b"403" in r.body and b"secret" not in r.body.replace(
        BOB_CAL.encode() + b"secret.ics", b"")
    after = await bob.changes_since(0)
    assert after == before
    assert await book.changes_since(0) == book_before


@pytest_twisted.ensureDeferred
async def test_clients_are_recorded_in_the_device_registry(server):
    await server.call("PROPFIND", CAL, headers={"Depth": "0", "User-Agent": "DAVx5/4.4 (Android)"})
    await server.call("PROPFIND", f"/dav/addressbooks/{USER}/contacts/",
                      headers={"Depth": "0", "User-Agent": "Thunderbird/128.0"})
    devices = await server.store.devices.list(USER)
    seen = {(d.user_agent, d.protocol) for d in devices}
    assert ("DAVx5/4.4 (Android)", "caldav") in seen
    assert ("Thunderbird/128.0", "carddav") in seen
    assert all(d.last_sync is not None for d in devices)
    assert await server.store.devices.list(OTHER) == []


@pytest_twisted.ensureDeferred
async def test_quota_and_privileges(server):
    await put(server, CAL + "e1.ics", event())
    r = await server.call("PROPFIND", CAL, propfind("D:quota-used-bytes", "D:current-user-privilege-set",
                                                    "D:owner", "D:supported-report-set"),
                          headers={"Depth": "0"})
    doc = r.xml()
    assert doc.findtext(".//D:quota-used-bytes", namespaces=NS) == str(len(event()))
    privileges = {p[0].tag for p in doc.iterfind(".//D:current-user-privilege-set/D:privilege", NS)}
    assert {"{DAV:}read", "{DAV:}write", "{DAV:}bind"} <= privileges
    assert doc.findtext(".//D:owner/D:href", namespaces=NS) == f"/dav/principals/{USER}/"
    reports = {r[0].tag for r in doc.iterfind(".//D:supported-report/D:report", NS)}
    assert {"{DAV:}sync-collection", "{urn:ietf:params:xml:ns:caldav}calendar-query",
            "{urn:ietf:params:xml:ns:caldav}calendar-multiget"} <= reports


@pytest_twisted.ensureDeferred
async def test_odd_requests_get_proper_answers(server):
    await put(server, CAL + "e1.ics", event())
    assert (await server.call("PATCH", CAL + "e1.ics")).status == 405
    assert (await put(server, CAL, event("x"))).status == 405
    # RFC 4918 9.7.1: a PUT without its parent collection is 409 (Conflict).
    assert (await put(server, HOME + "nowhere/e.ics", event("x"))).status == 409
    assert (await put(server, f"/dav/principals/{USER}/e.ics", event("x"))).status == 404
    assert (await server.call("PROPFIND", "/dav/nothing/", headers={"Depth": "0"})).status == 404
    assert (await server.call("GET", CAL + "missing.ics")).status == 404
    # A calendar is the whole calendar as one .ics; other collections a listing.
    whole = await server.call("GET", CAL)
    assert whole.status == 200 and b"UID:e1" in whole.body
    listing = await server.call("GET", HOME)
    assert listing.status == 200 and CAL.encode() in listing.body
    wrong_body = await server.call("PROPPATCH", CAL, '<D:propfind xmlns:D="DAV:"/>')
    assert wrong_body.status == 400
    report = await server.call("REPORT", CAL, '<D:unknown-report xmlns:D="DAV:"/>')
    assert report.status == 403 and b"supported-report" in report.body
    # Copying a whole collection copies its items.
    copied = await server.call("COPY", CAL, headers={"Destination": HOME + "copy/"})
    assert copied.status == 201
    coll = await (await server.collections()).collection("copy")
    assert [i.uid for i in await coll.items()] == ["e1"]
    # Nothing of the store leaked into an error body, nothing crashed.
    assert (await server.call("PROPFIND", CAL, "\xff\xfe garbage", headers={"Depth": "0"})).status == 400


@pytest_twisted.ensureDeferred
async def test_devices_list_command_tells_clients_apart(sqlite_server):
    """``smsync devices list USER`` (the real command, another process, the same sqlite
    store) shows a phone and a desktop that synced over DAV as two devices."""
    import subprocess
    import sys
    from pathlib import Path

    from dav_harness import in_thread

    phone, desktop = "DAVx5/4.4.3-ose (2024/10/01; dav4jvm; okhttp/4.12.0) Android/14", "Thunderbird/128.3.0"
    for agent in (phone, desktop, phone):
        r = await sqlite_server.call("PROPFIND", CAL, propfind("D:getetag"),
                                     headers={"Depth": "1", "User-Agent": agent})
        assert r.status == 207
    # Recording is asynchronous bookkeeping: wait (generously) until both are stored.
    from twisted.internet import reactor, task
    for _ in range(200):
        if len(await sqlite_server.store.devices.list(USER)) >= 2:
            break
        await task.deferLater(reactor, 0.05)
    smsync = str(Path(sys.executable).with_name("smsync"))
    result = await in_thread(subprocess.run, [smsync, "devices", "list", USER, "--store",
                                              sqlite_server.store_uri],
                             capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[0] == "DEVICE"
    rows = [line for line in lines[1:] if "caldav" in line.split()]
    assert len(rows) == 2, result.stdout
    assert sum(phone in row for row in rows) == 1 and sum(desktop in row for row in rows) == 1
    assert len({row.split()[0] for row in rows}) == 2


@pytest_twisted.ensureDeferred
async def test_member_listings_agree_with_get(server):
    """PROPFIND Depth 1, sync-collection, calendar-query and multiget render many items
    at once: hrefs that need escaping, properties a member lacks (404) and item bodies
    with markup characters come out as a GET of each item says."""
    from lxml import etree

    names = {"plain.ics": event("p", "Plain"), "a&b c.ics": event("amp", "Tom & Jerry <3"),
             "ünï.ics": event("uni", "Café\r\n folded")}
    from urllib.parse import quote
    for name, body in names.items():
        assert (await put(server, CAL + quote(name), body)).status == 201
    gets = {}
    for name in names:
        r = await server.call("GET", CAL + quote(name))
        gets[CAL + quote(name, safe="@:+$!,;=~'()*&")] = (r.header("etag"), r.body.decode())
    wanted = "<D:prop><D:getetag/><C:calendar-data/><X:nothing/><D:getcontentlength/></D:prop>"
    ns = f'xmlns:D="DAV:" xmlns:C="{NS["C"]}" xmlns:X="{NS["X"]}"'
    multiget = "".join(f"<D:href>{etree_escape(h)}</D:href>" for h in gets)
    bodies = {
        "propfind": ("PROPFIND", f'<D:propfind {ns}>{wanted}</D:propfind>'),
        "sync": ("REPORT", f'<D:sync-collection {ns}><D:sync-token/><D:sync-level>1</D:sync-level>'
                           f'{wanted}</D:sync-collection>'),
        "query": ("REPORT", f'<C:calendar-query {ns}>{wanted}<C:filter><C:comp-filter name="VCALENDAR">'
                            '<C:comp-filter name="VEVENT"><C:time-range start="20260201T000000Z" '
                            'end="20260401T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
                            '</C:calendar-query>'),
        "multiget": ("REPORT", f'<C:calendar-multiget {ns}>{wanted}{multiget}</C:calendar-multiget>'),
    }
    for label, (method, body) in bodies.items():
        r = await server.call(method, CAL, body, headers={"Depth": "1"})
        assert r.status == 207, (label, r)
        doc = etree.fromstring(r.body)
        seen = {}
        for resp in doc.findall("D:response", NS):
            href = resp.findtext("D:href", namespaces=NS)
            if href == CAL:
                continue
            ok = [ps for ps in resp.findall("D:propstat", NS) if " 200 " in ps.findtext("D:status", namespaces=NS)]
            lost = [ps for ps in resp.findall("D:propstat", NS) if " 404 " in ps.findtext("D:status", namespaces=NS)]
            assert len(ok) == 1 and len(lost) == 1, (label, etree.tostring(resp))
            assert [el.tag for el in lost[0].find("D:prop", NS)] == ["{http://example.org/ns/}nothing"]
            seen[href] = (ok[0].findtext(".//D:getetag", namespaces=NS),
                          ok[0].findtext(".//C:calendar-data", namespaces=NS),
                          ok[0].findtext(".//D:getcontentlength", namespaces=NS))
        assert set(seen) == set(gets), (label, sorted(seen))
        for href, (etag, data, length) in seen.items():
            assert etag == gets[href][0], label
            assert data == gets[href][1], label
            assert int(length) == len(gets[href][1].encode()), label


def etree_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;")


@pytest_twisted.ensureDeferred
async def test_quota_available_bytes_when_a_quota_is_set(server):
    """RFC 4331 with a quota (an embedding option of ``DavApp``): available is the quota
    less what the home uses; without one the property is absent (404)."""
    from twisted.internet import reactor

    from dav_harness import DavClient
    from smsync.auth import make_portal
    from smsync.protocols import caldav
    from smsync.protocols.dav.server import DavApp
    from smsync.tap.http import HttpRoot, make_site

    await put(server, CAL + "e1.ics", event())
    await put(server, CAL + "e2.ics", event("e2"))
    used = 2 * len(event())
    none = await server.call("PROPFIND", HOME, propfind("D:quota-available-bytes", "D:quota-used-bytes"),
                             headers={"Depth": "0"})
    assert (404, ["{DAV:}quota-available-bytes"]) in statuses(none)[HOME]
    app = DavApp(server.store, make_portal(server.store), quota_bytes=100_000)
    app.install(caldav.extension())
    root = HttpRoot()
    root.mount(app.base, app.resource)
    port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
    try:
        other = DavClient(server.store, port.getHost().port)
        for path in (HOME, CAL):
            r = await other.call("PROPFIND", path, propfind("D:quota-available-bytes", "D:quota-used-bytes"),
                                 headers={"Depth": "0"})
            doc = r.xml()
            assert doc.findtext(".//D:quota-used-bytes", namespaces=NS) == str(used)
            assert doc.findtext(".//D:quota-available-bytes", namespaces=NS) == str(100_000 - used)
        # RFC 4331 6: what would go past the quota is refused (507), and nothing is stored.
        big = event("big", "x" * (100_000 - used))
        refused = await other.call("PUT", CAL + "big.ics", big, headers={"Content-Type": "text/calendar"})
        assert refused.status == 507 and b"quota-not-exceeded" in refused.body
        await (await server.collections()).create_collection("second", "calendar")
        copied = await other.call("COPY", CAL + "e1.ics", headers={"Destination": HOME + "second/e1.ics"})
        assert copied.status == 201
        used += len(event())
        # Replacing an item counts only the difference: the home is full to the byte.
        fits = event("e2", "x" * (100_000 - used + len("Meeting")))
        replaced = await other.call("PUT", CAL + "e2.ics", fits, headers={"Content-Type": "text/calendar"})
        assert replaced.status == 204, replaced
        again = await other.call("COPY", CAL + "e2.ics", headers={"Destination": HOME + "second/e2.ics"})
        assert again.status == 507 and b"quota-not-exceeded" in again.body
        cstore = await server.collections()
        first, second = await cstore.collection("calendar"), await cstore.collection("second")
        assert sorted(i.name for i in await first.items()) == ["e1.ics", "e2.ics"]
        assert [i.name for i in await second.items()] == ["e1.ics"]
        sizes = [i.size for i in await first.items()] + [i.size for i in await second.items()]
        assert sum(sizes) == 100_000
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_refusals_are_logged(server, log_capture):
    """Every error answer a client causes leaves a log line naming the request and why."""
    bad = await put(server, CAL + "bad.ics", "BEGIN:VCALENDAR\r\nnot a calendar\r\n")
    assert bad.status == 403
    assert (await server.call("PROPFIND", BOB_CAL, headers={"Depth": "0"})).status == 403
    assert (await server.call("PROPFIND", CAL, user=None)).status == 401
    lines = log_capture.lines("smsync.dav")
    assert any("PUT" in line and "bad.ics" in line and "403" in line and "valid-calendar-data" in line
               for line in lines), lines
    assert any("PROPFIND" in line and OTHER in line and "403" in line for line in lines), lines
    assert any("401" in line for line in lines), lines
    coll = await (await server.collections()).collection("calendar")
    assert await coll.items() == []


@pytest_twisted.ensureDeferred
async def test_failed_logins_are_logged_for_fail2ban(server, log_capture):
    assert (await server.call("PROPFIND", CAL, password="wrong-guess-77")).status == 401
    assert (await server.call("PROPFIND", CAL, headers={"Depth": "0"})).status == 207
    lines = log_capture.lines("smsync.client")
    assert lines == [f"smsync: dav: authentication failed for {USER} from 127.0.0.1"], lines
