"""The EWS endpoint over raw SOAP: the anonymous probe, logins, faults for what is not a
request, per-item errors for bad ids, and another account's ids never reaching its data."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.ews import ids, soap
from smsync.testing.servers import OTHER, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import call, codes, operation, post

GET_INBOX = ('<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
             '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>')


@pytest_twisted.ensureDeferred
async def test_an_anonymous_probe_gets_a_basic_challenge(server, log_capture):
    port = server.port("http")
    body = soap.request_envelope(operation("GetFolder", GET_INBOX))
    status, headers, _ = await in_thread(post, port, body, user=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    status, headers, _ = await in_thread(post, port, body, password="wrong")
    assert status == 401
    assert any("smsync: ews: authentication failed for alice@example.org from 127.0.0.1" in line
               for line in log_capture.lines("smsync.client"))
    # The path is matched ignoring case, as clients spell it every way.
    for path in ("/EWS/Exchange.asmx", "/ews/exchange.asmx", "/Ews/EXCHANGE.ASMX"):
        status, _, payload = await in_thread(post, port, body, path=path)
        assert status == 200, path
        answer = soap.read_response(payload)
        assert answer.server_version["Version"] == soap.LATEST
        assert codes(answer) == ["NoError"]


@pytest_twisted.ensureDeferred
async def test_what_is_not_a_request_is_a_fault_and_the_server_lives_on(server):
    port = server.port("http")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&b;</s:Body></s:Envelope>')
    for body in (b"", b"<not xml", bomb, b"<a/>" * 3):
        status, _, payload = await in_thread(post, port, body)
        assert status == 500
        assert soap.read_response(payload).response_code == "ErrorSchemaValidation"
    answer = await in_thread(call, port, "NoSuchOperation")
    assert answer.response_code == "ErrorInvalidRequest"
    status, _, payload = await in_thread(post, port, soap.request_envelope(
        operation("GetFolder", GET_INBOX), "Exchange2003"))
    assert status == 500 and soap.read_response(payload).response_code == "ErrorInvalidServerVersion"
    # An older version asked for is answered in its own name.
    answer = await in_thread(call, port, "GetFolder", GET_INBOX, version="Exchange2010_SP1")
    assert answer.server_version["Version"] == "Exchange2010_SP1"
    assert codes(answer) == ["NoError"]


@pytest_twisted.ensureDeferred
async def test_bad_and_foreign_ids_fail_only_their_own_item(server):
    port = server.port("http")
    [uid] = await server.deliver(numbered_message(1))
    [bob_uid] = await server.deliver(numbered_message(2, to=OTHER), user=OTHER)
    box = await server.mailbox()
    bob_box = await server.mailbox(user=OTHER)
    mine = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, box.id, str(uid)))
    bobs = ids.item_id(ids.ItemRef(OTHER, ids.MESSAGE, bob_box.id, str(bob_uid)))
    # Alice's account name on Bob's folder: well-formed, but no such folder of hers.
    forged = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, bob_box.id, str(bob_uid)))
    gone = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, box.id, "999"))
    shape = "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>"
    item_ids = "".join(f'<t:ItemId Id="{i}"/>' for i in (mine, "garbage!", bobs, forged, gone, mine[:-4]))
    answer = await in_thread(call, port, "GetItem", shape + f"<m:ItemIds>{item_ids}</m:ItemIds>")
    assert codes(answer) == ["NoError", "ErrorInvalidIdMalformed", "ErrorAccessDenied",
                             "ErrorItemNotFound", "ErrorItemNotFound", "ErrorInvalidIdMalformed"]
    assert b"message 2" not in soap.etree.tostring(answer.payload)
    # Another mailbox named in a distinguished id is refused too.
    answer = await in_thread(call, port, "GetFolder",
                             '<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
                             '<m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox>'
                             f'<t:EmailAddress>{OTHER}</t:EmailAddress></t:Mailbox>'
                             '</t:DistinguishedFolderId><t:DistinguishedFolderId Id="nonesuch"/>'
                             '</m:FolderIds>')
    assert codes(answer) == ["ErrorAccessDenied", "ErrorFolderNotFound"]
    # Attachment ids likewise: another account's, a part that is none, garbage.
    theirs = ids.attachment_id(ids.ItemRef(OTHER, ids.MESSAGE, bob_box.id, str(bob_uid)), "1")
    none = ids.attachment_id(ids.ItemRef(USER, ids.MESSAGE, box.id, str(uid)), "7")
    answer = await in_thread(call, port, "GetAttachment",
                             f'<m:AttachmentIds><t:AttachmentId Id="{theirs}"/><t:AttachmentId Id="{none}"/>'
                             f'<t:AttachmentId Id="{mine}"/></m:AttachmentIds>')
    assert codes(answer) == ["ErrorAccessDenied", "ErrorItemNotFound", "ErrorInvalidIdMalformed"]


@pytest_twisted.ensureDeferred
async def test_find_item_paging_by_hand(server):
    port = server.port("http")
    await server.deliver(*(numbered_message(n) for n in range(1, 8)))

    def page(offset):
        answer = call(port, "FindItem",
                      '<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
                      '<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>'
                      f'<m:IndexedPageItemView MaxEntriesReturned="3" Offset="{offset}" BasePoint="Beginning"/>'
                      '<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds>')
        root = soap.messages_of(answer.payload)[0].find(soap.m("RootFolder"))
        subjects = [e.findtext(soap.t("Subject")) for e in root.find(soap.t("Items"))]
        return (subjects, root.get("IndexedPagingOffset"), root.get("TotalItemsInView"),
                root.get("IncludesLastItemInRange"))

    assert await in_thread(page, 0) == (["message 7", "message 6", "message 5"], "3", "7", "false")
    assert await in_thread(page, 6) == (["message 1"], "7", "7", "true")
