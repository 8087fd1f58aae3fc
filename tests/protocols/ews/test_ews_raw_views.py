"""FindItem views and restrictions exchangelib cannot send, over raw SOAP: a ContactsView
(display names from InitialName to FinalName, MaxEntriesReturned), a task's Status and
PercentComplete, paths not served; and CopyFolder."""

from __future__ import annotations

import pytest_twisted
from lxml import etree

from smsync.model import FlagMode, UIDSet
from smsync.protocols.ews import ids, soap
from smsync.testing.servers import OTHER, USER, in_thread, numbered_message
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


# -- CopyFolder ------------------------------------------------------------------------


def _copy(port, to: str, *sources: str):
    answer = call(port, "CopyFolder", f"<m:ToFolderId>{to}</m:ToFolderId><m:FolderIds>{''.join(sources)}</m:FolderIds>")
    out = []
    for message in soap.messages_of(answer.payload):
        node = message.find(f"{soap.m('Folders')}/*")
        out.append((message.findtext(soap.m("ResponseCode")),
                    ids.parse_folder_id(node.find(soap.t("FolderId")).get("Id")) if node is not None else None,
                    etree.QName(node).localname if node is not None else None))
    return out


def _fid(ref) -> str:
    return f'<t:FolderId Id="{ids.folder_id(ref)}"/>'


def _dist(name: str) -> str:
    return f'<t:DistinguishedFolderId Id="{name}"/>'


async def _contents(server, name: str) -> list:
    """``[(body, flags)]`` of a mail folder, in UID order."""
    box = await server.mailbox(name)
    infos = await box.messages(None)
    return [(await box.read_body(i.uid), sorted(i.flags)) for i in infos]


@pytest_twisted.ensureDeferred
async def test_copy_mail_folders_with_their_messages_and_subfolders(server):
    port = server.port("http")
    mail = await server.store.mail(USER)
    projects = await mail.create_mailbox("Projects")
    sub = await mail.create_mailbox("Projects/2026")
    await server.deliver(numbered_message(1), numbered_message(2), folder="Projects")
    await server.deliver(numbered_message(3), folder="Projects/2026")
    box = await server.mailbox("Projects")
    await box.store_flags(UIDSet.of([min(await box.uids())]), FlagMode.ADD, ["\\Seen", "$label1"])
    before = {name: await _contents(server, name) for name in ("Projects", "Projects/2026")}
    projects_ref = ids.FolderRef(USER, ids.MAIL_FOLDER, projects.id)

    [(code, ref, element)] = await in_thread(_copy, port, _dist("inbox"), _fid(projects_ref))
    assert (code, element) == ("NoError", "Folder")
    names = {e.name: e.id for e in await mail.list_mailboxes()}
    assert ref == ids.FolderRef(USER, ids.MAIL_FOLDER, names["INBOX/Projects"])
    assert await _contents(server, "INBOX/Projects") == before["Projects"]
    assert await _contents(server, "INBOX/Projects/2026") == before["Projects/2026"]
    # The originals are untouched.
    assert {name: await _contents(server, name) for name in before} == before
    # A second copy beside the first gets a free name; copying into the folder itself,
    # or below it, fails that folder alone.
    sub_ref = ids.FolderRef(USER, ids.MAIL_FOLDER, sub.id)
    answers = await in_thread(_copy, port, _dist("msgfolderroot"), _fid(sub_ref))
    assert answers[0][0] == "NoError"
    answers = await in_thread(_copy, port, _fid(sub_ref), _fid(projects_ref), _fid(sub_ref),
                              _fid(ids.FolderRef(USER, ids.MAIL_FOLDER, names["INBOX/Projects/2026"])))
    assert [a[0] for a in answers] == ["ErrorMoveCopyFailed", "ErrorMoveCopyFailed", "NoError"]
    names = {e.name for e in await mail.list_mailboxes()}
    assert {n for n in names if "2026" in n or "Projects" in n} == {
        "2026", "INBOX/Projects", "INBOX/Projects/2026", "Projects", "Projects/2026", "Projects/2026/2026"}
    answers = await in_thread(_copy, port, _dist("msgfolderroot"), _fid(projects_ref))
    assert answers[0][0] == "NoError"
    assert "Projects (2)/2026/2026" in {e.name for e in await mail.list_mailboxes()}
    assert await _contents(server, "Projects (2)/2026") == before["Projects/2026"]


@pytest_twisted.ensureDeferred
async def test_copy_collections_and_errors_per_folder(server):
    port = server.port("http")
    collections = await server.collections()
    cal = await collections.collection("calendar")
    event = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\n"
             b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
             b"SUMMARY:Planning\r\nX-KEEP:me\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    await cal.put("e1.ics", event)
    book = await collections.collection("contacts")
    await book.put("c1.vcf", _card(1, "Ada Lovelace"))
    await book.put("c2.vcf", _card(2, "Alan Turing"))
    before = {info.id for info in await collections.list_collections()}

    answers = await in_thread(_copy, port, _dist("msgfolderroot"), _dist("calendar"), _dist("contacts"))
    assert [(code, element) for code, _ref, element in answers] == [
        ("NoError", "CalendarFolder"), ("NoError", "ContactsFolder")]
    made = {info.id: info for info in await collections.list_collections() if info.id not in before}
    assert sorted(ref.source for _code, ref, _el in answers) == sorted(made)
    cal_copy = await collections.collection_by_id(answers[0][1].source)
    assert [i.content for i in await cal_copy.get(["e1.ics"])] == [event]
    book_copy = await collections.collection_by_id(answers[1][1].source)
    assert sorted(i.name for i in await book_copy.items()) == ["c1.vcf", "c2.vcf"]
    # The copies are folders like any other: FindItem lists their items, and their
    # names say they are copies.
    shown = await in_thread(lambda: [_listed(m) for m in soap.messages_of(call(
        port, "FindItem", SHAPE + f"<m:ParentFolderIds>{_fid(answers[1][1])}</m:ParentFolderIds>").payload)])
    assert shown == [["Ada Lovelace", "Alan Turing"]]
    displays = sorted(info.properties.get("displayname", "") for info in made.values())
    assert all(d.endswith("(2)") for d in displays), displays
    # The originals are untouched.
    assert [i.name for i in await cal.items()] == ["e1.ics"] and len(await book.items()) == 2

    # Per folder: garbage, another account's folder, a folder that is gone, a virtual
    # folder, a calendar under a mail folder -- and a good one between them.
    bob_box = await server.mailbox(user=OTHER)
    answers = await in_thread(
        _copy, port, _dist("msgfolderroot"), '<t:FolderId Id="garbage!"/>',
        _fid(ids.FolderRef(OTHER, ids.MAIL_FOLDER, bob_box.id)),
        _fid(ids.FolderRef(USER, ids.MAIL_FOLDER, "nonesuch")), _dist("outbox"), _dist("tasks"))
    assert [a[0] for a in answers] == ["ErrorInvalidIdMalformed", "ErrorAccessDenied", "ErrorFolderNotFound",
                                       "ErrorMoveCopyFailed", "NoError"]
    answers = await in_thread(_copy, port, _dist("inbox"), _dist("calendar"))
    assert [a[0] for a in answers] == ["ErrorInvalidOperation"]
    # The target: gone, or another account's, fails every folder.
    answers = await in_thread(_copy, port, _fid(ids.FolderRef(USER, ids.MAIL_FOLDER, "nonesuch")),
                              _dist("calendar"), _dist("contacts"))
    assert [a[0] for a in answers] == ["ErrorToFolderNotFound"] * 2
    answers = await in_thread(_copy, port, _fid(ids.FolderRef(OTHER, ids.MAIL_FOLDER, bob_box.id)),
                              _dist("inbox"))
    assert [a[0] for a in answers] == ["ErrorAccessDenied"]
    assert len(await collections.list_collections()) == len(before) + 3  # only the tasks copy more


# -- scrambled --------------------------------------------------------------------------


def _scrambled_requests(folder: str) -> list:
    contains = ('<t:Contains ContainmentMode="Prefixed" ContainmentComparison="IgnoreCase">'
                '<t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/>'
                '<t:Constant Value="c"/></t:Contains>')
    return [
        ("FindItem", SHAPE + '<m:ContactsView MaxEntriesReturned="5" InitialName="A" FinalName="Z"/>'
                     f'<m:Restriction><t:Or>{contains}<t:Not>{_equal("IsEqualTo", "contacts:GivenName", "Ada")}'
                     '</t:Not></t:Or></m:Restriction><m:ParentFolderIds>' + _dist("contacts") + '</m:ParentFolderIds>'),
        ("FindItem", SHAPE + '<m:IndexedPageItemView MaxEntriesReturned="5" Offset="0" BasePoint="Beginning"/>'
                     f'<m:Restriction><t:And>{_equal("IsGreaterThan", "task:DueDate", "2026-01-01T00:00:00Z")}'
                     '<t:Exists><t:FieldURI FieldURI="task:Status"/></t:Exists></t:And></m:Restriction>'
                     '<m:SortOrder><t:FieldOrder Order="Descending"><t:FieldURI FieldURI="task:PercentComplete"/>'
                     '</t:FieldOrder></m:SortOrder><m:ParentFolderIds>' + _dist("tasks") + '</m:ParentFolderIds>'),
        ("FindItem", SHAPE + '<m:CalendarView MaxEntriesReturned="5" StartDate="2026-01-01T00:00:00Z" '
                     'EndDate="2026-02-01T00:00:00Z"/>'
                     f'<m:Restriction>{_equal("IsLessThan", "calendar:Start", "2026-01-20T00:00:00Z")}</m:Restriction>'
                     '<m:ParentFolderIds>' + _dist("calendar") + '</m:ParentFolderIds>'),
        ("CopyFolder", f'<m:ToFolderId>{_dist("msgfolderroot")}</m:ToFolderId>'
                       f'<m:FolderIds><t:FolderId Id="{folder}"/>{_dist("calendar")}</m:FolderIds>'),
    ]


@pytest_twisted.ensureDeferred
async def test_scrambled_views_restrictions_and_copies_are_answered_not_crashed(server, log_capture):
    import random

    from tests.protocols.ews.ews_support import operation, post
    from tests.protocols.ews.test_ews_malformed import mutate

    port = server.port("http")
    collections = await server.collections()
    await (await collections.collection("contacts")).put("c1.vcf", _card(1, "Ada Lovelace"))
    await (await collections.collection("tasks")).put("t.ics", _todo("t", "SUMMARY:x", "DUE:20260310T170000Z"))
    await (await collections.collection("calendar")).put("e.ics", (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:e\r\n"
        b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n"
        b"SUMMARY:w\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
    mail = await server.store.mail(USER)
    entry = await mail.create_mailbox("Keep")
    await server.deliver(numbered_message(1), folder="Keep")
    folder = ids.folder_id(ids.FolderRef(USER, ids.MAIL_FOLDER, entry.id))
    rnd = random.Random(1616)

    def run():
        seen = []
        for round_ in range(15):
            for name, xml in _scrambled_requests(folder):
                op = operation(name, xml)
                if name == "FindItem":
                    op.set("Traversal", "Shallow")
                if round_:
                    mutate(op, rnd)
                status, _headers, payload = post(port, soap.request_envelope(op))
                answer = soap.read_response(payload)
                assert status in (200, 500), (name, status)
                text = etree.tostring(answer.payload) if answer.payload is not None else b""
                assert answer.response_code != "ErrorInternalServerError", (name, answer.fault_string)
                assert b"ErrorInternalServerError" not in text, (name, text[:500])
                seen.append(codes(answer) if answer.payload is not None else [answer.response_code])
        return seen

    seen = await in_thread(run)
    # Unscrambled, each is served.
    assert seen[:4] == [["NoError"], ["NoError"], ["NoError"], ["NoError", "NoError"]]
    failures = [e for e in log_capture.events if e.get("log_failure") is not None]
    assert not failures, [str(e["log_failure"].value) for e in failures][:5]
