"""Administration over a real server and a real SQLite store: accounts (search and
paging, add, administrator flag, quota, a new password ending the account's sessions,
delete with a confirmation), every devices of every account with filters and bulk
delete, the status page, the same through the API -- and a non-administrator refused
everywhere, bad values refused with a clear message and nothing changed, names shown as
text."""

from __future__ import annotations

import base64
import imaplib
import json
import re
from urllib.parse import quote, urlencode

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.admin import accounts
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread
from tests.web.web_support import FORM, request, sign_in

NEW = "a long new password"


@pytest.fixture
def web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("web", "imap"), SQLITE)))
    pytest_twisted.blockon(ensureDeferred(accounts.set_admin(running.store, USER, True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def basic(user=USER, password=PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Browser:
    """A signed-in browser: GETs and form POSTs carrying the page's CSRF token."""

    def __init__(self, running, user=USER, password=PASSWORD):
        self.running = running
        self.cookie = sign_in(running, user, password)
        self.csrf = None

    def get(self, path):
        status, headers, body = request(self.running, "GET", path, headers={"Cookie": self.cookie})
        found = re.search(rb'name="csrf" value="([0-9a-f]+)"', body)
        if found:
            self.csrf = found.group(1).decode()
        return status, headers, body.decode("utf-8")

    def post(self, path, fields):
        if self.csrf is None:
            self.get("/web/devices")
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        body = urlencode([("csrf", self.csrf)] + pairs).encode()
        status, headers, payload = request(self.running, "POST", path, body,
                                           {"Content-Type": FORM, "Cookie": self.cookie})
        return status, headers, payload.decode("utf-8")


def api(running, method, path, value=None, user=USER, password=PASSWORD):
    headers = basic(user, password)
    body = b""
    if value is not None:
        body = json.dumps(value).encode()
        headers["Content-Type"] = "application/json"
    status, headers, payload = request(running, method, path, body, headers)
    return status, headers, (json.loads(payload) if payload else None)


def imap_works(running, user, password) -> bool:
    c = imaplib.IMAP4(running.host, running.port("imap"))
    try:
        c.login(user, password)
        c.logout()
        return True
    except imaplib.IMAP4.error:
        return False


@pytest_twisted.ensureDeferred
async def test_accounts_pages_add_flag_quota_password_delete(web):
    browser = await in_thread(Browser, web)
    status, _, body = await in_thread(browser.get, "/web/admin/accounts")
    assert status == 200 and USER in body and OTHER in body
    assert 'aria-current="page">Administration' in body

    # Add: bad values are refused with the reason, and nothing is created.
    for fields, message in [
        ({"address": "not-an-address", "password": NEW, "password_again": NEW}, "user@domain"),
        ({"address": "carol@example.org", "password": "short", "password_again": "short"}, "at least 8"),
        ({"address": "carol@example.org", "password": NEW, "password_again": NEW + "x"}, "differ"),
        ({"address": "carol@example.org", "password": NEW, "password_again": NEW, "quota": "lots"},
         "not a size"),
        ({"address": USER, "password": NEW, "password_again": NEW}, "already exists"),
    ]:
        status, _, body = await in_thread(browser.post, "/web/admin/accounts", fields)
        assert status in (400, 409) and message in body, (fields, status)
        assert 'role="alert"' in body
    assert await web.store.accounts.list() == sorted([USER, OTHER])

    status, headers, _ = await in_thread(browser.post, "/web/admin/accounts", {
        "address": "Carol@Example.org", "password": NEW, "password_again": NEW, "quota": "10M",
        "admin": "on"})
    assert status == 303 and headers["location"] == "/web/admin/accounts/carol@example.org?done=added"
    assert await accounts.is_admin(web.store, "carol@example.org")
    assert await accounts.quota_of(web.store, "carol@example.org") == 10 * 1024 * 1024
    assert await in_thread(imap_works, web, "carol@example.org", NEW)

    status, _, body = await in_thread(browser.get, "/web/admin/accounts/carol@example.org?done=added")
    assert status == 200 and "The account was added." in body and "10 MiB" in body

    # Flag and quota.
    status, _, _ = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/admin", {"admin": "off"})
    assert status == 303 and not await accounts.is_admin(web.store, "carol@example.org")
    status, _, body = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/quota", {"quota": "-5"})
    assert status == 400 and "at least one octet" in body
    assert await accounts.quota_of(web.store, "carol@example.org") == 10 * 1024 * 1024
    status, _, _ = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/quota", {"quota": ""})
    assert status == 303 and await accounts.quota_of(web.store, "carol@example.org") is None
    # An administrator does not take away their own flag, nor delete themselves.
    status, _, body = await in_thread(browser.post, f"/web/admin/accounts/{USER}/admin", {"admin": "off"})
    assert status == 400 and "your own administrator flag" in body and await accounts.is_admin(web.store, USER)

    # A new password: the old one stops working and the account's sessions end.
    carol = await in_thread(Browser, web, "carol@example.org", NEW)
    status, _, body = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/password",
                                      {"password": "carol@example.org", "password_again": "carol@example.org"})
    assert status == 400 and "must not be your address" in body.replace("&#39;", "'")
    assert await in_thread(imap_works, web, "carol@example.org", NEW)
    status, _, _ = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/password",
                                   {"password": "another long one", "password_again": "another long one"})
    assert status == 303
    assert not await in_thread(imap_works, web, "carol@example.org", NEW)
    assert await in_thread(imap_works, web, "carol@example.org", "another long one")
    status, _, _ = await in_thread(carol.get, "/web/devices")
    assert status == 303, "carol's session ended"

    # Delete: without the confirmation nothing goes; with it, everything does.
    status, _, body = await in_thread(browser.get, "/web/admin/accounts/carol@example.org")
    assert "everything it holds" in body and "data-confirm=" in body
    status, _, body = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/delete", {})
    assert status == 400 and "confirm" in body
    assert await accounts.exists(web.store, "carol@example.org")
    status, headers, _ = await in_thread(browser.post, "/web/admin/accounts/carol@example.org/delete",
                                         {"confirm": "yes"})
    assert status == 303 and not await accounts.exists(web.store, "carol@example.org")
    status, _, body = await in_thread(browser.get, "/web/admin/accounts/carol@example.org")
    assert status == 404
    status, _, body = await in_thread(browser.post, f"/web/admin/accounts/{USER}/delete", {"confirm": "yes"})
    assert status == 400 and await accounts.exists(web.store, USER)


@pytest_twisted.ensureDeferred
async def test_search_and_paging(web):
    from smsync.testing.base import HASH_1

    for n in range(120):
        await web.store.accounts.add(f"user{n:03d}@paging.example", HASH_1)
    browser = await in_thread(Browser, web)
    status, _, body = await in_thread(browser.get, "/web/admin/accounts?search=paging.example")
    assert status == 200 and body.count('data-account="') == 50
    next_url = re.search(r'href="([^"]+)" rel="next"', body).group(1).replace("&amp;", "&")
    status, _, body = await in_thread(browser.get, next_url)
    assert "user050@paging.example" in body and "user049@paging.example" not in body
    status, _, body = await in_thread(browser.get, "/web/admin/accounts?search=user11&match=prefix")
    assert body.count('data-account="') == 10
    # The API walks every page once.
    seen, after = [], ""
    while True:
        status, _, page = await in_thread(api, web, "GET", "/api/v1/admin/accounts?search=paging&limit=40"
                                          + (f"&after={quote(after)}" if after else ""))
        assert status == 200
        seen += [a["name"] for a in page["items"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == [f"user{n:03d}@paging.example" for n in range(120)]
    assert page["total"] == 122
    for query in ("limit=0", "limit=x", "limit=1000", "prefix=maybe"):
        status, headers, problem = await in_thread(api, web, "GET", "/api/v1/admin/accounts?" + query)
        assert status == 400 and headers["content-type"] == "application/problem+json", query
        assert problem["field"] in ("limit", "prefix")


@pytest_twisted.ensureDeferred
async def test_accounts_api(web):
    status, headers, made = await in_thread(api, web, "POST", "/api/v1/admin/accounts",
                                            {"address": "dave@example.org", "password": NEW, "quota": "1G"})
    assert status == 201 and made == {"name": "dave@example.org", "admin": False,
                                      "quota": 1024 ** 3, "used": 0}
    assert headers["location"] == "/api/v1/admin/accounts/dave@example.org"
    for value, field in [({"address": "x", "password": NEW}, None),
                         ({"address": "eve@example.org", "password": 5}, "password"),
                         ({"address": "eve@example.org", "password": NEW, "admin": "yes"}, "admin"),
                         ({"address": "eve@example.org", "password": NEW, "quota": -1}, "quota")]:
        status, _, problem = await in_thread(api, web, "POST", "/api/v1/admin/accounts", value)
        assert status == 400 and problem["detail"], value
        if field:
            assert problem["field"] == field
    assert not await accounts.exists(web.store, "eve@example.org")
    # A change is checked whole before anything changes.
    status, _, problem = await in_thread(api, web, "PATCH", "/api/v1/admin/accounts/dave@example.org",
                                         {"admin": True, "quota": "twelve"})
    assert status == 400 and problem["field"] == "quota"
    assert not await accounts.is_admin(web.store, "dave@example.org")
    status, _, changed = await in_thread(api, web, "PATCH", "/api/v1/admin/accounts/dave@example.org",
                                         {"admin": True, "quota": None, "password": "yet another one"})
    assert status == 200 and changed["admin"] is True and changed["quota"] is None
    assert await in_thread(imap_works, web, "dave@example.org", "yet another one")
    status, _, problem = await in_thread(api, web, "PATCH", "/api/v1/admin/accounts/ghost@example.org",
                                         {"admin": True})
    assert status == 404
    status, _, _ = await in_thread(api, web, "DELETE", "/api/v1/admin/accounts/dave@example.org")
    assert status == 204 and not await accounts.exists(web.store, "dave@example.org")
    status, _, _ = await in_thread(api, web, "DELETE", "/api/v1/admin/accounts/dave@example.org")
    assert status == 404


@pytest_twisted.ensureDeferred
async def test_a_user_is_refused_everywhere(web):
    paths = ["/api/v1/admin/accounts", "/api/v1/admin/accounts/" + USER, "/api/v1/admin/policy",
             "/api/v1/admin/devices", "/api/v1/admin/status"]
    for path in paths:
        status, headers, problem = await in_thread(api, web, "GET", path, user=OTHER)
        assert status == 403 and headers["content-type"] == "application/problem+json", path
        assert problem["title"] == "Forbidden"
    status, _, _ = await in_thread(api, web, "POST", "/api/v1/admin/accounts",
                                   {"address": "mallory@example.org", "password": NEW}, user=OTHER)
    assert status == 403 and not await accounts.exists(web.store, "mallory@example.org")
    status, _, _ = await in_thread(api, web, "DELETE", f"/api/v1/admin/accounts/{USER}", user=OTHER)
    assert status == 403 and await accounts.exists(web.store, USER)
    status, _, _ = await in_thread(api, web, "PUT", f"/api/v1/admin/policy/{USER}", {"protocols": []},
                                   user=OTHER)
    assert status == 403
    browser = await in_thread(Browser, web, OTHER)
    for path in ("/web/admin/accounts", "/web/admin/policy", "/web/admin/devices", "/web/admin/status",
                 f"/web/admin/accounts/{USER}"):
        status, _, body = await in_thread(browser.get, path)
        assert status == 403 and "for administrators" in body, path
    status, _, body = await in_thread(browser.get, "/web/devices")
    assert "Administration" not in body
    status, _, _ = await in_thread(browser.post, f"/web/admin/accounts/{OTHER}/admin", {"admin": "on"})
    assert status == 403 and not await accounts.is_admin(web.store, OTHER)


@pytest_twisted.ensureDeferred
async def test_all_devices_filters_bulk_delete_and_escaping(web):

    devices = web.store.devices
    await devices.seen(USER, "PHONE1", "eas", "Apple-iPhone/1", "<script>alert(1)</script>")
    await devices.seen(OTHER, "PHONE2", "eas", "Android/1", "Bob's phone")
    await devices.seen(OTHER, "imap:1", "imap", "Thunderbird", "Thunderbird")
    await devices.seen(USER, "never", "eas", None, "Never synced", success=False)
    browser = await in_thread(Browser, web)
    status, _, body = await in_thread(browser.get, "/web/admin/devices")
    assert status == 200 and body.count('name="device" value=') == 4
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert body.index("Never synced") < body.index("Thunderbird")
    status, _, body = await in_thread(browser.get, "/web/admin/devices?protocol=imap")
    assert body.count('name="device" value=') == 1 and "Thunderbird" in body
    status, _, body = await in_thread(browser.get, "/web/admin/devices?older_than_days=30")
    assert body.count('name="device" value=') == 1 and "Never synced" in body
    for query, message in (("protocol=gopher", "unknown protocol"), ("older_than_days=-3", "not a whole number"),
                           ("older_than_days=99999", "from 0 to"), ("after=bogus", "cursor")):
        status, _, body = await in_thread(browser.get, "/web/admin/devices?" + query)
        assert status == 400 and message in body, query
    status, _, body = await in_thread(api, web, "GET", "/api/v1/admin/devices?protocol=eas&limit=1")
    assert status == 200 and len(body["items"]) == 1 and body["next"]
    assert body["items"][0]["account"] == USER and body["items"][0]["id"] == "never"

    # Bulk delete: needs the confirmation and real device names; then they go.
    status, _, body = await in_thread(browser.post, "/web/admin/devices/delete",
                                      [("device", f"{OTHER}/PHONE2"), ("device", f"{USER}/PHONE1")])
    assert status == 400 and "confirm" in body
    status, _, body = await in_thread(browser.post, "/web/admin/devices/delete",
                                      [("device", "nonsense"), ("confirm", "yes")])
    assert status == 400 and "does not name a device" in body
    assert len(await devices.list(OTHER)) == 2
    status, headers, _ = await in_thread(browser.post, "/web/admin/devices/delete",
                                         [("device", f"{OTHER}/PHONE2"), ("device", f"{USER}/PHONE1"),
                                          ("confirm", "yes")])
    assert status == 303 and headers["location"] == "/web/admin/devices?deleted=2"
    assert [d.device_id for d in await devices.list(OTHER)] == ["imap:1"]
    assert [d.device_id for d in await devices.list(USER)] == ["never"]
    status, _, result = await in_thread(api, web, "POST", "/api/v1/admin/devices/delete",
                                        {"devices": [f"{USER}/never", f"{USER}/gone"]})
    assert status == 200 and result == {"deleted": 1, "missing": [f"{USER}/gone"]}


@pytest_twisted.ensureDeferred
async def test_status(web):
    await web.store.devices.seen(USER, "PHONE1", "eas", "Apple-iPhone/1")
    browser = await in_thread(Browser, web)
    status, _, body = await in_thread(browser.get, "/web/admin/status")
    assert status == 200 and 'id="accounts-count">2<' in body and 'id="devices-count">1<' in body
    assert f"127.0.0.1:{web.port('imap')}" in body and f"127.0.0.1:{web.port('http')}" in body
    status, _, doc = await in_thread(api, web, "GET", "/api/v1/admin/status")
    assert status == 200 and doc["backend"] == "sqlite" and doc["accounts"] == 2 and doc["devices"] == 1
    assert doc["listening"]["imap"] == [f"127.0.0.1:{web.port('imap')}"]
    assert doc["uptime_seconds"] >= 0 and doc["version"]


def test_store_uri_shown_without_password():
    from smsync.admin.status import safe_uri

    assert safe_uri("postgresql://smsync:s3cret@db.example:5432/mail?sslmode=require&password=x") == \
        "postgresql://smsync@db.example:5432/mail?sslmode=require&password=***"
    assert safe_uri("sqlite:///var/lib/smsync") == "sqlite:///var/lib/smsync"
    assert "s3cret" not in safe_uri("postgresql://:s3cret@db/mail")
