"""What real address books contain (issue 14 §3) over HTTP: a vCard without the UID
CardDAV needs is stored with one, Last-Modified from REV, the whole address book as one
.vcf with an ETag, and a PUT that would change a card's UID refused
(CARDDAV:no-uid-conflict)."""

import pytest_twisted

from dav_harness import USER

NS = {"D": "DAV:", "CR": "urn:ietf:params:xml:ns:carddav"}
BOOK = f"/dav/addressbooks/{USER}/contacts/"


def vcard(*lines: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCARD", "VERSION:3.0", *lines, "END:VCARD"]) + "\r\n").encode()


async def put(server, path, body, **headers):
    return await server.call("PUT", path, body, headers={"Content-Type": "text/vcard", **headers})


async def stored(server, name: str) -> bytes:
    coll = await (await server.collections()).collection("contacts")
    found = await coll.get([name])
    return found[0].content if found else None


@pytest_twisted.ensureDeferred
async def test_a_vcard_without_uid_is_stored_with_one(server):
    r = await put(server, BOOK + "exported-7.vcf", vcard("FN:No Uid", "N:Uid;No;;;"))
    assert r.status == 201, r
    assert r.header("etag") is None  # stored is not what was sent (RFC 6352 6.3.2.3)
    content = await stored(server, "exported-7.vcf")
    assert b"UID:exported-7\r\n" in content and b"FN:No Uid" in content


@pytest_twisted.ensureDeferred
async def test_last_modified_and_the_address_book_as_one_vcf(server):
    ada = vcard("UID:ada", "FN:Ada", "REV:2026-02-03T04:05:06Z")
    grace = vcard("UID:grace", "FN:Grace", "REV:20260101T000000Z")
    assert (await put(server, BOOK + "ada.vcf", ada)).status == 201
    assert (await put(server, BOOK + "grace.vcf", grace)).status == 201
    r = await server.call("GET", BOOK + "ada.vcf")
    assert r.header("last-modified") == "Tue, 03 Feb 2026 04:05:06 GMT"
    whole = await server.call("GET", BOOK)
    assert whole.status == 200 and whole.header("content-type").startswith("text/vcard")
    assert whole.body.count(b"BEGIN:VCARD") == 2 and ada in whole.body and grace in whole.body
    assert whole.header("last-modified") == "Tue, 03 Feb 2026 04:05:06 GMT"
    etag = whole.header("etag")
    assert (await server.call("GET", BOOK, headers={"If-None-Match": etag})).status == 304


@pytest_twisted.ensureDeferred
async def test_a_put_changing_the_uid_is_refused(server):
    assert (await put(server, BOOK + "card.vcf", vcard("UID:first", "FN:First"))).status == 201
    r = await put(server, BOOK + "card.vcf", vcard("UID:second", "FN:Second"))
    assert r.status == 403
    cond = r.xml().find("CR:no-uid-conflict", NS)
    assert cond is not None and cond.findtext("D:href", namespaces=NS) == BOOK + "card.vcf"
    assert b"UID:first" in await stored(server, "card.vcf")
