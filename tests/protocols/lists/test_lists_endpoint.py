"""The Lists service endpoint over raw SOAP: the anonymous probe and logins, the paths
Outlook posts to, SOAP 1.1 and 1.2, the service's own faults for what it refuses and
for what is not a request, and another account's list GUID never reaching its data."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.lists import ids, soap
from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.lists.lists_support import WHEN, batch, call, method, post, results_of, rows_of


async def guid_of(server, name: str = "calendar", user: str = USER) -> str:
    collections = await server.collections(user)
    info = await (await collections.collection(name)).info()
    return ids.braced(ids.list_guid(user, info.id))


def get_list(guid: str) -> bytes:
    return soap.request_envelope("GetList", {"listName": guid})


@pytest_twisted.ensureDeferred
async def test_an_anonymous_probe_gets_a_basic_challenge(server, log_capture):
    port = server.port("http")
    guid = await guid_of(server)
    status, headers, _ = await in_thread(post, port, get_list(guid), user=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    status, _, _ = await in_thread(post, port, get_list(guid), password="wrong")
    assert status == 401
    assert any("smsync: lists: authentication failed for alice@example.org from 127.0.0.1" in line
               for line in log_capture.lines("smsync.client"))
    # The site's service, below a list's own URL too, in any case; nothing else.
    for path in ("/lists/_vti_bin/Lists.asmx", "/lists/_vti_bin/lists.asmx",
                 "/Lists/_VTI_BIN/LISTS.ASMX", "/lists/Lists/calendar/_vti_bin/Lists.asmx"):
        status, headers, payload = await in_thread(post, port, get_list(guid), path=path)
        assert status == 200, (path, payload[:300])
        assert headers["Content-Type"].startswith("text/xml")
        assert soap.read_response(payload).result.get("ID") == guid
    status, _, _ = await in_thread(post, port, get_list(guid), path="/lists/_vti_bin/Webs.asmx")
    assert status == 404
    status, headers, _ = await in_thread(post, port, b"", method="GET")
    assert status == 405 and headers["Allow"] == "POST"


@pytest_twisted.ensureDeferred
async def test_soap_12_is_answered_in_soap_12(server):
    port = server.port("http")
    guid = await guid_of(server, "tasks")
    body = soap.request_envelope("GetList", {"listName": guid}, soap.VERSION_12)
    status, headers, payload = await in_thread(post, port, body, soap12=True)
    assert status == 200 and headers["Content-Type"].startswith("application/soap+xml")
    assert payload.count(soap.SOAP12.encode()) == 1 and soap.SOAP11.encode() not in payload
    result = soap.read_response(payload).result
    assert result.get("ServerTemplate") == "107"
    # A fault too.
    body = soap.request_envelope("GetList", {"listName": "{00000000-0000-0000-0000-000000000000}"},
                                 soap.VERSION_12)
    status, headers, payload = await in_thread(post, port, body, soap12=True)
    answer = soap.read_response(payload)
    assert status == 500 and headers["Content-Type"].startswith("application/soap+xml")
    assert (answer.fault_code, answer.error_code) == ("soap:Receiver", "0x82000006")


@pytest_twisted.ensureDeferred
async def test_each_list_type_has_its_template_and_schema(server):
    port = server.port("http")
    for name, template, field in (("calendar", "106", "Title"), ("contacts", "105", "Title"),
                                  ("tasks", "107", "Title")):
        guid = await guid_of(server, name)
        result = (await in_thread(call, port, "GetList", {"listName": guid})).result
        assert result.get("ServerTemplate") == template and result.get("Name") == guid
        fields = {f.get("Name"): f for f in result.iter(soap.sp("Field"))}
        for common in ("ID", "owshiddenversion", "ContentTypeId", field):
            assert common in fields, (name, common)
        assert fields["ID"].get("ID") == "{1d22ea11-1e32-424e-89ab-9fedbadb6ce1}"
        assert result.findtext(f"{soap.sp('ServerSettings')}/{soap.sp('ServerVersion')}").startswith("12.")
    # The list's title finds it too (MS-LISTSWS: a GUID, else the title).
    result = (await in_thread(call, port, "GetList", {"listName": "Calendar"})).result
    assert result.get("ID") == await guid_of(server)
    collection = await in_thread(call, port, "GetListCollection", {})
    assert sorted(node.get("ServerTemplate") for node in collection.result.iter(soap.sp("List"))) \
        == ["105", "106", "107"]


@pytest_twisted.ensureDeferred
async def test_what_is_not_a_request_is_a_fault_and_the_server_lives_on(server, log_capture):
    port = server.port("http")
    guid = await guid_of(server)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&b;</s:Body></s:Envelope>')
    deep = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            b'<GetList xmlns="http://schemas.microsoft.com/sharepoint/soap/">' + b"<a>" * 5000
            + b"</GetList></s:Body></s:Envelope>")
    for body in (b"", b"<not xml", bomb, deep, b"<a/>",
                 b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>'):
        status, _, payload = await in_thread(post, port, body)
        assert status == 500, body[:40]
        answer = soap.read_response(payload)
        assert answer.fault_code == "soap:Client" and answer.error_string
    answer = await in_thread(call, port, "NoSuchOperation", {"listName": guid})
    assert answer.fault_code == "soap:Client"
    # The service's own fault for a list it does not have (MS-LISTSWS 3.1.4.15).
    for name in ("{12345678-1234-1234-1234-123456789012}", "no such list", ""):
        answer = await in_thread(call, port, "GetList", {"listName": name})
        assert (answer.fault_code, answer.error_code) == ("soap:Server", "0x82000006")
    assert any("fault 0x82000006" in line for line in log_capture.lines("smsync.lists"))
    answer = await in_thread(call, port, "GetList", {"listName": guid})
    assert answer.result.get("ID") == guid


@pytest_twisted.ensureDeferred
async def test_another_accounts_list_is_not_found_and_nothing_changes(server):
    port = server.port("http")
    bobs = await guid_of(server, "calendar", OTHER)
    alices = await guid_of(server)
    assert bobs != alices
    for operation, params in (
            ("GetList", {}), ("GetListItems", {}),
            ("GetListItemChangesSinceToken", {}),
            ("UpdateListItems", {"updates": batch(method(1, "New", Title="intruder", **WHEN))})):
        answer = await in_thread(call, port, operation, {"listName": bobs, **params})
        assert answer.error_code == "0x82000006", operation
    bob_calendar = await (await server.collections(OTHER)).collection("calendar")
    assert await bob_calendar.items() == []
    # Alice's own list takes the same batch.
    answer = await in_thread(call, port, "UpdateListItems",
                             {"listName": alices, "updates": batch(method(1, "New", Title="mine", **WHEN))})
    assert [r[1] for r in results_of(answer)] == ["0x00000000"]
    answer = await in_thread(call, port, "GetListItems", {"listName": alices})
    assert [r["Title"] for r in rows_of(answer)] == ["mine"]


@pytest_twisted.ensureDeferred
async def test_the_protocol_policy_names_the_service_lists(server, log_capture):
    port = server.port("http")
    await server.store.policy.set(OTHER, frozenset({"imap", "dav"}))
    guid = await guid_of(server, "calendar", OTHER)
    status, _, payload = await in_thread(post, port, get_list(guid), user=OTHER)
    assert status == 403 and b"not enabled" in payload
    assert any("protocol not allowed" in line and OTHER in line
               for line in log_capture.lines("smsync.client"))
    await server.store.policy.set(USER, frozenset({"lists"}))
    status, _, _ = await in_thread(post, port, get_list(await guid_of(server)))
    assert status == 200
