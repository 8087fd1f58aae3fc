"""Account settings over a real server and a real SQLite store: changing the password
(refusals change nothing; success ends the other sessions, keeps this one, and the old
password stops working over IMAP and Basic at once), CSRF, the connection settings with
the real ports of what runs, and the Apple configuration profile."""

from __future__ import annotations

import base64
import imaplib
import json
import plistlib
import re
from urllib.parse import urlencode

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread
from tests.web.web_support import FORM, request, sign_in

NEW = "a new and longer password"
PROTOCOLS = ("web", "imap", "submission", "caldav", "carddav", "eas")


@pytest.fixture
def web():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(PROTOCOLS, SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def imap_login(running, password, user=USER) -> bool:
    c = imaplib.IMAP4(running.host, running.port("imap"))
    try:
        c.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            c.logout()
        except Exception:
            pass
    return True


def basic(user, password) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def csrf_of(body: bytes) -> str:
    return re.search(rb'name="csrf" value="([0-9a-f]+)"', body).group(1).decode()


def change(running, cookie, csrf, current, new, again=None):
    form = urlencode({"csrf": csrf, "current_password": current, "new_password": new,
                      "new_password_again": new if again is None else again}).encode()
    return request(running, "POST", "/web/settings/password", form, {"Content-Type": FORM, "Cookie": cookie})


@pytest_twisted.ensureDeferred
async def test_change_password_page(web, log_capture):
    cookie = await in_thread(sign_in, web)
    other = await in_thread(sign_in, web)
    status, _, body = await in_thread(request, web, "GET", "/web/settings", headers={"Cookie": cookie})
    assert status == 200 and b"Change password" in body
    csrf = csrf_of(body)
    # A Basic client verified with the old password (remembered by the edge's cache).
    status, _, _ = await in_thread(request, web, "GET", "/api/v1/me", headers=basic(USER, PASSWORD))
    assert status == 200

    # Refusals: each shows the form again with what is wrong, and changes nothing.
    status, _, body = await in_thread(change, web, cookie, "wrong", USER, "wrong password", NEW)
    assert status == 403 and b"the form has expired" in body
    status, _, body = await in_thread(change, web, cookie, csrf, "not the password", NEW)
    assert status == 403 and b"The current password is wrong." in body
    assert b'name="current_password" autocomplete="current-password" required aria-invalid="true"' in body
    # ... a failed login like any other: slowed, and logged for fail2ban.
    assert any(f"smsync: web: authentication failed for {USER} from 127.0.0.1" in line
               for line in log_capture.lines("smsync.client"))
    status, _, body = await in_thread(change, web, cookie, csrf, PASSWORD, NEW, NEW + "!")
    assert status == 400 and b"The two new passwords differ" in body
    status, _, body = await in_thread(change, web, cookie, csrf, PASSWORD, "short")
    assert status == 400 and b"at least 8 characters" in body
    status, _, body = await in_thread(change, web, cookie, csrf, PASSWORD, USER.upper())
    assert status == 400 and b"must not be your address" in body
    status, _, body = await in_thread(change, web, cookie, csrf, PASSWORD, PASSWORD)
    assert status == 400 and b"must differ from the current one" in body
    assert await in_thread(imap_login, web, PASSWORD)

    status, headers, _ = await in_thread(change, web, cookie, csrf, PASSWORD, NEW)
    assert status == 303 and headers["location"] == "/web/settings?done=password"
    # This session goes on; the other one has ended.
    status, _, body = await in_thread(request, web, "GET", "/web/settings?done=password",
                                      headers={"Cookie": cookie})
    assert status == 200 and b"Your password was changed" in body
    status, headers, _ = await in_thread(request, web, "GET", "/web/settings", headers={"Cookie": other})
    assert status == 303 and headers["location"].startswith("/web/signin")
    # The old password stops working at once, over IMAP and over Basic (no cached check).
    assert not await in_thread(imap_login, web, PASSWORD)
    assert await in_thread(imap_login, web, NEW)
    status, _, _ = await in_thread(request, web, "GET", "/api/v1/me", headers=basic(USER, PASSWORD))
    assert status == 401
    status, _, _ = await in_thread(request, web, "GET", "/api/v1/me", headers=basic(USER, NEW))
    assert status == 200
    # The other account is untouched.
    assert await in_thread(imap_login, web, PASSWORD, OTHER)


@pytest_twisted.ensureDeferred
async def test_change_password_api(web):
    cookie = await in_thread(sign_in, web, OTHER)
    status, _, body = await in_thread(request, web, "GET", "/web/settings", headers={"Cookie": cookie})
    csrf = csrf_of(body)
    headers = {"Content-Type": "application/json", "Cookie": cookie}
    payload = json.dumps({"current_password": PASSWORD, "new_password": NEW}).encode()
    # Through the cookie, a write needs the session's token.
    status, _, body = await in_thread(request, web, "POST", "/api/v1/me/password", payload, headers)
    assert status == 403 and json.loads(body)["status"] == 403
    headers["X-CSRF-Token"] = csrf
    wrong = json.dumps({"current_password": "nope", "new_password": NEW}).encode()
    status, _, body = await in_thread(request, web, "POST", "/api/v1/me/password", wrong, headers)
    assert status == 403 and json.loads(body)["field"] == "current_password"
    differ = json.dumps({"current_password": PASSWORD, "new_password": NEW,
                         "new_password_again": "else"}).encode()
    status, _, body = await in_thread(request, web, "POST", "/api/v1/me/password", differ, headers)
    assert status == 400 and json.loads(body)["field"] == "new_password_again"
    status, _, body = await in_thread(request, web, "POST", "/api/v1/me/password",
                                      json.dumps({"current_password": PASSWORD, "new_password": 5}).encode(),
                                      headers)
    assert status == 400
    assert await in_thread(imap_login, web, PASSWORD, OTHER)
    status, _, _ = await in_thread(request, web, "POST", "/api/v1/me/password", payload, headers)
    assert status == 204
    assert not await in_thread(imap_login, web, PASSWORD, OTHER)
    assert await in_thread(imap_login, web, NEW, OTHER)
    # Back again with Basic (a script's way: no token needed).
    back = json.dumps({"current_password": NEW, "new_password": PASSWORD}).encode()
    status, _, _ = await in_thread(request, web, "POST", "/api/v1/me/password", back,
                                   {"Content-Type": "application/json", **basic(OTHER, NEW)})
    assert status == 204
    assert await in_thread(imap_login, web, PASSWORD, OTHER)
    assert await in_thread(imap_login, web, PASSWORD, USER)


@pytest_twisted.ensureDeferred
async def test_connection_settings(web):
    status, _, body = await in_thread(request, web, "GET", "/api/v1/me", headers=basic(USER, PASSWORD))
    assert status == 200 and json.loads(body) == {"account": USER, "admin": False}
    status, _, body = await in_thread(request, web, "GET", "/api/v1/me/connection",
                                      headers=basic(USER, PASSWORD))
    assert status == 200
    settings = json.loads(body)
    http = web.port("http")
    assert settings["host"] == "127.0.0.1" and settings["username"] == USER
    services = {s["protocol"]: s for s in settings["services"]}
    assert list(services) == ["imap", "submission", "caldav", "carddav", "eas"]
    assert services["imap"]["port"] == web.port("imap") and services["imap"]["security"] == "none"
    assert services["submission"]["port"] == web.port("submission")
    assert services["caldav"]["url"] == f"http://127.0.0.1:{http}/dav/principals/{USER}/"
    assert services["eas"]["url"] == f"http://127.0.0.1:{http}/Microsoft-Server-ActiveSync"
    assert settings["autodiscover"] == {
        "autodiscover": f"http://127.0.0.1:{http}/autodiscover/autodiscover.xml",
        "caldav": f"http://127.0.0.1:{http}/.well-known/caldav",
        "carddav": f"http://127.0.0.1:{http}/.well-known/carddav"}

    # The page shows the same, every value with a copy button naming an element there.
    cookie = await in_thread(sign_in, web)
    status, _, body = await in_thread(request, web, "GET", "/web/settings", headers={"Cookie": cookie})
    page = body.decode()
    assert f'<code id="imap-port">{web.port("imap")}</code>' in page
    assert f'<code id="autodiscover-url">http://127.0.0.1:{http}/autodiscover/autodiscover.xml</code>' in page
    assert "POP3" not in page and "SyncML" not in page
    copies = re.findall(r'data-copy="([^"]+)"', page)
    assert len(copies) >= 15 and all(f'id="{c}"' in page for c in copies)
    assert "set up this account there: Mail, Calendars (CalDAV), Contacts (CardDAV), Exchange ActiveSync." in page


@pytest_twisted.ensureDeferred
async def test_profile(web):
    cookie = await in_thread(sign_in, web)
    path = "/web/settings/profile.mobileconfig"
    status, headers, body = await in_thread(request, web, "GET", path, headers={"Cookie": cookie})
    assert status == 200 and headers["content-type"] == "application/x-apple-aspen-config"
    assert "attachment" in headers["content-disposition"]
    profile = plistlib.loads(body)
    assert profile["PayloadType"] == "Configuration"
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(payloads) == {"com.apple.mail.managed", "com.apple.caldav.account",
                             "com.apple.carddav.account", "com.apple.eas.account"}
    mail = payloads["com.apple.mail.managed"]
    assert mail["EmailAccountType"] == "EmailTypeIMAP" and mail["EmailAddress"] == USER
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"],
            mail["IncomingMailServerUseSSL"], mail["IncomingMailServerUsername"]) == (
        "127.0.0.1", web.port("imap"), False, USER)
    assert (mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"],
            mail["OutgoingMailServerUsername"]) == ("127.0.0.1", web.port("submission"), USER)
    http = web.port("http")
    for kind, prefix in (("caldav", "CalDAV"), ("carddav", "CardDAV")):
        dav = payloads[f"com.apple.{kind}.account"]
        assert (dav[f"{prefix}HostName"], dav[f"{prefix}Port"], dav[f"{prefix}UseSSL"],
                dav[f"{prefix}Username"]) == ("127.0.0.1", http, False, USER)
        assert dav[f"{prefix}PrincipalURL"] == f"http://127.0.0.1:{http}/dav/principals/{USER}/"
    eas = payloads["com.apple.eas.account"]
    assert (eas["Host"], eas["SSL"], eas["UserName"]) == (f"127.0.0.1:{http}", False, USER)
    keys = {k for p in payloads.values() for k in p}
    assert not {k for k in keys if k.endswith("Password") and "Same" not in k} and PASSWORD.encode() not in body
    # UUIDs are the account's own, the same on every download, distinct per payload.
    _, _, again = await in_thread(request, web, "GET", path, headers={"Cookie": cookie})
    uuids = [p["PayloadUUID"] for p in [profile, *profile["PayloadContent"]]]
    assert uuids == [p["PayloadUUID"] for p in [plistlib.loads(again), *plistlib.loads(again)["PayloadContent"]]]
    assert len(set(uuids)) == len(uuids)
    assert all(re.fullmatch(r"[a-z0-9.-]+", p["PayloadIdentifier"]) for p in [profile, *payloads.values()])
    other = await in_thread(sign_in, web, OTHER)
    _, _, theirs = await in_thread(request, web, "GET", path, headers={"Cookie": other})
    assert plistlib.loads(theirs)["PayloadUUID"] != profile["PayloadUUID"]
    # Not signed in: no profile.
    status, _, _ = await in_thread(request, web, "GET", path)
    assert status == 303


@pytest_twisted.ensureDeferred
async def test_connection_settings_under_tls():
    running = await RunningServers.start(("web", "imap", "caldav", "eas"), SQLITE, tls=True)
    try:
        status, _, body = await in_thread(request, running, "GET", "/api/v1/me/connection",
                                          headers=basic(USER, PASSWORD))
        assert status == 200
        services = {s["protocol"]: s for s in json.loads(body)["services"]}
        assert (services["imap"]["port"], services["imap"]["security"]) == (running.port("imap", tls=True), "tls")
        https = running.port("http", tls=True)
        assert services["eas"]["url"] == f"https://127.0.0.1:{https}/Microsoft-Server-ActiveSync"
        cookie = await in_thread(sign_in, running)
        _, _, body = await in_thread(request, running, "GET", "/web/settings/profile.mobileconfig",
                                     headers={"Cookie": cookie})
        payloads = {p["PayloadType"]: p for p in plistlib.loads(body)["PayloadContent"]}
        # No submission here: no half mail account.
        assert set(payloads) == {"com.apple.caldav.account", "com.apple.eas.account"}
        assert payloads["com.apple.caldav.account"]["CalDAVUseSSL"] is True
        assert payloads["com.apple.eas.account"]["Host"] == f"127.0.0.1:{https}"
    finally:
        await running.stop()


def test_host_clients_are_told():
    from smsync.config import Config
    from smsync.testing.servers import config_with
    from smsync.web.connection import browser_host, server_host

    assert browser_host("Mail.Example.ORG:8443") == "mail.example.org"
    assert browser_host("mail.example.org") == "mail.example.org"
    assert browser_host("[2001:db8::1]:8080") == "2001:db8::1"
    assert browser_host("<script>") is None and browser_host("") is None and browser_host(None) is None
    named = config_with(Config(), delivery={"hostname": "sync.example.org"})
    assert server_host(named, "127.0.0.1:8080") == "sync.example.org"
    assert server_host(Config(), "127.0.0.1:8080") == "127.0.0.1"


def test_starttls_and_what_runs():
    from types import SimpleNamespace

    from smsync.config import Config
    from smsync.edge.listening import Listening
    from smsync.web.connection import connection_settings

    class Port:
        def __init__(self, port):
            self.port = port

        def getHost(self):
            return SimpleNamespace(host="0.0.0.0", port=self.port)

    listening = Listening()
    listening.add_port("imap", Port(143))
    listening.add_port("pop3", Port(110))
    listening.add_port("http", Port(80))
    listening.serving_http(["syncml", "web"])
    edge = SimpleNamespace(config=Config(), listening=listening, tls=object())
    settings = connection_settings(edge, USER, "sync.example.org")
    assert [(s.protocol, s.port, s.security) for s in settings.services] == [
        ("imap", 143, "starttls"), ("pop3", 110, "starttls"), ("syncml", 80, "none")]
    assert settings.get("syncml").url == "http://sync.example.org/syncml"
    assert settings.autodiscover.as_json() == {"autodiscover": None, "caldav": None, "carddav": None}
    # Without a certificate, STARTTLS is not offered.
    plain = connection_settings(SimpleNamespace(config=Config(), listening=listening, tls=None), USER, None)
    assert plain.get("imap").security == "none"
