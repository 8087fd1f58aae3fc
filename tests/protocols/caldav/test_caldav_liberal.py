"""What real calendars contain (issue 14 §3), over HTTP against a real server:
malformed-but-common exports stored repaired, VFREEBUSY objects in calendars that take
them (RFC 4791 9.9 time ranges), Last-Modified on items, the whole calendar as one .ics,
and a PUT that would change an item's UID refused (CALDAV:no-uid-conflict)."""

from email.utils import parsedate_to_datetime

import pytest_twisted

from dav_harness import USER

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
HOME = f"/dav/calendars/{USER}/"
CAL = HOME + "calendar/"


def ics(*lines: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *lines,
                         "END:VCALENDAR"]) + "\r\n").encode()


def vevent(uid: str, *props: str) -> list:
    return ["BEGIN:VEVENT", f"UID:{uid}", *props, "END:VEVENT"]


async def put(server, path, body, **headers):
    return await server.call("PUT", path, body, headers={"Content-Type": "text/calendar", **headers})


async def stored(server, name: str, collection: str = "calendar") -> bytes:
    coll = await (await server.collections()).collection(collection)
    found = await coll.get([name])
    return found[0].content if found else None


@pytest_twisted.ensureDeferred
async def test_malformed_but_common_exports_are_stored_repaired(server):
    # Apple's DURATION:P1DT, an Outlook/Google export's METHOD:PUBLISH, ISO 8601 times.
    body = ics("METHOD:PUBLISH", *vevent("apple", "DTSTAMP:2026-01-05T08:00:00Z",
                                         "DTSTART:20260301T100000Z", "DURATION:P1DT",
                                         "SUMMARY:All day-ish"))
    r = await put(server, CAL + "apple.ics", body)
    assert r.status == 201, r
    # RFC 4791 5.3.4: what is stored is not what was sent, so no ETag.
    assert r.header("etag") is None
    content = await stored(server, "apple.ics")
    assert b"DURATION:P1D\r\n" in content and b"METHOD" not in content
    assert b"DTSTAMP:20260105T080000Z" in content
    got = await server.call("GET", CAL + "apple.ics")
    assert got.status == 200 and got.body == content and got.header("etag")

    # DTEND beside DURATION: the explicit end is kept.
    both = ics(*vevent("both", "DTSTAMP:20260101T000000Z", "DTSTART:20260302T100000Z",
                       "DTEND:20260302T110000Z", "DURATION:PT2H"))
    assert (await put(server, CAL + "both.ics", both)).status == 201
    assert b"DURATION" not in await stored(server, "both.ics")

    # Valid data is stored byte for byte, with its ETag.
    plain = ics(*vevent("plain", "DTSTAMP:20260101T000000Z", "DTSTART:20260303T100000Z",
                        "DURATION:PT1H"))
    r = await put(server, CAL + "plain.ics", plain)
    assert r.status == 201 and r.header("etag")
    assert await stored(server, "plain.ics") == plain

    # What has no obvious meaning is still refused.
    bad = ics(*vevent("bad", "DTSTAMP:20260101T000000Z", "DTSTART:20260230T100000Z"))
    r = await put(server, CAL + "bad.ics", bad)
    assert r.status == 403 and r.xml().find("C:valid-calendar-data", NS) is not None
    assert await stored(server, "bad.ics") is None


FREEBUSY_CAL = HOME + "published/"
MKCALENDAR = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
              "<D:set><D:prop><C:supported-calendar-component-set>"
              '<C:comp name="VEVENT"/><C:comp name="VFREEBUSY"/>'
              "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>")


def query(start: str, end: str) -> str:
    return ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
            f'<C:comp-filter name="VFREEBUSY"><C:time-range start="{start}" end="{end}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


@pytest_twisted.ensureDeferred
async def test_vfreebusy_objects_where_the_calendar_takes_them(server):
    fb = ics("BEGIN:VFREEBUSY", "UID:fb-1", "DTSTAMP:20260101T000000Z",
             "FREEBUSY;FBTYPE=BUSY:20260310T090000Z/20260310T100000Z,20260311T090000Z/PT2H",
             "END:VFREEBUSY")
    r = await server.call("MKCALENDAR", FREEBUSY_CAL, MKCALENDAR)
    assert r.status == 201, r
    assert (await put(server, FREEBUSY_CAL + "fb.ics", fb)).status == 201
    hit = await server.call("REPORT", FREEBUSY_CAL, query("20260311T100000Z", "20260311T120000Z"),
                            headers={"Depth": "1"})
    assert [h.text for h in hit.xml().iterfind(".//D:href", NS)] == [FREEBUSY_CAL + "fb.ics"]
    miss = await server.call("REPORT", FREEBUSY_CAL, query("20260310T100000Z", "20260311T090000Z"),
                             headers={"Depth": "1"})
    assert miss.xml().find(".//D:href", NS) is None
    # RFC 4791 7.10: a free-busy query counts published busy time beside events.
    fbq = ('<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
           '<C:time-range start="20260311T000000Z" end="20260312T000000Z"/></C:free-busy-query>')
    busy = await server.call("REPORT", FREEBUSY_CAL, fbq, headers={"Depth": "1"})
    assert busy.status == 200
    assert b"FREEBUSY;FBTYPE=BUSY:20260311T090000Z/20260311T110000Z" in busy.body
    # A calendar that does not name VFREEBUSY refuses it as RFC 4791 5.3.2.1 says.
    r = await put(server, CAL + "fb.ics", fb)
    assert r.status == 403 and r.xml().find("C:supported-calendar-component", NS) is not None


@pytest_twisted.ensureDeferred
async def test_last_modified_on_items(server):
    body = ics(*vevent("stamped", "DTSTAMP:20260105T080000Z", "LAST-MODIFIED:20260106T093000Z",
                       "DTSTART:20260301T100000Z"))
    assert (await put(server, CAL + "stamped.ics", body)).status == 201
    for method in ("GET", "HEAD"):
        r = await server.call(method, CAL + "stamped.ics")
        assert r.header("last-modified") == "Tue, 06 Jan 2026 09:30:00 GMT", method
    prop = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/>'
            "<D:getetag/></D:prop></D:propfind>")
    for depth, path in (("0", CAL + "stamped.ics"), ("1", CAL)):
        r = await server.call("PROPFIND", path, prop, headers={"Depth": depth})
        dates = {resp.findtext("D:href", namespaces=NS): resp.findtext(".//D:getlastmodified", namespaces=NS)
                 for resp in r.xml().iterfind("D:response", NS)}
        assert parsedate_to_datetime(dates[CAL + "stamped.ics"]).isoformat() == "2026-01-06T09:30:00+00:00"


TZ = ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD", "DTSTART:19701025T030000",
      "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE"]


@pytest_twisted.ensureDeferred
async def test_get_of_a_calendar_is_the_whole_calendar_as_one_ics(server):
    for uid, day in (("one", 1), ("two", 2)):
        body = ics(*TZ, *vevent(uid, "DTSTAMP:20260101T000000Z",
                                f"DTSTART;TZID=Europe/Berlin:202603{day:02d}T100000"))
        assert (await put(server, CAL + f"{uid}.ics", body)).status == 201
    r = await server.call("GET", CAL)
    assert r.status == 200 and r.header("content-type").startswith("text/calendar")
    assert r.body.count(b"BEGIN:VCALENDAR") == 1 and r.body.count(b"BEGIN:VEVENT") == 2
    assert r.body.count(b"BEGIN:VTIMEZONE") == 1
    assert b"X-WR-CALNAME:" in r.body
    etag = r.header("etag")
    assert etag
    assert (await server.call("GET", CAL, headers={"If-None-Match": etag})).status == 304
    body = ics(*vevent("three", "DTSTAMP:20260101T000000Z", "DTSTART:20260303T100000Z"))
    assert (await put(server, CAL + "three.ics", body)).status == 201
    again = await server.call("GET", CAL, headers={"If-None-Match": etag})
    assert again.status == 200 and again.header("etag") != etag
    assert again.body.count(b"BEGIN:VEVENT") == 3


@pytest_twisted.ensureDeferred
async def test_a_put_changing_the_uid_is_refused(server):
    first = ics(*vevent("original", "DTSTAMP:20260101T000000Z", "DTSTART:20260301T100000Z"))
    r = await put(server, CAL + "item.ics", first)
    assert r.status == 201
    etag = r.header("etag")
    other = ics(*vevent("another", "DTSTAMP:20260101T000000Z", "DTSTART:20260301T100000Z"))
    for headers in ({}, {"If-Match": etag}):
        r = await put(server, CAL + "item.ics", other, **headers)
        assert r.status == 403, (headers, r)
        cond = r.xml().find("C:no-uid-conflict", NS)
        assert cond is not None and cond.findtext("D:href", namespaces=NS) == CAL + "item.ics"
    assert b"UID:original" in await stored(server, "item.ics")
    # The same UID with other content is an ordinary update.
    edited = first.replace(b"DTSTART:20260301T100000Z", b"DTSTART:20260302T100000Z")
    assert (await put(server, CAL + "item.ics", edited, **{"If-Match": etag})).status == 204


@pytest_twisted.ensureDeferred
async def test_export_of_a_large_calendar_is_streamed_in_batches(server):
    # More items than one store batch (250): the export is written a batch at a time and
    # still holds each time zone once, every event, and an ETag that conditional GETs use.
    coll = await (await server.collections()).collection("calendar")
    count = 620
    for i in range(count):
        await coll.put(f"e{i}.ics", ics(*TZ, *vevent(f"e{i}", "DTSTAMP:20260101T000000Z",
                                                    "DTSTART;TZID=Europe/Berlin:20260301T100000")))
    r = await server.call("GET", CAL)
    assert r.status == 200
    assert r.body.startswith(b"BEGIN:VCALENDAR\r\n") and r.body.endswith(b"END:VCALENDAR\r\n")
    assert r.body.count(b"BEGIN:VCALENDAR") == 1 and r.body.count(b"END:VCALENDAR") == 1
    assert r.body.count(b"BEGIN:VEVENT") == count
    assert r.body.count(b"BEGIN:VTIMEZONE") == 1
    assert r.body.index(b"BEGIN:VTIMEZONE") < r.body.index(b"BEGIN:VEVENT")
    head = await server.call("HEAD", CAL)
    assert head.status == 200 and head.header("etag") == r.header("etag") and not head.body
    assert (await server.call("GET", CAL, headers={"If-None-Match": r.header("etag")})).status == 304
