"""CardDAV: vCard 3.0 and 4.0 side by side, served in the version asked, text-match
queries with limit, multiget, preconditions, and vdirsyncer two-way sync of contacts."""

import pytest_twisted

from dav_harness import USER, in_thread
from vdir_helpers import vdirsyncer, write_config

NS = {"D": "DAV:", "CR": "urn:ietf:params:xml:ns:carddav"}
BOOK = f"/dav/addressbooks/{USER}/contacts/"

V3 = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ada\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n"
      "EMAIL;TYPE=INTERNET,WORK:ada@example.org\r\nTEL;TYPE=CELL:+44 20 7946 0001\r\nEND:VCARD\r\n")
V4 = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:grace\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
      "EMAIL;TYPE=home:grace@example.org\r\nEND:VCARD\r\n")
V4_B = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:alan\r\nFN:Alan Turing\r\nN:Turing;Alan;;;\r\n"
        "EMAIL;TYPE=work:alan@example.org\r\nEND:VCARD\r\n")


def query(filter_xml: str, version: str | None = None, limit: int | None = None) -> str:
    attrs = f' content-type="text/vcard" version="{version}"' if version else ""
    lim = f"<CR:limit><CR:nresults>{limit}</CR:nresults></CR:limit>" if limit else ""
    return f"""<?xml version="1.0"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><CR:address-data{attrs}/></D:prop>
  {filter_xml}{lim}
</CR:addressbook-query>"""


def cards(reply):
    out = {}
    for resp in reply.xml().findall("D:response", NS):
        data = resp.find(".//CR:address-data", NS)
        if data is not None:
            out[resp.findtext("D:href", namespaces=NS).rsplit("/", 1)[-1]] = data.text
    return out


async def put_cards(server):
    for name, body in (("ada.vcf", V3), ("grace.vcf", V4), ("alan.vcf", V4_B)):
        r = await server.call("PUT", BOOK + name, body, headers={"Content-Type": "text/vcard"})
        assert r.status == 201, r


@pytest_twisted.ensureDeferred
async def test_versions_and_text_match(server):
    await put_cards(server)
    # Stored as sent: GET gives each card back in its own version.
    assert (await server.call("GET", BOOK + "ada.vcf")).body == V3.encode()
    assert (await server.call("GET", BOOK + "grace.vcf")).body == V4.encode()
    # ... or in the version an Accept header names.
    as_v4 = await server.call("GET", BOOK + "ada.vcf", headers={"Accept": "text/vcard; version=4.0"})
    assert b"VERSION:4.0" in as_v4.body and b"Ada Lovelace" in as_v4.body
    assert "version=4.0" in as_v4.header("content-type")

    # Asking for 4.0 converts the 3.0 card; asking for 3.0 converts the 4.0 ones.
    every = '<CR:filter/>'
    as4 = cards(await server.call("REPORT", BOOK, query(every, "4.0"), headers={"Depth": "1"}))
    assert sorted(as4) == ["ada.vcf", "alan.vcf", "grace.vcf"]
    assert all("VERSION:4.0" in text for text in as4.values())
    as3 = cards(await server.call("REPORT", BOOK, query(every, "3.0"), headers={"Depth": "1"}))
    assert all("VERSION:3.0" in text for text in as3.values())
    assert "Grace Hopper" in as3["grace.vcf"]

    # text-match, case-insensitive by default (i;unicode-casemap), on FN and on EMAIL.
    by_name = query('<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">'
                    'HOPPER</CR:text-match></CR:prop-filter></CR:filter>')
    assert list(cards(await server.call("REPORT", BOOK, by_name, headers={"Depth": "1"}))) == ["grace.vcf"]
    starts = query('<CR:filter test="anyof"><CR:prop-filter name="EMAIL"><CR:text-match '
                   'match-type="starts-with">a</CR:text-match></CR:prop-filter></CR:filter>')
    assert sorted(cards(await server.call("REPORT", BOOK, starts, headers={"Depth": "1"}))) == [
        "ada.vcf", "alan.vcf"]
    negated = query('<CR:filter><CR:prop-filter name="FN"><CR:text-match negate-condition="yes">'
                    'Ada</CR:text-match></CR:prop-filter></CR:filter>')
    assert sorted(cards(await server.call("REPORT", BOOK, negated, headers={"Depth": "1"}))) == [
        "alan.vcf", "grace.vcf"]
    by_param = query('<CR:filter><CR:prop-filter name="EMAIL"><CR:param-filter name="TYPE">'
                     '<CR:text-match match-type="equals">work</CR:text-match></CR:param-filter>'
                     '</CR:prop-filter></CR:filter>')
    assert sorted(cards(await server.call("REPORT", BOOK, by_param, headers={"Depth": "1"}))) == [
        "ada.vcf", "alan.vcf"]
    missing_tel = query('<CR:filter><CR:prop-filter name="TEL"><CR:is-not-defined/>'
                        '</CR:prop-filter></CR:filter>')
    assert sorted(cards(await server.call("REPORT", BOOK, missing_tel, headers={"Depth": "1"}))) == [
        "alan.vcf", "grace.vcf"]

    # limit: two results and a 507 for the address book itself.
    limited = await server.call("REPORT", BOOK, query(every, limit=2), headers={"Depth": "1"})
    assert len(cards(limited)) == 2
    statuses = [(r.findtext("D:href", namespaces=NS), r.findtext("D:status", namespaces=NS))
                for r in limited.xml().findall("D:response", NS)]
    assert (BOOK, "HTTP/1.1 507 Insufficient Storage") in statuses


@pytest_twisted.ensureDeferred
async def test_multiget_and_properties(server):
    await put_cards(server)
    body = f"""<?xml version="1.0"?>
<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><CR:address-data version="3.0"/></D:prop>
  <D:href>{BOOK}grace.vcf</D:href><D:href>{BOOK}nobody.vcf</D:href>
</CR:addressbook-multiget>"""
    r = await server.call("REPORT", BOOK, body)
    assert r.status == 207
    got = cards(r)
    assert list(got) == ["grace.vcf"] and "VERSION:3.0" in got["grace.vcf"]
    assert b"404" in r.body

    props = await server.call("PROPFIND", BOOK, """<?xml version="1.0"?>
<D:propfind xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop>
<D:resourcetype/><CR:supported-address-data/><CR:max-resource-size/></D:prop></D:propfind>""",
                              headers={"Depth": "0"})
    root = props.xml()
    assert root.find(".//D:resourcetype/CR:addressbook", NS) is not None
    versions = sorted(e.get("version") for e in root.iterfind(".//CR:address-data-type", NS))
    assert versions == ["3.0", "4.0"]
    assert root.findtext(".//CR:max-resource-size", namespaces=NS) == str(10 * 1024 * 1024)


@pytest_twisted.ensureDeferred
async def test_invalid_and_conflicting_cards_are_refused(server):
    await put_cards(server)
    bad = await server.call("PUT", BOOK + "bad.vcf", "BEGIN:VCARD\r\nFN:x\r\n",
                            headers={"Content-Type": "text/vcard"})
    assert bad.status == 403 and b"valid-address-data" in bad.body
    dup = await server.call("PUT", BOOK + "other.vcf", V3, headers={"Content-Type": "text/vcard"})
    assert dup.status == 403 and b"no-uid-conflict" in dup.body and b"ada.vcf" in dup.body
    coll = await (await server.collections()).collection("contacts")
    assert sorted(i.name for i in await coll.items()) == ["ada.vcf", "alan.vcf", "grace.vcf"]


async def contacts_two_way(server, tmp_path):
    config = write_config(tmp_path, server, "carddav", "contacts")
    local = tmp_path / "carddav" / "contacts"
    local.mkdir()
    (local / "ada.vcf").write_text(V3)
    (local / "grace.vcf").write_text(V4)
    coll = await (await server.collections()).collection("contacts")
    await coll.put("alan.vcf", V4_B.encode())
    await in_thread(vdirsyncer, config, "discover")
    await in_thread(vdirsyncer, config, "sync")
    assert sorted(i.uid for i in await coll.items()) == ["ada", "alan", "grace"]
    assert len(list(local.iterdir())) == 3

    (local / "ada.vcf").write_text(V3.replace("Ada Lovelace", "Ada King"))
    (local / "grace.vcf").unlink()
    await coll.put("alan.vcf", V4_B.replace("Alan Turing", "Alan M. Turing").encode())
    await in_thread(vdirsyncer, config, "sync")
    remote = {i.info.uid: i.content for i in await coll.get([x.name for x in await coll.items()])}
    assert sorted(remote) == ["ada", "alan"]
    assert b"Ada King" in remote["ada"]
    texts = [p.read_text() for p in local.iterdir()]
    assert len(texts) == 2 and any("Alan M. Turing" in t for t in texts)


@pytest_twisted.ensureDeferred
async def test_vdirsyncer_contacts(server, tmp_path):
    await contacts_two_way(server, tmp_path)


@pytest_twisted.ensureDeferred
async def test_vdirsyncer_contacts_sqlite(sqlite_server, tmp_path):
    await contacts_two_way(sqlite_server, tmp_path)


@pytest_twisted.ensureDeferred
async def test_listings_agree_with_get(server):
    """Cards in sync-collection, addressbook-query and multiget answers, as stored or in
    the version asked, are what a GET (with that version in Accept) gives, markup
    characters included."""
    tricky = V3.replace("Ada Lovelace", "Ada <Countess> & Lovelace")
    for name, body in (("ada.vcf", tricky), ("grace.vcf", V4)):
        assert (await server.call("PUT", BOOK + name, body, headers={"Content-Type": "text/vcard"})).status == 201
    hrefs = "".join(f"<D:href>{BOOK}{n}</D:href>" for n in ("ada.vcf", "grace.vcf"))
    for version in (None, "3.0", "4.0"):
        attrs = f' version="{version}"' if version else ""
        prop = f"<D:prop><D:getetag/><CR:address-data{attrs}/></D:prop>"
        ns = 'xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"'
        expected = {}
        for name in ("ada.vcf", "grace.vcf"):
            accept = {"Accept": f"text/vcard; version={version}"} if version else {}
            expected[name] = (await server.call("GET", BOOK + name, headers=accept)).body.decode()
        assert "Ada <Countess> & Lovelace" in expected["ada.vcf"]
        for label, body in (
                ("sync", f"<D:sync-collection {ns}><D:sync-token/><D:sync-level>1</D:sync-level>{prop}"
                         "</D:sync-collection>"),
                ("query", f"<CR:addressbook-query {ns}>{prop}<CR:filter/></CR:addressbook-query>"),
                ("multiget", f"<CR:addressbook-multiget {ns}>{prop}{hrefs}</CR:addressbook-multiget>")):
            r = await server.call("REPORT", BOOK, body, headers={"Depth": "1"})
            assert r.status == 207, (label, r)
            assert cards(r) == expected, (label, version)
