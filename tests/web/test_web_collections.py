"""Collections in the web interface: the signed-in user's calendars, address books and
task lists with their "Add to Outlook" links (the page, its nav link, and
``GET /api/v1/collections``), each link parsing as MS-STSSYN requires and naming the
list the Lists service serves under that GUID; another account's collections are not
shown; a display name with markup is text."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.admin import collections as admin_collections
from smsync.formats import stssync
from smsync.model import PROP_DISPLAYNAME, CollectionKind
from smsync.protocols.lists import LISTS_PATH, ids
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread

from test_web_smoke import request, sign_in

BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SCRIPT = "<b>Team & Co</b>"


@pytest.fixture
def web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("web", "lists"), SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


async def _prepare(web):
    collections = await web.collections()
    await collections.create_collection("team", CollectionKind.CALENDAR, properties={PROP_DISPLAYNAME: SCRIPT})
    await collections.create_collection("jottings", CollectionKind.NOTES)
    other = await web.collections(OTHER)
    await other.create_collection("secret", CollectionKind.CALENDAR, properties={PROP_DISPLAYNAME: "Secret"})
    infos = {i.name: i for i in await collections.list_collections()}
    return infos


def test_admin_and_protocol_agree():
    assert admin_collections.LISTS_PATH == LISTS_PATH
    assert {k: v for k, v in admin_collections.LINK_TYPES.items()} == {
        kind: t.link_type for kind, t in ids.BY_KIND.items()}


@pytest_twisted.ensureDeferred
async def test_api_lists_links_for_each_kind(web):
    infos = await _prepare(web)
    status, headers, body = await in_thread(request, web, "GET", "/api/v1/collections",
                                            headers={"Authorization": BASIC, "Host": "mail.example.org"})
    assert status == 200 and headers["content-type"].startswith("application/json")
    items = {i["name"]: i for i in json.loads(body)["items"]}
    assert "secret" not in items
    assert items["jottings"]["add_to_outlook"] is None and items["jottings"]["add_to_outlook_2003"] is None
    seen_types = set()
    for name, item in items.items():
        if item["add_to_outlook"] is None:
            continue
        info = infos[name]
        fields = stssync.parse_link(item["add_to_outlook"])
        # Every field MS-STSSYN 2.2 asks for an add-folder link, with our values.
        assert set(fields) == {"ver", "type", "cmd", "base-url", "list-url", "guid", "site-name", "list-name"}
        assert fields["ver"] == "1.1" and fields["cmd"] == "add-folder"
        assert fields["type"] == ids.list_type(info.kind).link_type
        assert fields["base-url"] == f"http://mail.example.org:{web.port('http')}/lists"
        assert fields["list-url"] == f"/Lists/{name}/"
        assert stssync.guid_of(fields) == ids.list_guid(USER, info.id)
        assert fields["site-name"] == USER and fields["list-name"] == item["display_name"]
        seen_types.add(fields["type"])
        old = item["add_to_outlook_2003"]
        if fields["type"] == "tasks":
            assert old is None  # Outlook 2003 takes no task lists
        else:
            old_fields = stssync.parse_link(old)
            assert old_fields["ver"] == "1.0" and stssync.guid_of(old_fields) == stssync.guid_of(fields)
    assert seen_types == {"calendar", "contacts", "tasks"}
    assert items["team"]["display_name"] == SCRIPT
    # Not signed in: the API asks for Basic.
    assert (await in_thread(request, web, "GET", "/api/v1/collections"))[0] == 401


@pytest_twisted.ensureDeferred
async def test_page_shows_the_links_and_the_service_takes_the_guid(web):
    await _prepare(web)
    cookie = await in_thread(sign_in, web)
    status, _, body = await in_thread(request, web, "GET", "/web/collections", headers={"Cookie": cookie})
    assert status == 200
    page = body.decode()
    assert 'href="/web/collections" aria-current="page">Collections</a>' in page
    assert html.escape(SCRIPT) in page and SCRIPT not in page
    hrefs = [html.unescape(h) for h in re.findall(r'class="outlook" href="([^"]+)"', page)]
    old = [html.unescape(h) for h in re.findall(r'class="outlook-2003" href="([^"]+)"', page)]
    assert len(hrefs) == 4 and len(old) == 3  # calendar, team, contacts, tasks; no tasks for 2003
    assert "Secret" not in page and "jottings" not in page.split("<tbody>")[0]
    # Each link's GUID is a list the Lists service answers GetList for.
    from tests.protocols.lists.lists_support import call

    for link in hrefs:
        guid = stssync.parse_link(link)["guid"]
        answer = await in_thread(call, web.port("http"), "GetList", {"listName": guid})
        assert answer.fault_code is None and answer.result.get("ID") == guid
    # The nav link is on every page.
    _, _, devices_page = await in_thread(request, web, "GET", "/web/devices", headers={"Cookie": cookie})
    assert b'href="/web/collections"' in devices_page


@pytest_twisted.ensureDeferred
async def test_openapi_describes_the_call(web):
    status, _, body = await in_thread(request, web, "GET", "/api/v1/openapi.json")
    assert status == 200
    doc = json.loads(body)
    operation = doc["paths"]["/api/v1/collections"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert "add_to_outlook" in json.dumps(schema) and operation["summary"]


def test_links_without_a_site_and_with_a_bad_one():
    from smsync.model import CollectionInfo

    infos = [CollectionInfo("c1", "calendar", CollectionKind.CALENDAR, frozenset({"VEVENT"}))]
    views = admin_collections.collection_links(USER, infos, None)
    assert [(v.name, v.link, v.link_2003) for v in views] == [("calendar", None, None)]
    with pytest.raises(ValueError):
        admin_collections.collection_links(USER, infos, "ftp://example.org/lists")
    assert admin_collections.site_of("", "https://mail.example.org:8443") == "https://mail.example.org:8443/lists"
    assert admin_collections.site_of("https://proxy.example.org/sp/", "x") == "https://proxy.example.org/sp"
