"""FindItem views and restrictions exchangelib cannot send, over raw SOAP: a ContactsView
(display names from InitialName to FinalName, MaxEntriesReturned), a task's Status and
PercentComplete, paths not served; and CopyFolder."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.ews import soap
from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import call, codes

NAMES = ["Ada Lovelace", "Alan Turing", "Kelly Rollin", "Ken Thompson", "NAME", "Name1", "Zoe Quinn"]
SHAPE = ('<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
         '<t:FieldURI FieldURI="contacts:DisplayName"/><t:FieldURI FieldURI="item:Subject"/>'
         '</t:AdditionalProperties></m:ItemShape>')


def _card(n: int, name: str) -> bytes:
    given, _, family = name.partition(" ")
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{n}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
            f"EMAIL:c{n}@example.{'com' if n % 2 else 'net'}\r\nEND:VCARD\r\n").encode()


def _root(message):
    return message.find(soap.m("RootFolder"))


def _listed(message, field: str = "DisplayName") -> list:
    return [item.findtext(soap.t(field)) for item in _root(message).find(soap.t("Items"))]


def _find(port, folder: str, view: str = "", extra: str = "", shape: str = SHAPE):
    answer = call(port, "FindItem", shape + view + extra +
                  f'<m:ParentFolderIds><t:DistinguishedFolderId Id="{folder}"/></m:ParentFolderIds>')
    return soap.messages_of(answer.payload)


@pytest_twisted.ensureDeferred
async def test_contacts_view_bounds_and_limit(server):
    port = server.port("http")
    book = await (await server.collections()).collection("contacts")
    for n, name in enumerate(reversed(NAMES)):  # stored out of order
        await book.put(f"c{n}.vcf", _card(n, name))

    def view(attrs: str, extra: str = ""):
        [message] = _find(port, "contacts", f"<m:ContactsView {attrs}/>", extra)
        root = _root(message)
        return (_listed(message), root.get("TotalItemsInView"), root.get("IncludesLastItemInRange"),
                root.get("IndexedPagingOffset"))

    # Everything, by display name; the first three and how many there are.
    assert await in_thread(view, "") == (NAMES, "7", "true", None)
    assert await in_thread(view, 'MaxEntriesReturned="3"') == (NAMES[:3], "7", "false", None)
    # From a name on; a name not in the list starts at the next one.
    assert await in_thread(view, 'InitialName="Kelly Rollin" MaxEntriesReturned="2"') == (
        ["Kelly Rollin", "Ken Thompson"], "5", "false", None)
    assert await in_thread(view, 'InitialName="kem"') == (["Ken Thompson", "NAME", "Name1", "Zoe Quinn"],
                                                          "4", "true", None)
    # Up to a name: FinalName="Name" (not in the list) leaves NAME and Name1 out.
    assert await in_thread(view, 'InitialName="B" FinalName="Name"') == (
        ["Kelly Rollin", "Ken Thompson"], "2", "true", None)
    assert await in_thread(view, 'FinalName="Alan Turing"') == (["Ada Lovelace", "Alan Turing"], "2", "true", None)
    # With a restriction: only the .net addresses, still by name.
    only_net = ('<m:Restriction><t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase">'
                '<t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/>'
                '<t:Constant Value="EXAMPLE.NET"/></t:Contains></m:Restriction>')
    net = [name for n, name in enumerate(reversed(NAMES)) if not n % 2]
    assert await in_thread(view, 'MaxEntriesReturned="10"', only_net) == (sorted(net), str(len(net)), "true", None)

    # A ContactsView of a calendar or a mail folder is refused for that folder only.
    def refused():
        answer = call(port, "FindItem", SHAPE + '<m:ContactsView MaxEntriesReturned="2"/>'
                      '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/>'
                      '<t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="contacts"/>'
                      '</m:ParentFolderIds>')
        return codes(answer), _listed(soap.messages_of(answer.payload)[2])

    assert await in_thread(refused) == (["ErrorInvalidOperation", "ErrorInvalidOperation", "NoError"], NAMES[:2])


def _todo(uid: str, *lines: str) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\n{body}END:VTODO\r\nEND:VCALENDAR\r\n").encode()


def _where(condition: str) -> str:
    return f"<m:Restriction>{condition}</m:Restriction>"


def _equal(op: str, uri: str, value: str) -> str:
    return (f'<t:{op}><t:FieldURI FieldURI="{uri}"/><t:FieldURIOrConstant><t:Constant Value="{value}"/>'
            f'</t:FieldURIOrConstant></t:{op}>')


@pytest_twisted.ensureDeferred
async def test_task_status_and_percent_and_paths_not_served(server):
    port = server.port("http")
    todos = await (await server.collections()).collection("tasks")
    await todos.put("a.ics", _todo("a", "SUMMARY:Draft", "STATUS:NEEDS-ACTION"))
    await todos.put("b.ics", _todo("b", "SUMMARY:Review", "STATUS:IN-PROCESS", "PERCENT-COMPLETE:60"))
    await todos.put("c.ics", _todo("c", "SUMMARY:Ship", "STATUS:COMPLETED"))
    await todos.put("d.ics", _todo("d", "SUMMARY:Wait", "STATUS:IN-PROCESS", "X-SMSYNC-EWS-STATUS:WaitingOnOthers"))
    shape = ('<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
             '<t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>')
    by_subject = ('<m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:Subject"/>'
                  '</t:FieldOrder></m:SortOrder>')

    def tasks(condition: str):
        [message] = _find(port, "tasks", extra=_where(condition) + by_subject, shape=shape)
        return _listed(message, "Subject")

    assert await in_thread(tasks, _equal("IsEqualTo", "task:Status", "Completed")) == ["Ship"]
    assert await in_thread(tasks, _equal("IsEqualTo", "task:Status", "WaitingOnOthers")) == ["Wait"]
    assert await in_thread(tasks, _equal("IsNotEqualTo", "task:Status", "InProgress")) == ["Draft", "Ship", "Wait"]
    assert await in_thread(tasks, _equal("IsGreaterThanOrEqualTo", "task:PercentComplete", "50")) == [
        "Review", "Ship"]
    assert await in_thread(tasks, "<t:Or>" + _equal("IsEqualTo", "task:Status", "NotStarted")
                           + "<t:Not>" + _equal("IsLessThan", "task:PercentComplete", "100") + "</t:Not></t:Or>"
                           ) == ["Draft", "Ship"]

    # Paths and filters not served are refused per folder, the others answered.
    def refused(condition: str, folders=("tasks", "contacts")):
        parents = "".join(f'<t:DistinguishedFolderId Id="{f}"/>' for f in folders)
        answer = call(port, "FindItem", shape + _where(condition) + f"<m:ParentFolderIds>{parents}</m:ParentFolderIds>")
        return codes(answer)

    assert await in_thread(refused, _equal("IsEqualTo", "task:Status", "Completed")) == [
        "NoError", "ErrorUnsupportedPathForQuery"]
    assert await in_thread(refused, '<t:Exists><t:ExtendedFieldURI PropertyTag="0x0037" PropertyType="String"/>'
                           '</t:Exists>') == ["ErrorUnsupportedPathForQuery"] * 2
    assert await in_thread(refused, _equal("IsEqualTo", "task:Owner", "x"), ("tasks", "inbox")) == [
        "ErrorUnsupportedPathForQuery"] * 2
    assert await in_thread(refused, '<t:Excludes><t:FieldURI FieldURI="item:Subject"/><t:Bitmask Value="1"/>'
                           '</t:Excludes>') == ["ErrorUnsupportedQueryFilter"] * 2
    assert await in_thread(refused, _equal("IsGreaterThan", "task:DueDate", "soon")) == [
        "ErrorInvalidValueForProperty", "ErrorUnsupportedPathForQuery"]
