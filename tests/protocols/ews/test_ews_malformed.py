"""Malformed operations: valid requests of every operation, cut and scrambled, are each
answered -- a fault or per-item errors with the ResponseCode a client expects -- and
none reaches the server as an unhandled error (no ErrorInternalServerError, no
traceback in the log)."""

from __future__ import annotations

import random

import pytest_twisted
from lxml import etree

from smsync.protocols.ews import ids, soap
from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import operation, post
from tests.protocols.ews.test_exchangelib_read import WITH_FILE

SHAPE = '<t:BaseShape>Default</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties>'


def requests(item: str, folder: str, attachment: str) -> list:
    inbox = '<t:DistinguishedFolderId Id="inbox"/>'
    return [
        ("GetFolder", f'<m:FolderShape>{SHAPE}</m:FolderShape><m:FolderIds>{inbox}<t:FolderId Id="{folder}"/></m:FolderIds>'),
        ("FindFolder", f'<m:FolderShape>{SHAPE}</m:FolderShape><m:IndexedPageFolderView MaxEntriesReturned="5" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="root"/></m:ParentFolderIds>'),
        ("FindItem", f'<m:ItemShape>{SHAPE}</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="5" Offset="0" BasePoint="Beginning"/>'
                     '<m:Restriction><t:And><t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="message"/></t:Contains>'
                     '<t:IsGreaterThan><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant><t:Constant Value="2000-01-01T00:00:00Z"/></t:FieldURIOrConstant></t:IsGreaterThan></t:And></m:Restriction>'
                     '<m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:Subject"/></t:FieldOrder></m:SortOrder>'
                     f'<m:ParentFolderIds>{inbox}</m:ParentFolderIds>'),
        ("GetItem", f'<m:ItemShape>{SHAPE}<t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape><m:ItemIds><t:ItemId Id="{item}"/></m:ItemIds>'),
        ("UpdateItem", f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{item}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField>'
                       '<t:SetItemField><t:FieldURI FieldURI="item:Categories"/><t:Message><t:Categories><t:String>x</t:String></t:Categories></t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges>'),
        ("CopyItem", f'<m:ToFolderId><t:DistinguishedFolderId Id="junkemail"/></m:ToFolderId><m:ItemIds><t:ItemId Id="{item}"/></m:ItemIds>'),
        ("CreateItem", '<m:SavedItemFolderId><t:DistinguishedFolderId Id="drafts"/></m:SavedItemFolderId><m:Items><t:Message><t:Subject>s</t:Subject><t:Body BodyType="Text">b</t:Body>'
                       '<t:ToRecipients><t:Mailbox><t:EmailAddress>x@example.org</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items>'),
        ("SyncFolderItems", f'<m:ItemShape>{SHAPE}</m:ItemShape><m:SyncFolderId>{inbox}</m:SyncFolderId><m:SyncState></m:SyncState><m:MaxChangesReturned>5</m:MaxChangesReturned>'),
        ("SyncFolderHierarchy", f'<m:FolderShape>{SHAPE}</m:FolderShape><m:SyncState></m:SyncState>'),
        ("ConvertId", f'<m:SourceIds><t:AlternateId Format="EwsId" Id="{item}" Mailbox="{USER}"/></m:SourceIds>'),
        ("CreateFolder", '<m:ParentFolderId><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderId>'
                         '<m:Folders><t:Folder><t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>Sub</t:DisplayName></t:Folder>'
                         '<t:CalendarFolder><t:DisplayName>Cal</t:DisplayName></t:CalendarFolder></m:Folders>'),
        ("UpdateFolder", f'<m:FolderChanges><t:FolderChange><t:FolderId Id="{folder}"/><t:Updates><t:SetFolderField>'
                         '<t:FieldURI FieldURI="folder:DisplayName"/><t:Folder><t:DisplayName>Inbox</t:DisplayName></t:Folder>'
                         '</t:SetFolderField></t:Updates></t:FolderChange></m:FolderChanges>'),
        ("MoveFolder", f'<m:ToFolderId><t:DistinguishedFolderId Id="junkemail"/></m:ToFolderId><m:FolderIds><t:FolderId Id="{folder}"/></m:FolderIds>'),
        ("EmptyFolder", '<m:FolderIds><t:DistinguishedFolderId Id="junkemail"/></m:FolderIds>'),
        ("DeleteFolder", f'<m:FolderIds><t:FolderId Id="{folder}"/><t:DistinguishedFolderId Id="drafts"/></m:FolderIds>'),
        ("FindItem", f'<m:ItemShape>{SHAPE}</m:ItemShape><m:CalendarView MaxEntriesReturned="5" '
                     'StartDate="2026-01-01T00:00:00Z" EndDate="2026-02-01T00:00:00Z"/>'
                     '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>'),
        ("CreateItem", '<m:Items><t:Contact><t:DisplayName>Zed</t:DisplayName><t:EmailAddresses>'
                       '<t:Entry Key="EmailAddress1">zed@example.org</t:Entry></t:EmailAddresses>'
                       '<t:PhoneNumbers><t:Entry Key="MobilePhone">555</t:Entry></t:PhoneNumbers></t:Contact></m:Items>'),
        ("CreateItem", '<m:Items><t:CalendarItem><t:Subject>Meet</t:Subject><t:Start>2026-03-02T13:00:00Z</t:Start>'
                       '<t:End>2026-03-02T14:00:00Z</t:End><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>'
                       '<t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence>'
                       '<t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>3</t:NumberOfOccurrences>'
                       '</t:NumberedRecurrence></t:Recurrence></t:CalendarItem></m:Items>'),
        ("GetAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{attachment}"/></m:AttachmentIds>'),
        ("Subscribe", '<m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>'
                      '<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>'
                      '</t:EventTypes><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest>'),
        ("DeleteItem", f'<m:ItemIds><t:ItemId Id="{item}"/></m:ItemIds>'),
    ]


ATTRIBUTES = {
    "DeleteItem": {"DeleteType": "MoveToDeletedItems"},
    "DeleteFolder": {"DeleteType": "HardDelete"},
    "EmptyFolder": {"DeleteType": "HardDelete", "DeleteSubFolders": "true"},
    "FindItem": {"Traversal": "Shallow"},
    "FindFolder": {"Traversal": "Deep"},
    "CreateItem": {"MessageDisposition": "SaveOnly"},
    "UpdateItem": {"ConflictResolution": "NeverOverwrite"},
    "ConvertId": {"DestinationFormat": "EwsLegacyId"},
}
JUNK = ["", "-1", "99999999999999999999", "\u2603", "true", "Deep", "End", "AAAA", "<", "x" * 300]


def mutate(element, rnd: random.Random) -> None:
    nodes = list(element.iter())
    for _ in range(rnd.randint(1, 3)):
        node = rnd.choice(nodes)
        choice = rnd.randrange(5)
        if choice == 0 and node.getparent() is not None:
            node.getparent().remove(node)
            nodes = list(element.iter())
        elif choice == 1 and node.attrib:
            key = rnd.choice(list(node.attrib))
            node.set(key, rnd.choice(JUNK))
        elif choice == 2:
            node.text = rnd.choice(JUNK)
        elif choice == 3 and node.getparent() is not None:
            node.getparent().append(etree.fromstring(etree.tostring(node)))
        elif node.attrib:
            del node.attrib[rnd.choice(list(node.attrib))]


@pytest_twisted.ensureDeferred
async def test_scrambled_operations_are_answered_not_crashed(server, log_capture):
    port = server.port("http")
    [uid] = await server.deliver(WITH_FILE)
    box = await server.mailbox()
    item = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, box.id, str(uid)))
    folder = ids.folder_id(ids.FolderRef(USER, ids.MAIL_FOLDER, box.id))
    attachment = ids.attachment_id(ids.ItemRef(USER, ids.MESSAGE, box.id, str(uid)), "2")
    rnd = random.Random(16)

    def run():
        seen = []
        for round_ in range(12):
            for name, xml in requests(item, folder, attachment):
                op = operation(name, xml)
                for key, value in ATTRIBUTES.get(name, {}).items():
                    op.set(key, value)
                if round_:
                    mutate(op, rnd)
                status, _headers, payload = post(port, soap.request_envelope(op))
                answer = soap.read_response(payload)
                assert status in (200, 500), (name, status)
                text = etree.tostring(answer.payload) if answer.payload is not None else b""
                assert answer.response_code != "ErrorInternalServerError", (name, answer.fault_string)
                assert b"ErrorInternalServerError" not in text, (name, text[:500])
                codes = [msg.findtext(soap.m("ResponseCode")) for msg in soap.messages_of(answer.payload)] \
                    if answer.payload is not None else [answer.response_code]
                seen.append((name, status, tuple(codes)))
        return seen

    seen = await in_thread(run)
    assert len(seen) == 12 * 21
    # Unscrambled, every request is served (but for the distinguished folders refusing).
    first = {name: codes for name, _status, codes in seen[:21]}
    assert first.pop("DeleteFolder") == ("ErrorDeleteDistinguishedFolder",) * 2
    assert first.pop("MoveFolder") == ("ErrorDeleteDistinguishedFolder",)
    assert {n: c for n, c in first.items() if set(c) != {"NoError"}} == {}
    failures = [e for e in log_capture.events if e.get("log_failure") is not None]
    assert not failures, [str(e["log_failure"].value) for e in failures][:5]
