"""Discovery from the server root (issue 14 §1): users type ``http://host/`` into a
client. The root, ``/principals/`` and the principal URLs clients guess answer as DAV
resources naming the user's principal and home sets (RFC 6764 6), so the caldav
library and vdirsyncer given nothing but the root URL discover, save, search and sync."""

from datetime import datetime, timezone

import pytest_twisted

from dav_harness import OTHER, USER, in_thread
from vdir_helpers import vdirsyncer, write_config

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CR": "urn:ietf:params:xml:ns:carddav"}
PRINCIPAL = f"/dav/principals/{USER}/"

DISCOVERY = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
             "<D:prop><D:current-user-principal/><C:calendar-home-set/><CR:addressbook-home-set/>"
             "<D:resourcetype/></D:prop></D:propfind>")

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:root-lunch
DTSTAMP:20260101T000000Z
DTSTART:20260402T120000Z
DTEND:20260402T130000Z
SUMMARY:Lunch
END:VEVENT
END:VCALENDAR
"""


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


@pytest_twisted.ensureDeferred
async def test_root_and_guessed_principal_urls_answer_discovery(server):
    for path in ("/", "/principals/", f"/principals/{USER}/", f"/principals/users/{USER}/",
                 "/principals"):
        r = await server.call("PROPFIND", path, DISCOVERY, headers={"Depth": "0"})
        assert r.status == 207, (path, r)
        doc = r.xml()
        # The answer names the URL asked, and the real principal and homes below /dav/.
        assert doc.findtext("D:response/D:href", namespaces=NS) == path.rstrip("/") + "/"
        assert doc.findtext(".//D:current-user-principal/D:href", namespaces=NS) == PRINCIPAL
        assert doc.findtext(".//C:calendar-home-set/D:href", namespaces=NS) == \
            f"/dav/calendars/{USER}/"
        assert doc.findtext(".//CR:addressbook-home-set/D:href", namespaces=NS) == \
            f"/dav/addressbooks/{USER}/"
        assert doc.find(".//D:resourcetype/D:collection", NS) is not None
    guessed = await server.call("PROPFIND", f"/principals/{USER}/", DISCOVERY, headers={"Depth": "0"})
    assert guessed.xml().find(".//D:resourcetype/D:principal", NS) is not None

    # Depth 1 on the root lists what is below the mount, as it does there.
    listing = await server.call("PROPFIND", "/", DISCOVERY, headers={"Depth": "1"})
    hrefs = [h.text for h in listing.xml().iterfind("D:response/D:href", NS)]
    assert hrefs[0] == "/" and "/dav/principals/" in hrefs and "/dav/calendars/" in hrefs
    listing = await server.call("PROPFIND", "/principals/", DISCOVERY, headers={"Depth": "1"})
    hrefs = [h.text for h in listing.xml().iterfind("D:response/D:href", NS)]
    assert hrefs == ["/principals/", f"/principals/{USER}/"]

    # Credentials first, anything of another account refused, the rest of the site as it was.
    assert (await server.call("PROPFIND", "/", DISCOVERY, user=None)).status == 401
    assert (await server.call("PROPFIND", f"/principals/{OTHER}/", DISCOVERY)).status == 403
    assert (await server.call("PROPFIND", "/principals/a/b/", DISCOVERY)).status == 404
    assert (await server.call("GET", "/nothing", user=None)).status == 404
    options = await server.call("OPTIONS", "/", user=None)
    assert options.status == 200 and "calendar-access" in options.header("dav")
    root = await server.call("GET", "/")
    assert root.status == 200 and b"/dav/principals/" in root.body
    # RFC 6764 5: the well-known URIs still redirect.
    assert (await server.call("PROPFIND", "/.well-known/caldav", user=None)).status == 301


def caldav_from_root(server):
    client = server.caldav_client(url=server.url + "/")
    principal = client.principal()
    assert str(principal.url).endswith(PRINCIPAL)
    names = [str(c.url).rstrip("/").rsplit("/", 1)[-1] for c in principal.calendars()]
    assert "calendar" in names
    cal = principal.make_calendar(name="From root", cal_id="fromroot")
    cal.save_event(EVENT)
    found = cal.search(start=utc(2026, 4, 2), end=utc(2026, 4, 3), event=True)
    assert [str(e.component.get("uid")) for e in found] == ["root-lunch"]
    objects = cal.objects_by_sync_token()
    assert len(list(objects)) == 1
    event = cal.event_by_uid("root-lunch")
    event.icalendar_component["summary"] = "Long lunch"
    event.save()
    changed = cal.objects_by_sync_token(sync_token=objects.sync_token, load_objects=True)
    assert [str(o.icalendar_component.get("summary")) for o in changed] == ["Long lunch"]


@pytest_twisted.ensureDeferred
async def test_caldav_library_given_only_the_root_url(server):
    await in_thread(caldav_from_root, server)
    coll = await (await server.collections()).collection("fromroot")
    item = await coll.get_by_uid("root-lunch")
    assert b"SUMMARY:Long lunch" in item.content


def card(uid: str, name: str) -> bytes:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
            f"END:VCARD\r\n").encode()


@pytest_twisted.ensureDeferred
async def test_vdirsyncer_given_only_the_root_url(server, tmp_path):
    for kind, collection, ext, body in (
            ("caldav", "calendar", ".ics", EVENT.replace("\n", "\r\n").encode()),
            ("carddav", "contacts", ".vcf", card("root-card", "Root Card"))):
        config = write_config(tmp_path, server, kind, collection, url=server.url + "/")
        local = tmp_path / kind / collection
        local.mkdir(parents=True)
        (local / f"local{ext}").write_bytes(body)
        found = await in_thread(vdirsyncer, config, "-v", "DEBUG", "discover")
        # Found from the root itself, not through vdirsyncer's /.well-known/ fallback.
        assert "well-known" not in found.stderr + found.stdout, kind
        await in_thread(vdirsyncer, config, "sync")
        coll = await (await server.collections()).collection(collection)
        assert len(await coll.items()) == 1, kind
        await coll.put(f"server{ext}", body.replace(b"root-", b"server-"))
        await in_thread(vdirsyncer, config, "sync")
        texts = [p.read_bytes() for p in local.iterdir()]
        assert len(texts) == 2 and any(b"server-" in t for t in texts), kind
