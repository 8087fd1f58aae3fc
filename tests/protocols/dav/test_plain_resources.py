"""Plain WebDAV collections and resources (RFC 4918) beside calendars: a home may hold a
plain collection and files of any type, with dead properties, copied and moved as
RFC 4918 says; a calendar still holds only calendar data (RFC 4791 4.3, 5.3.2)."""

import pytest_twisted

from dav_harness import OTHER, USER

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "X": "http://example.org/ns/"}
HOME = f"/dav/calendars/{USER}/"
CAL = HOME + "calendar/"
TEXT = b"This is\na test file.\n"


def propfind(*props):
    inner = "".join(f"<{p}/>" for p in props)
    return (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="{NS["X"]}">'
            f"<D:prop>{inner}</D:prop></D:propfind>")


def found(reply, href):
    """prop tag -> element of the 200 propstat of ``href`` in a multistatus."""
    for resp in reply.xml().findall("D:response", NS):
        if resp.findtext("D:href", namespaces=NS) == href:
            for ps in resp.findall("D:propstat", NS):
                if " 200 " in ps.findtext("D:status", namespaces=NS):
                    return {el.tag: el for el in ps.find("D:prop", NS)}
            return {}
    raise AssertionError(f"{href} not in {reply.body!r}")


@pytest_twisted.ensureDeferred
async def test_mkcol_in_a_home_makes_a_plain_collection(server):
    # RFC 4918 9.3: MKCOL without a body makes a plain collection, not a calendar.
    made = await server.call("MKCOL", HOME + "files/")
    assert made.status == 201, made
    names = [i.name for i in await (await server.collections()).list_collections()]
    assert "files" not in names, "no calendar was made"
    assert (await server.call("MKCOL", HOME + "files/")).status == 405
    listing = await server.call("PROPFIND", HOME, propfind("D:resourcetype"), headers={"Depth": "1"})
    assert listing.status == 207
    rtype = found(listing, HOME + "files/")["{DAV:}resourcetype"]
    assert [c.tag for c in rtype] == ["{DAV:}collection"]
    assert [c.tag for c in found(listing, CAL)["{DAV:}resourcetype"]] == [
        "{DAV:}collection", "{urn:ietf:params:xml:ns:caldav}calendar"]
    # Plain collections nest; a missing intermediate collection is 409 (RFC 4918 9.3.1).
    assert (await server.call("MKCOL", HOME + "files/sub/")).status == 201
    assert (await server.call("MKCOL", HOME + "files/missing/sub/")).status == 409
    assert (await server.call("MKCOL", HOME + "missing/sub/")).status == 409
    # A plain collection of the calendar home is not one of the address-book home.
    assert (await server.call("PROPFIND", f"/dav/addressbooks/{USER}/files/",
                              headers={"Depth": "0"})).status == 404


@pytest_twisted.ensureDeferred
async def test_mkcol_with_a_body_it_does_not_understand_is_415(server):
    # RFC 4918 9.3: "If the server receives a MKCOL request entity type it does not
    # support or understand, it MUST respond with a 415 (Unsupported Media Type)".
    r = await server.call("MKCOL", HOME + "weird/", b"afafafaf", headers={"Content-Type": "xzy-foo/bar-512"})
    assert r.status == 415, r
    r = await server.call("MKCOL", HOME + "weird/", b"<not-xml", headers={"Content-Type": "application/xml"})
    assert r.status == 415, r
    assert (await server.call("PROPFIND", HOME + "weird/", headers={"Depth": "0"})).status == 404


@pytest_twisted.ensureDeferred
async def test_plain_resources_keep_any_content(server):
    assert (await server.call("MKCOL", HOME + "files/")).status == 201
    put = await server.call("PUT", HOME + "files/a.txt", TEXT, headers={"Content-Type": "text/plain"})
    assert put.status == 201 and put.header("etag"), put
    got = await server.call("GET", HOME + "files/a.txt")
    assert got.status == 200 and got.body == TEXT
    assert got.header("content-type") == "text/plain" and got.header("etag") == put.header("etag")
    assert got.header("last-modified")
    again = await server.call("PUT", HOME + "files/a.txt", b"\x00\xffbinary")
    assert again.status == 204 and again.header("etag") != put.header("etag")
    assert (await server.call("GET", HOME + "files/a.txt")).body == b"\x00\xffbinary"
    assert (await server.call("PUT", HOME + "files/a.txt", b"x",
                              headers={"If-Match": put.header("etag")})).status == 412
    # In the home itself too, and with a UTF-8 name.
    assert (await server.call("PUT", HOME + "res-%e2%82%ac", TEXT)).status == 201
    assert (await server.call("GET", HOME + "res-%E2%82%AC")).body == TEXT
    # RFC 4918 9.7.1: no parent collection, 409.
    assert (await server.call("PUT", HOME + "files/nonesuch/a.txt", TEXT)).status == 409
    props = await server.call("PROPFIND", HOME + "files/", propfind(
        "D:getcontentlength", "D:getetag", "D:resourcetype"), headers={"Depth": "1"})
    entry = found(props, HOME + "files/a.txt")
    assert entry["{DAV:}getcontentlength"].text == "8"
    assert entry["{DAV:}getetag"].text == again.header("etag")
    assert len(entry["{DAV:}resourcetype"]) == 0
    assert (await server.call("MKCOL", HOME + "files/a.txt")).status == 405
    assert (await server.call("DELETE", HOME + "files/a.txt")).status == 204
    assert (await server.call("GET", HOME + "files/a.txt")).status == 404
    assert (await server.call("DELETE", HOME + "files/a.txt")).status == 404


@pytest_twisted.ensureDeferred
async def test_a_calendar_still_takes_only_calendar_data(server):
    # RFC 4791 5.3.2: PUT into a calendar must be calendar data (supported-calendar-data).
    r = await server.call("PUT", CAL + "notes.txt", TEXT, headers={"Content-Type": "text/plain"})
    assert r.status in (403, 415), r
    r = await server.call("PUT", CAL + "notes.ics", TEXT, headers={"Content-Type": "text/calendar"})
    assert r.status == 403 and b"valid-calendar-data" in r.body, r
    # RFC 4791 4.3: calendar collections hold no collections.
    assert (await server.call("MKCOL", CAL + "sub/")).status >= 400
    coll = await (await server.collections()).collection("calendar")
    assert await coll.items() == []


@pytest_twisted.ensureDeferred
async def test_dead_properties_of_plain_resources(server):
    await server.call("PUT", HOME + "prop", TEXT)
    update = f"""<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}">
<D:set><D:prop><X:colour>blue</X:colour><X:high>&#65536;</X:high>
<X:nested><inner xmlns="http://bar/">t</inner></X:nested>
<nonamespace xmlns="">plain</nonamespace><D:displayname>Prop file</D:displayname></D:prop></D:set>
</D:propertyupdate>"""
    r = await server.call("PROPPATCH", HOME + "prop", update)
    assert r.status == 207 and b"200 OK" in r.body and b"424" not in r.body, r
    asked = propfind("X:colour", "X:high", "X:nested", "D:displayname", "X:absent")
    props = found(await server.call("PROPFIND", HOME + "prop", asked, headers={"Depth": "0"}),
                  HOME + "prop")
    assert props["{http://example.org/ns/}colour"].text == "blue"
    assert props["{http://example.org/ns/}high"].text == "\U00010000"
    assert props["{http://example.org/ns/}nested"][0].tag == "{http://bar/}inner"
    assert props["{DAV:}displayname"].text == "Prop file"
    assert "{http://example.org/ns/}absent" not in props
    # Moved with the resource (RFC 4918 9.9), and removed in document order (9.2).
    moved = await server.call("MOVE", HOME + "prop", headers={"Destination": server.url + HOME + "prop2"})
    assert moved.status == 201
    order = f"""<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}">
<D:set><D:prop><X:colour>red</X:colour></D:prop></D:set>
<D:remove><D:prop><X:colour/></D:prop></D:remove></D:propertyupdate>"""
    assert (await server.call("PROPPATCH", HOME + "prop2", order)).status == 207
    props = found(await server.call("PROPFIND", HOME + "prop2", asked, headers={"Depth": "0"}),
                  HOME + "prop2")
    assert "{http://example.org/ns/}colour" not in props
    assert props["{http://example.org/ns/}high"].text == "\U00010000"
    # A protected property is refused, and nothing else of the update is applied.
    bad = f"""<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="{NS['X']}">
<D:set><D:prop><X:colour>green</X:colour><D:getetag>"x"</D:getetag></D:prop></D:set>
</D:propertyupdate>"""
    r = await server.call("PROPPATCH", HOME + "prop2", bad)
    assert r.status == 207 and b"403" in r.body and b"424" in r.body
    props = found(await server.call("PROPFIND", HOME + "prop2", asked, headers={"Depth": "0"}),
                  HOME + "prop2")
    assert "{http://example.org/ns/}colour" not in props


@pytest_twisted.ensureDeferred
async def test_copy_and_move_of_plain_collections(server):
    await server.call("MKCOL", HOME + "src/")
    for n in range(3):
        await server.call("PUT", HOME + f"src/foo.{n}", TEXT)
    await server.call("MKCOL", HOME + "src/sub/")
    await server.call("PUT", HOME + "src/sub/deep", b"deep")
    copy = await server.call("COPY", HOME + "src/", headers={"Destination": HOME + "dest/"})
    assert copy.status == 201
    assert (await server.call("GET", HOME + "dest/sub/deep")).body == b"deep"
    assert (await server.call("GET", HOME + "src/foo.2")).body == TEXT
    # Overwrite: F on an existing destination is 412 (RFC 4918 10.6); T replaces it.
    assert (await server.call("COPY", HOME + "src/", headers={
        "Destination": HOME + "dest/", "Overwrite": "F"})).status == 412
    assert (await server.call("COPY", HOME + "src/foo.0", headers={
        "Destination": HOME + "dest/"})).status == 204
    assert (await server.call("GET", HOME + "dest")).body == TEXT
    # Depth 0 copies the collection without its members (RFC 4918 9.8.3).
    assert (await server.call("COPY", HOME + "src/", headers={
        "Destination": HOME + "shallow/", "Depth": "0"})).status == 201
    assert (await server.call("GET", HOME + "shallow/foo.0")).status == 404
    # No destination parent: 409 (RFC 4918 9.8.5).
    assert (await server.call("COPY", HOME + "src/foo.0", headers={
        "Destination": HOME + "nonesuch/foo"})).status == 409
    move = await server.call("MOVE", HOME + "src/", headers={"Destination": HOME + "moved/"})
    assert move.status == 201
    assert (await server.call("GET", HOME + "src/foo.1")).status == 404
    assert (await server.call("GET", HOME + "moved/sub/deep")).body == b"deep"
    # A collection moves over a plain resource with Overwrite: T.
    assert (await server.call("MOVE", HOME + "moved/", headers={"Destination": HOME + "dest"})).status == 204
    assert (await server.call("GET", HOME + "dest/foo.1")).body == TEXT
    # Calendar items do not go into plain collections, nor plain files into calendars.
    assert (await server.call("COPY", HOME + "dest/foo.1", headers={
        "Destination": CAL + "foo.ics"})).status == 409
    assert (await server.call("DELETE", HOME + "dest/")).status == 204
    assert (await server.call("GET", HOME + "dest/foo.1")).status == 404


@pytest_twisted.ensureDeferred
async def test_another_users_plain_resources_are_forbidden(server):
    other_home = f"/dav/calendars/{OTHER}/"
    for method, path in (("MKCOL", other_home + "x/"), ("PUT", other_home + "x"),
                         ("GET", other_home + "x"), ("DELETE", other_home + "x")):
        assert (await server.call(method, path, b"")).status == 403, (method, path)
    assert await server.store.dav_tree.node(OTHER, "calendars/x") is None


@pytest_twisted.ensureDeferred
async def test_plain_resources_over_sqlite(sqlite_server):
    server = sqlite_server
    assert (await server.call("MKCOL", HOME + "files/")).status == 201
    assert (await server.call("PUT", HOME + "files/a", TEXT)).status == 201
    copy = await server.call("COPY", HOME + "files/", headers={"Destination": HOME + "copy/"})
    assert copy.status == 201
    assert (await server.call("GET", HOME + "copy/a")).body == TEXT
