"""The web interface's spine over a real server and a real SQLite store: sign in with
the form, see the devices page, the API with the cookie and with Basic, CSRF and
security headers, sign out."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread
from tests.web.web_support import request


@pytest.fixture
def web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("web", "imap"), SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def sign_in(running, user=USER, password=PASSWORD):
    form = urlencode({"user": user, "password": password, "next": "/web/devices"}).encode()
    status, headers, _ = request(running, "POST", "/web/signin", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, status
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return cookie.split(";")[0]


@pytest_twisted.ensureDeferred
async def test_sign_in_devices_api_and_sign_out(web):
    # Not signed in: pages send to the form, the API asks for Basic.
    status, headers, _ = await in_thread(request, web, "GET", "/web/devices")
    assert status == 303 and headers["location"].startswith("/web/signin")
    # The page asked for comes back after signing in, its path quoted in the link.
    status, headers, _ = await in_thread(request, web, "GET", "/web/devices/a&next=b")
    assert status == 303 and headers["location"] == "/web/signin?next=/web/devices/a%26next%3Db"
    status, headers, body = await in_thread(request, web, "GET", "/api/v1/devices")
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert headers["content-type"] == "application/problem+json"
    # A wrong password shows the form again, and is logged as every failed login is.
    form = urlencode({"user": USER, "password": "wrong"}).encode()
    status, _, body = await in_thread(request, web, "POST", "/web/signin", form,
                                      {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and b"Wrong address or password" in body

    # An IMAP client shows up in the list.
    import imaplib

    def imap_login():
        c = imaplib.IMAP4(web.host, web.port("imap"))
        c.login(USER, PASSWORD)
        c.logout()

    await in_thread(imap_login)
    cookie = await in_thread(sign_in, web)
    status, headers, body = await in_thread(request, web, "GET", "/web/devices", headers={"Cookie": cookie})
    assert status == 200 and b"IMAP" in body
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    csrf = re.search(rb'name="csrf" value="([0-9a-f]+)"', body).group(1).decode()

    status, _, body = await in_thread(request, web, "GET", "/api/v1/devices", headers={"Cookie": cookie})
    assert status == 200 and [d["protocol"] for d in json.loads(body)["items"]] == ["imap"]
    basic = "Basic " + base64.b64encode(f"{OTHER}:{PASSWORD}".encode()).decode()
    status, _, body = await in_thread(request, web, "GET", "/api/v1/devices", headers={"Authorization": basic})
    assert status == 200 and json.loads(body)["items"] == []

    # Signing out needs the form's token; without it nothing happens.
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    status, _, _ = await in_thread(request, web, "POST", "/web/signout", b"csrf=wrong", form)
    assert status == 403
    status, _, _ = await in_thread(request, web, "GET", "/web/devices", headers={"Cookie": cookie})
    assert status == 200
    status, _, _ = await in_thread(request, web, "POST", "/web/signout", f"csrf={csrf}".encode(), form)
    assert status == 303
    status, headers, _ = await in_thread(request, web, "GET", "/web/devices", headers={"Cookie": cookie})
    assert status == 303


@pytest_twisted.ensureDeferred
async def test_openapi_document_lists_the_calls(web):
    status, _, body = await in_thread(request, web, "GET", "/api/v1/openapi.json")
    assert status == 200
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.") and "/api/v1/devices" in doc["paths"]


_TIMING = re.compile(r"^app;dur=(\d+\.\d\d)$")


@pytest_twisted.ensureDeferred
async def test_every_answer_says_its_server_time(web):
    # Server-Timing (what benchmarks/bench_web.py reads): pages, API calls, refusals and
    # redirects alike, the server's own milliseconds -- never more than the round trip.
    import time

    cookie = await in_thread(sign_in, web)
    for method, path, headers in [("GET", "/web/signin", {}), ("GET", "/web/devices", {}),
                                  ("GET", "/web/devices", {"Cookie": cookie}),
                                  ("GET", "/api/v1/devices", {"Cookie": cookie}),
                                  ("GET", "/api/v1/devices", {}), ("GET", "/web/no-such-page", {}),
                                  ("DELETE", "/web/devices", {"Cookie": cookie})]:
        began = time.perf_counter()
        status, answer, _ = await in_thread(request, web, method, path, headers=headers)
        round_trip = (time.perf_counter() - began) * 1000
        found = _TIMING.match(answer.get("server-timing", ""))
        assert found, (method, path, status, answer.get("server-timing"))
        assert 0 <= float(found.group(1)) <= round_trip, (path, found.group(1), round_trip)
