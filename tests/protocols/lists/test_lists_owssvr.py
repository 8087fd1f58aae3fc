"""The owssvr.dll list export Outlook 2003 syncs a ``ver=1.0`` link's list with:
``<site>/_vti_bin/owssvr.dll?Cmd=Display&List={GUID}&XMLDATA=TRUE``, an XML rowset of
the list's items (schema and rows), read-only, after Basic login."""

from __future__ import annotations

import pytest_twisted
from lxml import etree

from smsync.protocols.lists import links
from smsync.protocols.lists.soap import DT, RS, S, Z
from smsync.testing.servers import in_thread
from tests.protocols.lists.lists_support import post
from tests.protocols.lists.test_lists_sync import card, collection_and_guid, event

OUTLOOK_2003 = "Microsoft Office/11.0 (Windows NT 5.1; Microsoft Outlook 11.0.8312; Pro)"


def export(port, query: str, **kwargs):
    return post(port, b"", path="/lists/_vti_bin/owssvr.dll?" + query, method="GET", agent=OUTLOOK_2003, **kwargs)


def rows(body: bytes) -> list:
    root = etree.fromstring(body)
    return [{k[4:]: v for k, v in r.attrib.items()} for r in root.iter(f"{{{Z}}}row")]


@pytest_twisted.ensureDeferred
async def test_export_of_each_list(server):
    port = server.port("http")
    calendar, cal_guid = await collection_and_guid(server, "calendar")
    await calendar.put("a.ics", event("ua", "Standup"))
    await calendar.put("b.ics", event("ub", "Review"))
    contacts, card_guid = await collection_and_guid(server, "contacts")
    await contacts.put("c.vcf", card("uc", "Carol"))
    status, headers, body = await in_thread(export, port, f"Cmd=Display&List={cal_guid}&XMLDATA=TRUE")
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(body)
    assert root.tag == "xml" and root.nsmap == {"s": S, "dt": DT, "rs": RS, "z": Z}
    types = {a.get("name"): a.find(f"{{{S}}}datatype").get(f"{{{DT}}}type")
             for a in root.iter(f"{{{S}}}AttributeType")}
    assert types["ows_ID"] == "i4" and types["ows_EventDate"] == "datetime" and types["ows_Title"] == "string"
    assert root.find(f"{{{RS}}}data").get("ItemCount") == "2"
    found = rows(body)
    assert sorted(r["Title"] for r in found) == ["Review", "Standup"]
    assert {r["EventDate"] for r in found} == {"2026-12-10T10:00:00Z"}
    # Every row attribute is declared in the schema.
    assert all(f"ows_{k}" in types for r in found for k in r)
    # The forms Outlook 2003 writes: no Cmd, XMLDATA=1, a View and RowLimit, the list by name.
    status, _, body = await in_thread(export, port, f"XMLDATA=1&List={card_guid.lower()}&View=%7B0%7D&RowLimit=0")
    assert status == 200 and [r["Title"] for r in rows(body)] == ["Carol"]
    status, _, body = await in_thread(export, port, "Cmd=Display&List=calendar&XMLDATA=TRUE&RowLimit=1&Query=Title")
    assert status == 200 and len(rows(body)) == 1 and "EventDate" not in rows(body)[0]
    # The IDs are the device's: the same ones a second time.
    again = await in_thread(export, port, f"Cmd=Display&List={cal_guid}&XMLDATA=TRUE")
    assert sorted(r["ID"] for r in rows(again[2])) == sorted(r["ID"] for r in found)


@pytest_twisted.ensureDeferred
async def test_refusals(server):
    port = server.port("http")
    calendar, guid = await collection_and_guid(server, "calendar")
    await calendar.put("a.ics", event("ua", "Standup"))
    before = [i.etag for i in await calendar.items()]
    assert (await in_thread(export, port, f"List={guid}&XMLDATA=TRUE", user=None))[0] == 401
    assert (await in_thread(export, port, f"Cmd=Delete&List={guid}&XMLDATA=TRUE"))[0] == 400
    assert (await in_thread(export, port, f"Cmd=Display&List={guid}"))[0] == 400
    assert (await in_thread(export, port, "Cmd=Display&List={00000000-0000-0000-0000-000000000000}&XMLDATA=TRUE"))[0] == 404
    status = (await in_thread(post, port, b"<x/>", path=f"/lists/_vti_bin/owssvr.dll?List={guid}"))[0]
    assert status == 405
    assert [i.etag for i in await calendar.items()] == before


def test_outlook_2003_link_names_the_exported_list():
    """A ver=1.0 link's base-url and guid are what owssvr.dll is asked with."""
    import uuid

    guid = uuid.uuid4()
    link = links.stssync_link("calendar", "https://mail.example.org/lists", "/Lists/calendar/", guid,
                              "alice@example.org", "Calendar", version=links.VERSION_2003)
    fields = links.parse_link(link)
    assert fields["ver"] == "1.0" and links.guid_of(fields) == guid
    assert fields["base-url"] + "/_vti_bin/owssvr.dll" == "https://mail.example.org/lists/_vti_bin/owssvr.dll"
