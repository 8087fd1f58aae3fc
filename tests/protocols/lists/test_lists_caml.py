"""CAML queries (``smsync.protocols.lists.caml``) as pure predicates, and applied by the
server to GetListItems, GetListItemChangesSinceToken and GetListItemChanges -- with the
older date-based change call itself (its TimeStamp, changes and deletions)."""

from __future__ import annotations

import time

import pytest
import pytest_twisted
from lxml import etree

from smsync.protocols.lists import caml, soap
from smsync.testing.servers import in_thread
from tests.protocols.lists.lists_support import call, changes_of, rows_of, since_token
from tests.protocols.lists.test_lists_sync import collection_and_guid, event, todo

ROW = {"ID": "3", "Title": "Budget review", "Priority": "(1) High", "PercentComplete": "0.5",
       "DueDate": "2026-12-10T10:00:00Z", "AssignedTo": "1;#alice@example.org", "Body": ""}


TIMED = ' IncludeTimeValue="TRUE"'


def where(xml: str):
    return caml.where_of(etree.fromstring(f"<query><Query><Where>{xml}</Where></Query></query>"))


def ref(name, value, kind="Text", extra=""):
    return f'<FieldRef Name="{name}"/><Value Type="{kind}"{extra}>{value}</Value>'


@pytest.mark.parametrize("xml, expected", [
    (f"<Eq>{ref('Title', 'budget REVIEW')}</Eq>", True),
    (f"<Eq>{ref('Title', 'budget')}</Eq>", False),
    (f"<Neq>{ref('Title', 'budget')}</Neq>", True),
    (f"<Contains>{ref('Title', 'REVIEW')}</Contains>", True),
    (f"<BeginsWith>{ref('Title', 'review')}</BeginsWith>", False),
    (f"<BeginsWith>{ref('Title', 'Bud')}</BeginsWith>", True),
    (f"<Gt>{ref('ID', '2', 'Counter')}</Gt>", True),
    (f"<Lt>{ref('ID', '10', 'Counter')}</Lt>", True),  # numbers, not text ("3" > "10")
    (f"<Geq>{ref('PercentComplete', '0.5', 'Number')}</Geq>", True),
    (f"<Leq>{ref('PercentComplete', '0.4', 'Number')}</Leq>", False),
    (f"<Eq>{ref('DueDate', '2026-12-10T23:00:00Z', 'DateTime')}</Eq>", True),  # by day
    (f"<Eq>{ref('DueDate', '2026-12-10T23:00:00Z', 'DateTime', TIMED)}</Eq>", False),
    (f"<Lt>{ref('DueDate', '2026-12-10 10:30:00', 'DateTime', TIMED)}</Lt>", True),
    (f"<Gt>{ref('DueDate', '<Today/>', 'DateTime')}</Gt>", True),  # 2026-12-10 is ahead of the tests
    ("<IsNull><FieldRef Name='Body'/></IsNull>", True),
    ("<IsNotNull><FieldRef Name='Body'/></IsNotNull>", False),
    ("<IsNull><FieldRef Name='Missing'/></IsNull>", True),
    # Fields every SharePoint item has, which rows leave out: no folders here.
    ("<Eq><FieldRef Name='FSObjType'/><Value Type='Lookup'>0</Value></Eq>", True),
    ("<Neq><FieldRef Name='FSObjType'/><Value Type='Integer'>0</Value></Neq>", False),
    (f"<Eq>{ref('Body', 'x')}</Eq>", False),  # an empty field matches only Neq
    (f"<Eq>{ref('AssignedTo', 'alice@example.org', 'User')}</Eq>", True),
    ("<Eq><FieldRef Name='AssignedTo' LookupId='TRUE'/><Value Type='Integer'>1</Value></Eq>", True),
    (f"<And><Eq>{ref('ID', '3', 'Counter')}</Eq><Contains>{ref('Title', 'x')}</Contains></And>", False),
    (f"<Or><Eq>{ref('ID', '4', 'Counter')}</Eq><Contains>{ref('Title', 'rev')}</Contains></Or>", True),
    (f"<Or><Eq>{ref('ID', '4', 'Counter')}</Eq><And><IsNull><FieldRef Name='Body'/></IsNull>"
     f"<Eq>{ref('Priority', '(1) High', 'Choice')}</Eq></And></Or>", True),
])
def test_each_operator(xml, expected):
    assert where(xml)(ROW) is expected


@pytest.mark.parametrize("xml", [
    "<Like><FieldRef Name='Title'/><Value Type='Text'>x</Value></Like>",
    "<Eq><Value Type='Text'>x</Value></Eq>",
    "<Eq><FieldRef Name='Title'/></Eq>",
    f"<And><Eq>{ref('ID', '3', 'Counter')}</Eq></And>",
    f"<Eq>{ref('ID', 'three', 'Counter')}</Eq>",
    f"<Eq>{ref('DueDate', 'soon', 'DateTime')}</Eq>",
])
def test_what_is_not_a_query_is_refused(xml):
    with pytest.raises(soap.ListsFault) as info:
        where(xml)
    assert info.value.code == soap.GENERIC


def test_no_where_and_contains():
    assert caml.where_of(etree.fromstring("<query><Query/></query>")) is None
    assert caml.where_of(None) is None
    keep = caml.where_of(None, etree.fromstring(f"<contains><Contains>{ref('Title', 'BUDGET')}</Contains></contains>"))
    assert keep(ROW) and not keep({"Title": "other"})


def _q(xml: str) -> str:
    return f"<Query><Where>{xml}</Where></Query>"


@pytest_twisted.ensureDeferred
async def test_server_applies_query_with_view_fields(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "tasks")
    for n, title in enumerate(("Alpha", "Beta", "Alphabet")):
        await collection.put(f"t{n}.ics", todo(f"u{n}", title))
    view = '<ViewFields><FieldRef Name="ID"/></ViewFields>'
    params = {"listName": guid, "viewFields": view,
              "query": _q(f"<BeginsWith>{ref('Title', 'alpha')}</BeginsWith>")}
    answer = await in_thread(call, port, "GetListItems", params)
    found = rows_of(answer)
    # Filtered on Title, which the ViewFields leave out of the answer.
    assert [r["ID"] for r in found] == ["1", "3"]
    assert all("Title" not in r for r in found)
    # The same query on the change call, with and without a token.
    first = await in_thread(since_token, port, guid, None, view_fields=view,
                            query=_q(f"<Eq>{ref('Title', 'beta')}</Eq>"))
    assert [r["ID"] for r in rows_of(first)] == ["2"]
    token = changes_of(first).get("LastChangeToken")
    await collection.put("t0.ics", todo("u0", "Alpha 2"))
    await collection.put("t1.ics", todo("u1", "Beta 2"))
    later = await in_thread(since_token, port, guid, token, query=_q(f"<Contains>{ref('Title', 'beta')}</Contains>"))
    assert [r["ID"] for r in rows_of(later)] == ["2"]
    # A bad query is the service's fault, nothing else.
    bad = await in_thread(call, port, "GetListItems", {"listName": guid, "query": _q("<Near/>")})
    assert bad.fault_code is not None and bad.error_code == soap.GENERIC


@pytest_twisted.ensureDeferred
async def test_get_list_item_changes_by_date(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "calendar")
    await collection.put("a.ics", event("ua", "First"))
    await collection.put("b.ics", event("ub", "Second"))
    everything = await in_thread(call, port, "GetListItemChanges", {"listName": guid})
    assert sorted(r["Title"] for r in rows_of(everything)) == ["First", "Second"]
    stamp = everything.result.get("TimeStamp")
    assert stamp and stamp.endswith("Z")
    # Changed and deleted after the TimeStamp: seen, the deletion by its ID.
    ids = {r["Title"]: r["ID"] for r in rows_of(everything)}
    await collection.put("a.ics", event("ua", "First, moved"))
    await collection.delete("b.ics")
    await collection.put("c.ics", event("uc", "Third"))
    later = await in_thread(call, port, "GetListItemChanges", {
        "listName": guid, "since": stamp, "viewFields": '<ViewFields><FieldRef Name="Title"/></ViewFields>'})
    assert sorted(r["Title"] for r in rows_of(later)) == ["First, moved", "Third"]
    deleted = [(i.get("ChangeType"), i.text) for i in later.result.iter(soap.sp("Id"))]
    assert deleted == [("Delete", ids["Second"])]
    assert all(set(r) <= {"Title", "ID", "owshiddenversion", "UniqueId", "FileRef", "ContentTypeId"}
               for r in rows_of(later))
    # Nothing since the newest TimeStamp.
    newest = later.result.get("TimeStamp")
    assert rows_of(await in_thread(call, port, "GetListItemChanges", {"listName": guid, "since": newest})) == []
    # A date the server never gave: the items' own times (DTSTAMP 2026-12-01).
    old = await in_thread(call, port, "GetListItemChanges", {"listName": guid, "since": "2020-01-01T00:00:00Z"})
    assert len(rows_of(old)) == 2
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400 * 3650))
    assert rows_of(await in_thread(call, port, "GetListItemChanges", {"listName": guid, "since": future})) == []
    bad = await in_thread(call, port, "GetListItemChanges", {"listName": guid, "since": "yesterday"})
    assert bad.error_code == soap.GENERIC
