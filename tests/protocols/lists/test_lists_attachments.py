"""Attachments of list items (MS-LISTSWS GetAttachmentCollection, AddAttachment,
DeleteAttachment) as raw requests shaped as MS-OUTSPS's, kept in the stored item
(an event's or task's ``ATTACH;...;X-FILENAME=``, a contact's PHOTO), seen by the
other protocols' reading of the item, and downloaded by URL after Basic login."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest
import pytest_twisted

from smsync.formats import pim_attachments as files
from smsync.formats.contentlines import parse_components
from smsync.protocols.lists import attachments, soap
from smsync.testing.servers import in_thread
from tests.protocols.lists.lists_support import VIEW_FIELDS, call, post, rows_of, since_token
from tests.protocols.lists.test_lists_sync import card, collection_and_guid, event, todo

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def add(port, guid, item_id, name, data: bytes):
    return call(port, "AddAttachment", {"listName": guid, "listItemID": str(item_id), "fileName": name,
                                        "attachment": base64.b64encode(data).decode()})


def urls(port, guid, item_id) -> list:
    answer = call(port, "GetAttachmentCollection", {"listName": guid, "listItemID": str(item_id)})
    return [a.text for a in answer.result.iter(soap.sp("Attachment"))]


def get(port, url: str, **kwargs):
    return post(port, b"", path=urlsplit(url).path, method="GET", **kwargs)


def stored_files(content: bytes) -> list:
    holder = files.holder_of(parse_components(content)[0])
    return [(files.name_of(p), files.content_type(p), files.content(p)) for p in files.files(holder)]


@pytest.mark.parametrize("name, make", [("calendar", event), ("tasks", todo)])
@pytest_twisted.ensureDeferred
async def test_add_list_download_delete(server, name, make):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, name)
    await collection.put("one.ics", make("u1", "With files"))
    await in_thread(since_token, port, guid)  # the device is given ID 1
    assert await in_thread(urls, port, guid, 1) == []
    answer = await in_thread(add, port, guid, 1, "notes ä.txt", b"hello\x00world")
    url = answer.result.text
    assert url.startswith(f"http://127.0.0.1:{port}/lists/Lists/{name}/Attachments/1/")
    assert attachments.parse_path(url, "/lists").file_name == "notes ä.txt"
    await in_thread(add, port, guid, 1, "pic.png", PNG)
    assert await in_thread(urls, port, guid, 1) == [url, url.rsplit("/", 1)[0] + "/pic.png"]
    # Kept in the item as iCalendar ATTACH, which CalDAV clients (and EWS) read.
    item = (await collection.get(["one.ics"]))[0]
    assert b"X-FILENAME=notes \xc3\xa4.txt" in item.content.replace(b"\r\n ", b"")
    assert stored_files(item.content) == [("notes ä.txt", "text/plain", b"hello\x00world"),
                                          ("pic.png", "image/png", PNG)]
    # The row says so, with the URLs (IncludeAttachmentUrls).
    row = rows_of(await in_thread(since_token, port, guid, view_fields="<ViewFields/>"))[0]
    assert row["Attachments"] == f";#{url};#{url.rsplit('/', 1)[0]}/pic.png;#"
    # Downloaded by URL after Basic login; not without it.
    status, headers, body = await in_thread(get, port, url)
    assert (status, body, headers["Content-Type"]) == (200, b"hello\x00world", "text/plain")
    assert (await in_thread(get, port, url, user=None))[0] == 401
    assert (await in_thread(get, port, url, password="wrong"))[0] == 401
    # Another User-Agent (Outlook's download stack) finds it by the Outlook's IDs.
    assert (await in_thread(get, port, url, agent="Microsoft-WebDAV-MiniRedir/10.0"))[2] == b"hello\x00world"
    assert (await in_thread(get, port, url.replace("/1/", "/2/")))[0] == 404
    assert (await in_thread(get, port, url + "x"))[0] == 404
    # The same name twice is refused; nothing changes.
    again = await in_thread(add, port, guid, 1, "notes ä.txt", b"other")
    assert again.fault_code is not None and again.error_code == "0x81020067"
    # Deleted by URL.
    await in_thread(call, port, "DeleteAttachment", {"listName": guid, "listItemID": "1", "url": url})
    assert await in_thread(urls, port, guid, 1) == [url.rsplit("/", 1)[0] + "/pic.png"]
    assert [n for n, _, _ in stored_files((await collection.get(["one.ics"]))[0].content)] == ["pic.png"]
    assert (await in_thread(get, port, url))[0] == 404
    gone = await in_thread(call, port, "DeleteAttachment", {"listName": guid, "listItemID": "1", "url": url})
    assert gone.error_code == attachments.NO_ITEM


@pytest_twisted.ensureDeferred
async def test_contact_keeps_its_photo_only(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "contacts")
    await collection.put("c.vcf", card("uc", "Carol"))
    await in_thread(since_token, port, guid)
    before = (await collection.get(["c.vcf"]))[0].content
    refused = await in_thread(add, port, guid, 1, "cv.pdf", b"%PDF")
    assert refused.fault_code is not None and refused.error_code == soap.GENERIC
    assert (await collection.get(["c.vcf"]))[0].content == before
    answer = await in_thread(add, port, guid, 1, "carol.png", PNG)
    assert answer.result.text.endswith("/Attachments/1/carol.png")
    content = (await collection.get(["c.vcf"]))[0].content
    assert b"PHOTO;ENCODING=b;TYPE=PNG" in content
    # A second photo replaces the first.
    await in_thread(add, port, guid, 1, "new.png", PNG)
    assert [n for n, _, _ in stored_files((await collection.get(["c.vcf"]))[0].content)] == ["new.png"]
    assert [u.rsplit("/", 1)[1] for u in await in_thread(urls, port, guid, 1)] == ["new.png"]
    status, _, body = await in_thread(get, port, (await in_thread(urls, port, guid, 1))[0])
    assert (status, body) == (200, PNG)


@pytest_twisted.ensureDeferred
async def test_bad_requests_change_nothing(server):
    port = server.port("http")
    collection, guid = await collection_and_guid(server, "tasks")
    await collection.put("t.ics", todo("ut", "Task"))
    await in_thread(since_token, port, guid, view_fields=VIEW_FIELDS)
    before = (await collection.get(["t.ics"]))[0].content
    for item_id, name, data in ((99, "a.txt", "aGk="), (1, "a/b.txt", "aGk="), (1, "", "aGk="),
                                (1, "a.txt", "not base64!")):
        answer = await in_thread(call, port, "AddAttachment", {"listName": guid, "listItemID": str(item_id),
                                                               "fileName": name, "attachment": data})
        assert answer.fault_code is not None, (item_id, name)
    assert (await in_thread(call, port, "GetAttachmentCollection",
                            {"listName": guid, "listItemID": "7"})).error_code == attachments.NO_ITEM
    assert (await collection.get(["t.ics"]))[0].content == before
    # POST to an attachment URL is not a write path.
    status = (await in_thread(post, port, b"x", path="/lists/Lists/tasks/Attachments/1/a.txt"))[0]
    assert status == 405
