"""Synchronized Devices over a real server and a real SQLite store: a device's page (its
facts, what it syncs, its log), rename with bad names refused, delete after a
confirmation (its sync state goes: its next sync starts over), remote and account-only
wipe with their state; the same as API calls with problem+json errors; nobody reaches
another account's device by editing a URL; a device named ``<script>`` is text; and
real IMAP, POP3, CalDAV and CardDAV clients each listed with their own Type."""

from __future__ import annotations

import base64
import html
import http.client
import imaplib
import json
import poplib
import re
from urllib.parse import urlencode

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.defer import ensureDeferred

from smsync.edge.devices import acknowledge_wipe
from smsync.errors import NotFound
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread

from test_web_smoke import request, sign_in

PHONE = "eas-PHONE1"
SCRIPT = "<script>alert(1)</script>"
FORM = "application/x-www-form-urlencoded"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(
        ("web", "imap", "pop3", "caldav", "carddav"), SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


async def add_phone(store, account=USER, device_id=PHONE, agent="Android-Mail/1.0"):
    """An EAS device as its first requests leave it: FolderSync and a Sync of the Inbox
    and the calendar saved in its state, a line in its log."""
    await store.devices.seen(account, device_id, "eas", user_agent=agent)
    folders = {"f1": ["0", "Inbox", 2], "f2": ["0", "Sent", 5], "c1": ["0", "Calendar", 8],
               "c2": ["0", "Contacts", 9]}
    await store.devices.save_state(account, device_id, "eas:hierarchy",
                                   json.dumps({"key": 1, "folders": folders}).encode())
    await store.devices.save_state(account, device_id, "eas:sync", json.dumps(
        {"collections": {"f1": {}, "c1": {}}, "wait": None, "window": 100}).encode())
    await store.devices.save_state(account, device_id, "eas:device-info", json.dumps(
        {"Model": "Pixel 8", "OS": "Android 14", "IMEI": "3560000"}).encode())
    await store.devices.log(account, device_id, "Sync f1: 3 added")


async def page(web, cookie, path):
    return await in_thread(request, web, "GET", path, headers={"Cookie": cookie})


async def post_form(web, cookie, path, fields):
    return await in_thread(request, web, "POST", path, urlencode(fields).encode(),
                           {"Content-Type": FORM, "Cookie": cookie})


def csrf_of(body: bytes) -> str:
    return re.search(rb'name="csrf" value="([0-9a-f]+)"', body).group(1).decode()


async def call(web, method, path, body=None, auth=BASIC, headers=None):
    sent = {"Authorization": auth} if auth else {}
    sent.update(headers or {})
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    status, got, raw = await in_thread(request, web, method, path, payload, sent)
    return status, got, json.loads(raw) if raw else None


@pytest_twisted.ensureDeferred
async def test_device_page_rename_wipe_and_delete(web):
    await add_phone(web.store)
    cookie = await in_thread(sign_in, web)
    status, _, body = await page(web, cookie, "/web/devices")
    assert status == 200 and b'href="/web/devices/eas-PHONE1"' in body
    assert b"see details" in body  # an EAS device's folders are read on its own page

    status, headers, body = await page(web, cookie, f"/web/devices/{PHONE}")
    text = body.decode()
    assert status == 200 and "frame-ancestors 'none'" in headers["content-security-policy"]
    for fact in ("Exchange ActiveSync", "Android-Mail/1.0", "Mail: Inbox; Calendars: Calendar",
                 "<dt>Model</dt><dd>Pixel 8</dd>", "<dt>Operating system</dt><dd>Android 14</dd>",
                 "Sync f1: 3 added", "none requested", 'action="/web/devices/eas-PHONE1/rename"',
                 "Remote wipe", "Account-only wipe", 'href="/web/devices/eas-PHONE1/delete"'):
        assert fact in text, fact
    csrf = csrf_of(body)

    # Bad names re-show the form with a message and change nothing.
    for bad, why in (("   ", "the name is empty"), ("x" * 101, "longer than 100"),
                     ("Work\x01phone", "control characters")):
        status, _, body = await post_form(web, cookie, f"/web/devices/{PHONE}/rename",
                                          {"csrf": csrf, "name": bad})
        assert status == 400 and why in body.decode() and b'aria-invalid="true"' in body
        assert (await web.store.devices.get(USER, PHONE)).name == "Android-Mail"
    # Without the form's token nothing happens either.
    status, _, _ = await post_form(web, cookie, f"/web/devices/{PHONE}/rename", {"name": "Work phone"})
    assert status == 403 and (await web.store.devices.get(USER, PHONE)).name == "Android-Mail"

    status, headers, _ = await post_form(web, cookie, f"/web/devices/{PHONE}/rename",
                                         {"csrf": csrf, "name": "  Work phone "})
    assert status == 303 and headers["location"] == f"/web/devices/{PHONE}?notice=renamed"
    assert (await web.store.devices.get(USER, PHONE)).name == "Work phone"
    status, _, body = await page(web, cookie, headers["location"])
    assert b"The device was renamed." in body and b"<h1>Work phone</h1>" in body

    # Wipes, with their state.
    status, headers, _ = await post_form(web, cookie, f"/web/devices/{PHONE}/wipe",
                                         {"csrf": csrf, "account_only": "1"})
    assert status == 303 and headers["location"].endswith("?notice=wipe-account")
    status, _, body = await page(web, cookie, headers["location"])
    assert b"account-only wipe requested" in body and b"not yet acknowledged" in body
    assert b"removes this account the next time it connects" in body
    await acknowledge_wipe(web.store.devices, USER, PHONE, "1")
    status, _, body = await page(web, cookie, f"/web/devices/{PHONE}")
    assert b"done, reported" in body and b"account-only wipe requested" in body
    status, _, body = await post_form(web, cookie, f"/web/devices/{PHONE}/wipe",
                                      {"csrf": csrf, "account_only": "0"})
    status, _, body = await page(web, cookie, f"/web/devices/{PHONE}")
    assert b"full wipe requested" in body and b"not yet acknowledged" in body
    assert b"remote wipe requested" in body  # in its log

    # Delete: a confirmation saying what it does, then the state is gone.
    status, _, body = await page(web, cookie, f"/web/devices/{PHONE}/delete")
    means = html.unescape(re.search(rb'<p id="delete-means">(.*?)</p>', body, re.S).group(1).decode())
    assert "drops the sync state" in means and "next sync starts over" in means
    assert "remote wipe not yet done is cancelled" in means
    assert (await web.store.devices.get(USER, PHONE)).name == "Work phone"  # not yet
    status, headers, _ = await post_form(web, cookie, f"/web/devices/{PHONE}/delete", {"csrf": csrf})
    assert status == 303 and headers["location"] == "/web/devices?notice=deleted"
    with pytest.raises(NotFound):
        await web.store.devices.get(USER, PHONE)
    for key in ("eas:sync", "eas:hierarchy", "wipe"):
        assert await web.store.devices.load_state(USER, PHONE, key) is None
    status, _, body = await page(web, cookie, headers["location"])
    assert b"The device was deleted" in body and b"eas-PHONE1" not in body
    status, _, body = await page(web, cookie, f"/web/devices/{PHONE}")
    assert status == 404


@pytest_twisted.ensureDeferred
async def test_device_api(web):
    await add_phone(web.store)
    status, _, got = await call(web, "GET", f"/api/v1/devices/{PHONE}")
    assert status == 200 and got["type"] == "Exchange ActiveSync" and got["renamable"] and got["wipeable"]
    assert got["syncs"] == ["Mail: Inbox", "Calendars: Calendar"] and got["wipe"] is None
    assert got["details"] == {"Model": "Pixel 8", "Operating system": "Android 14"}

    status, headers, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": ""})
    assert status == 400 and got["field"] == "name" and headers["content-type"] == "application/problem+json"
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": 5})
    assert status == 400 and got["field"] == "name"
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": "a\nb"})
    assert status == 400 and got["field"] == "name" and "control" in got["detail"]
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": "\ud800"})
    assert status == 400 and got["field"] == "name" and "not valid Unicode" in got["detail"]
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": "Tablet"})
    assert status == 200 and got["name"] == "Tablet"

    status, _, got = await call(web, "POST", f"/api/v1/devices/{PHONE}/wipe", {"account_only": "yes"})
    assert status == 400 and got["field"] == "account_only"
    status, _, got = await call(web, "POST", f"/api/v1/devices/{PHONE}/wipe", {"account_only": True})
    assert status == 200 and got["account_only"] is True and got["acknowledged"] is None
    status, _, got = await call(web, "GET", f"/api/v1/devices/{PHONE}/log?limit=1")
    assert status == 200 and [e["message"] for e in got["items"]] == ["account-only remote wipe requested"]
    status, _, got = await call(web, "GET", f"/api/v1/devices/{PHONE}/log?limit=0")
    assert status == 400 and got["field"] == "limit"
    status, _, got = await call(web, "GET", f"/api/v1/devices/{PHONE}/log")
    assert "Sync f1: 3 added" in [e["message"] for e in got["items"]]

    # Through the browser's cookie, a write needs the CSRF token as a header.
    cookie = await in_thread(sign_in, web)
    status, _, body = await page(web, cookie, "/web/devices")
    token = csrf_of(body)
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": "Mine"}, auth=None,
                                headers={"Cookie": cookie})
    assert status == 403
    status, _, got = await call(web, "PATCH", f"/api/v1/devices/{PHONE}", {"name": "Mine"}, auth=None,
                                headers={"Cookie": cookie, "X-CSRF-Token": token})
    assert status == 200 and got["name"] == "Mine"

    # An IMAP client's entry cannot be renamed or wiped; it can be deleted.
    await web.store.devices.seen(USER, "imap-192.0.2.1", "imap", name="IMAP client at 192.0.2.1")
    status, _, got = await call(web, "PATCH", "/api/v1/devices/imap-192.0.2.1", {"name": "x"})
    assert status == 409 and got["field"] == "name"
    status, _, got = await call(web, "POST", "/api/v1/devices/imap-192.0.2.1/wipe", {})
    assert status == 409
    status, _, got = await call(web, "GET", "/api/v1/devices/imap-192.0.2.1")
    assert got["renamable"] is False and got["syncs"] == ["Mail"]

    status, _, got = await call(web, "DELETE", f"/api/v1/devices/{PHONE}")
    assert status == 204 and got is None
    assert await web.store.devices.load_state(USER, PHONE, "eas:sync") is None
    status, _, got = await call(web, "DELETE", f"/api/v1/devices/{PHONE}")
    assert status == 404 and got["detail"] == "this account has no such device"

    status, _, doc = await call(web, "GET", "/api/v1/openapi.json", auth=None)
    paths = doc["paths"]
    assert set(paths["/api/v1/devices/{device}"]) == {"get", "patch", "delete"}
    assert "post" in paths["/api/v1/devices/{device}/wipe"] and "get" in paths["/api/v1/devices/{device}/log"]
    assert "409" in paths["/api/v1/devices/{device}"]["patch"]["responses"]


@pytest_twisted.ensureDeferred
async def test_another_accounts_device_is_not_found(web):
    await add_phone(web.store, OTHER, "eas-BOBPHONE", agent="Bob-Phone/1")
    cookie = await in_thread(sign_in, web)
    status, _, body = await page(web, cookie, "/web/devices")
    csrf = csrf_of(body)
    assert b"BOBPHONE" not in body
    for path in ("/web/devices/eas-BOBPHONE", "/web/devices/eas-BOBPHONE/delete"):
        status, _, _ = await page(web, cookie, path)
        assert status == 404, path
    for action, fields in (("rename", {"name": "Mine now"}), ("wipe", {"account_only": "0"}),
                           ("delete", {})):
        status, _, _ = await post_form(web, cookie, f"/web/devices/eas-BOBPHONE/{action}",
                                       dict(fields, csrf=csrf))
        assert status == 404, action
    for method, path, body in (("GET", "", None), ("PATCH", "", {"name": "Mine now"}),
                               ("DELETE", "", None), ("POST", "/wipe", {}), ("GET", "/log", None)):
        status, _, got = await call(web, method, f"/api/v1/devices/eas-BOBPHONE{path}", body)
        assert status == 404 and got["status"] == 404, (method, path)
    device = await web.store.devices.get(OTHER, "eas-BOBPHONE")
    assert device.name == "Bob-Phone"
    assert await web.store.devices.load_state(OTHER, "eas-BOBPHONE", "eas:sync") is not None
    assert await web.store.devices.load_state(OTHER, "eas-BOBPHONE", "wipe") is None


@pytest_twisted.ensureDeferred
async def test_a_device_named_script_is_text(web):
    await add_phone(web.store, agent=SCRIPT)
    cookie = await in_thread(sign_in, web)
    csrf = csrf_of((await page(web, cookie, "/web/devices"))[2])
    await post_form(web, cookie, f"/web/devices/{PHONE}/rename", {"csrf": csrf, "name": SCRIPT})
    assert (await web.store.devices.get(USER, PHONE)).name == SCRIPT
    for path in ("/web/devices", f"/web/devices/{PHONE}", f"/web/devices/{PHONE}/delete"):
        status, _, body = await page(web, cookie, path)
        assert status == 200 and b"<script>alert" not in body, path
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
    status, _, got = await call(web, "GET", f"/api/v1/devices/{PHONE}")
    assert got["name"] == SCRIPT and got["user_agent"] == SCRIPT


@pytest_twisted.ensureDeferred
async def test_real_clients_are_listed_with_their_type(web):
    def imap(client_id=None):
        c = imaplib.IMAP4(web.host, web.port("imap"))
        c.login(USER, PASSWORD)
        if client_id:
            typ, _ = c.xatom("ID", client_id)
        c.select("INBOX")
        c.logout()

    def pop3():
        p = poplib.POP3(web.host, web.port("pop3"))
        p.user(USER)
        p.pass_(PASSWORD)
        p.stat()
        p.quit()

    def dav(path):
        conn = http.client.HTTPConnection(web.host, web.port("caldav"), timeout=30)
        conn.request("PROPFIND", path, headers={"Authorization": BASIC, "Depth": "0",
                                                "User-Agent": "DAVx5/4.3 (2023/01/01)"})
        status = conn.getresponse().status
        conn.close()
        return status

    await in_thread(imap)
    await in_thread(imap, '("name" "Thunderbird" "version" "115.3")')
    await in_thread(pop3)
    assert await in_thread(dav, f"/dav/calendars/{USER}/") == 207
    assert await in_thread(dav, f"/dav/addressbooks/{USER}/") == 207

    # DAV records its clients without holding up the answer: wait for the entries.
    for _ in range(100):
        status, _, got = await call(web, "GET", "/api/v1/devices")
        by_type = {}
        for d in got["items"]:
            by_type.setdefault(d["type"], []).append(d)
        if len(by_type) == 4:
            break
        await deferLater(reactor, 0.05, lambda: None)
    assert sorted(by_type) == ["CalDAV", "CardDAV", "IMAP", "POP3"], by_type
    imap_names = sorted(d["name"] for d in by_type["IMAP"])
    assert imap_names == ["IMAP client at 127.0.0.1", "Thunderbird"]
    assert [d["user_agent"] for d in by_type["IMAP"] if d["name"] == "Thunderbird"] == ["Thunderbird/115.3"]
    assert by_type["POP3"][0]["name"] == "POP3 client at 127.0.0.1"
    assert by_type["CalDAV"][0]["name"] == by_type["CardDAV"][0]["name"] == "DAVx5"
    assert by_type["CalDAV"][0]["id"] != by_type["CardDAV"][0]["id"]
    assert {d["syncs"][0] for d in got["items"]} == {"Mail", "Calendars", "Contacts"}
    assert not any(d["renamable"] or d["wipeable"] for d in got["items"])

    cookie = await in_thread(sign_in, web)
    status, _, body = await page(web, cookie, "/web/devices")
    headings = re.findall(rb"<th data-sort=\"(\w+)\"[^>]*>([^<]+)</th>", body)
    assert [h[1] for h in headings] == [b"Name", b"Type", b"Last Sync", b"First Seen", b"Client", b"Syncs"]
    for label in (b"CalDAV", b"CardDAV", b"IMAP", b"POP3"):
        assert b"<td>" + label + b"</td>" in body
    # A DAV entry's page is read-only: no rename form, but it can be deleted.
    caldav = by_type["CalDAV"][0]["id"]
    status, _, body = await page(web, cookie, f"/web/devices/{caldav}")
    assert status == 200 and b"/rename" not in body and b"cannot be renamed" in body
    assert f"/web/devices/{caldav}/delete".encode() in body and b"Remote wipe" not in body


@pytest.fixture
def eas_web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("web", "eas"), SQLITE, tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


@pytest_twisted.ensureDeferred
async def test_a_real_eas_device_its_wipe_and_its_delete(eas_web):
    from tests.protocols.eas.eas_client import AS, PROV, el, ready_device

    web = eas_web
    phone = await in_thread(ready_device, web, "WEBPHONE1")
    inbox = phone.folder_of_type(2)
    collection = await in_thread(phone.sync, inbox, "0")
    key = collection.find(AS, "SyncKey").text

    status, _, got = await call(web, "GET", "/api/v1/devices/eas-WEBPHONE1")
    assert status == 200 and got["type"] == "Exchange ActiveSync" and got["last_sync"]
    assert got["syncs"] == ["Mail: Inbox"]

    # A wipe asked on the web reaches the device's next Provision.
    status, _, got = await call(web, "POST", "/api/v1/devices/eas-WEBPHONE1/wipe", {})
    assert status == 200 and got["account_only"] is False
    provision = el(PROV, "Provision", el(PROV, "Policies", el(PROV, "Policy", el(
        PROV, "PolicyType", text="MS-EAS-Provisioning-WBXML"))))
    status, tree = await in_thread(phone.post, "Provision", provision)
    assert status == 200 and tree.find(PROV, "RemoteWipe") is not None
    report = el(PROV, "Provision", el(PROV, "RemoteWipe", el(PROV, "Status", text="1")))
    await in_thread(phone.post, "Provision", report)
    status, _, got = await call(web, "GET", "/api/v1/devices/eas-WEBPHONE1")
    assert got["wipe"]["acknowledged"] and got["wipe"]["status"] == "1"

    # Deleted: its state is gone, so its next sync starts over.
    status, _, _ = await call(web, "DELETE", "/api/v1/devices/eas-WEBPHONE1")
    assert status == 204
    for state in ("eas:sync", "eas:hierarchy", "eas:policy", "wipe"):
        assert await web.store.devices.load_state(USER, "eas-WEBPHONE1", state) is None
    await in_thread(phone.provision)  # a new device to the server: provisioned again
    status, tree = await in_thread(phone.post, "Sync", el(AS, "Sync", el(AS, "Collections", el(
        AS, "Collection", el(AS, "SyncKey", text=key), el(AS, "CollectionId", text=inbox)))))
    assert status == 200
    assert tree.find(AS, "Collections").find(AS, "Collection").find(AS, "Status").text == "3"
    again = await in_thread(phone.sync, inbox, "0")
    assert again.find(AS, "Status").text == "1"
