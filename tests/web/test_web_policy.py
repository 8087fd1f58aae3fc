"""The protocol policy page and API over real servers: an administrator turns EAS off
for an account, and that account's next EAS request is refused (EAS status 126,
UserDisabledForSync) at once while its IMAP login still works; turning it back on
through the API lets it sync again; bad values change nothing."""

from __future__ import annotations

import base64
import http.client
import imaplib
import json
import re
from urllib.parse import urlencode

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.admin import accounts
from smsync.edge.policy import PROTOCOLS
from smsync.protocols.eas.request import EASRequest, plain_query
from smsync.protocols.eas.wbxml import Element, decode, encode
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread

FORM = "application/x-www-form-urlencoded"
FH = "FolderHierarchy:"


@pytest.fixture
def servers():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("web", "imap", "eas"), SQLITE)))
    pytest_twisted.blockon(ensureDeferred(accounts.set_admin(running.store, USER, True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def request(running, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(running.host, running.port("http"), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def eas_folder_sync(running, user=OTHER) -> str:
    """An EAS FolderSync of a new device: "200 Status N" or "STATUS body"."""
    query, headers = plain_query(EASRequest(command="FolderSync", device_id="policyweb1",
                                            device_type="pytest", user=user, version="14.1"))
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
    status, _, body = request(running, "POST", "/Microsoft-Server-ActiveSync?" + query,
                              encode(Element(FH, "FolderSync", (Element(FH, "SyncKey", (), "0"),))),
                              headers)
    if status != 200:
        return f"{status} {body.decode('utf-8', 'replace')}"
    return f"200 Status {decode(body).find(FH, 'Status').text}"


def imap_login(running, user=OTHER) -> str:
    client = imaplib.IMAP4(running.host, running.port("imap"))
    try:
        client.login(user, PASSWORD)
        client.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)


def admin_form(running, path, fields):
    """Sign in as the administrator, load the policy page, post ``fields`` to ``path``."""
    form = urlencode({"user": USER, "password": PASSWORD}).encode()
    status, headers, _ = request(running, "POST", "/web/signin", form, {"Content-Type": FORM})
    cookie = headers["set-cookie"].split(";")[0]
    _, _, page = request(running, "GET", "/web/admin/policy", headers={"Cookie": cookie})
    csrf = re.search(rb'name="csrf" value="([0-9a-f]+)"', page).group(1).decode()
    body = urlencode([("csrf", csrf)] + list(fields)).encode()
    status, headers, payload = request(running, "POST", path, body, {"Content-Type": FORM, "Cookie": cookie})
    return status, headers, payload.decode("utf-8"), cookie


def api(running, method, path, value=None, user=USER):
    headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}
    body = b""
    if value is not None:
        body = json.dumps(value).encode()
        headers["Content-Type"] = "application/json"
    status, _, payload = request(running, method, path, body, headers)
    return status, json.loads(payload) if payload else None


@pytest_twisted.ensureDeferred
async def test_eas_off_for_an_account_refuses_eas_and_keeps_imap(servers):
    # Allowed: a new device is told to provision (142).
    assert await in_thread(eas_folder_sync, servers) == "200 Status 142"
    everything_but_eas = [("subject", OTHER)] + [("protocols", p) for p in PROTOCOLS if p != "eas"]
    status, headers, _, cookie = await in_thread(admin_form, servers, "/web/admin/policy", everything_but_eas)
    assert status == 303 and headers["location"] == "/web/admin/policy?done=set"
    # At once, not after the policy's few seconds: this process forgot its answers.
    assert await in_thread(eas_folder_sync, servers) == "200 Status 126"
    assert await in_thread(imap_login, servers) == "OK"
    assert await in_thread(eas_folder_sync, servers, USER) == "200 Status 142", "others keep EAS"

    _, _, page = await in_thread(request, servers, "GET", f"/web/admin/policy?subject={OTHER}",
                                 headers={"Cookie": cookie})
    page = page.decode()
    assert f'data-subject="{OTHER}"' in page
    assert re.search(r'id="looked">' + re.escape(OTHER) + r": imap,pop3,submission,dav,ews,syncml", page)

    # The API: what applies, then EAS back on.
    status, applies = await in_thread(api, servers, "GET", f"/api/v1/admin/policy/{OTHER}")
    assert status == 200 and applies["source"] == OTHER and "eas" not in applies["protocols"]
    status, rule = await in_thread(api, servers, "PUT", f"/api/v1/admin/policy/{OTHER}",
                                   {"protocols": ["eas", "imap"]})
    assert status == 200 and rule == {"subject": OTHER, "protocols": ["imap", "eas"]}
    assert await in_thread(eas_folder_sync, servers) == "200 Status 142"
    # A domain rule, and the account's own rule removed: the domain's applies.
    status, _ = await in_thread(api, servers, "PUT", "/api/v1/admin/policy/example.org", {"protocols": ["imap"]})
    assert status == 200
    status, _ = await in_thread(api, servers, "DELETE", f"/api/v1/admin/policy/{OTHER}")
    assert status == 204
    status, applies = await in_thread(api, servers, "GET", f"/api/v1/admin/policy/{OTHER}")
    assert applies == {"subject": OTHER, "protocols": ["imap"], "source": "example.org"}
    assert await in_thread(eas_folder_sync, servers) == "200 Status 126"
    status, _, _, _ = await in_thread(admin_form, servers, "/web/admin/policy/clear", [("subject", "example.org")])
    assert status == 303
    assert await in_thread(eas_folder_sync, servers) == "200 Status 142"
    status, listed = await in_thread(api, servers, "GET", "/api/v1/admin/policy")
    assert listed["items"] == [] and listed["protocols"] == list(PROTOCOLS)


@pytest_twisted.ensureDeferred
async def test_bad_rules_change_nothing(servers):
    for fields, message in [
        ([("subject", OTHER), ("protocols", "imap"), ("protocols", "gopher")], "unknown protocol"),
        ([("subject", "not an address"), ("protocols", "imap")], "neither user@domain nor a domain"),
        ([("subject", ""), ("protocols", "imap")], "enter an address"),
        ([("subject", "@example.org"), ("protocols", "imap")], ""),
    ]:
        status, _, page, _ = await in_thread(admin_form, servers, "/web/admin/policy", fields)
        assert status == 400 and message in page.replace("&#39;", "'") and 'role="alert"' in page, fields
    status, _, page, _ = await in_thread(admin_form, servers, "/web/admin/policy/clear", [("subject", OTHER)])
    assert status == 404 and "has no rule" in page
    for path, value in [(f"/api/v1/admin/policy/{OTHER}", {"protocols": "imap"}),
                        (f"/api/v1/admin/policy/{OTHER}", {"protocols": ["gopher"]}),
                        ("/api/v1/admin/policy/a%20b", {"protocols": []})]:
        status, problem = await in_thread(api, servers, "PUT", path, value)
        assert status == 400 and problem["detail"], value
    status, listed = await in_thread(api, servers, "GET", "/api/v1/admin/policy")
    assert listed["items"] == []
    assert await in_thread(eas_folder_sync, servers) == "200 Status 142"
    # Not an administrator: refused, nothing changes.
    status, problem = await in_thread(api, servers, "PUT", f"/api/v1/admin/policy/{OTHER}", {"protocols": []},
                                      OTHER)
    assert status == 403 and problem["status"] == 403
    assert await in_thread(eas_folder_sync, servers) == "200 Status 142"
