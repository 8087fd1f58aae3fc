"""ItemOperations and GetAttachment against a real server: a message fetched whole as
MIME, an attachment fetched by the FileReference its Sync listing gives, byte ranges,
the multipart answer, the 12.x GetAttachment, EmptyFolderContents, and bad references
answered with their Status rather than a crash."""

from __future__ import annotations

import base64
import http.client
import struct
from email.message import EmailMessage
from email.policy import SMTP

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.protocols.eas.request import EASRequest, plain_query
from smsync.protocols.eas.wbxml import Element, decode, encode
from smsync.testing.servers import PASSWORD, USER, RunningServers, client_tls_context
from tests.protocols.eas.test_eas_endpoint import block, provision

@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


IO = "ItemOperations:"
AS = "AirSync:"
BASE = "AirSyncBase:"
EMAIL = "Email:"

PICTURE = bytes(range(256)) * 40 + b"tail"
NOTES = "Meeting notes: caf\u00e9 = coffee\n".encode("utf-8") * 50


def _message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.org>"
    msg["To"] = "user@example.org"
    msg["Subject"] = "With files"
    msg["Message-ID"] = "<files@example.org>"
    msg.set_content("See the attached files.\n")
    msg.add_attachment(PICTURE, maintype="image", subtype="png", filename="picture.png")
    msg.add_attachment(NOTES, maintype="text", subtype="plain", filename="notes.txt",
                       cte="quoted-printable")
    return msg.as_bytes(policy=SMTP)


MESSAGE = _message()


def post(port, command, body=None, *, key=None, version="16.1", multipart=False, params=None):
    """``(status, headers, raw payload)`` of one EAS request."""
    request = EASRequest(command=command, device_id="raw01", device_type="pytest", user=USER,
                         version=version, policy_key=key, params=params or {},
                         accept_multipart=multipart)
    text, headers = plain_query(request)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls_context(), timeout=30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
    conn.request("POST", "/Microsoft-Server-ActiveSync?" + text,
                 body=encode(body) if body is not None else b"", headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def operations(port, key, *ops, multipart=False):
    status, headers, payload = post(port, "ItemOperations", Element(IO, "ItemOperations", ops),
                                    key=key, multipart=multipart)
    assert status == 200
    if multipart:
        assert headers["content-type"] == "application/vnd.ms-sync.multipart"
        parts = split_multipart(payload)
        return decode(parts[0]), parts
    assert headers["content-type"] == "application/vnd.ms-sync.wbxml"
    return decode(payload), None


def split_multipart(payload: bytes) -> list:
    (count,) = struct.unpack_from("<i", payload, 0)
    parts = []
    for n in range(count):
        offset, length = struct.unpack_from("<ii", payload, 4 + 8 * n)
        parts.append(payload[offset:offset + length])
    assert sum(len(p) for p in parts) + 4 + 8 * count == len(payload)
    return parts


def fetch_message(folder, uid, *options):
    return Element(IO, "Fetch", (Element(IO, "Store", (), "Mailbox"), Element(AS, "CollectionId", (), folder),
                                 Element(AS, "ServerId", (), str(uid)), Element(IO, "Options", options)))


def fetch_file(reference, range_=None):
    options = (Element(IO, "Options", (Element(IO, "Range", (), range_),)),) if range_ else ()
    return Element(IO, "Fetch", (Element(IO, "Store", (), "Mailbox"),
                                 Element(BASE, "FileReference", (), reference), *options))


MIME_OPTIONS = (Element(AS, "MIMESupport", (), "2"),
                Element(BASE, "BodyPreference", (Element(BASE, "Type", (), "4"),)))


def fetches(tree):
    assert tree.find(IO, "Status").text == "1"
    return tree.find(IO, "Response").children


def references(properties) -> dict:
    listed = properties.find(BASE, "Attachments").children
    return {a.find(BASE, "DisplayName").text: a.find(BASE, "FileReference").text for a in listed}


async def _setup(server):
    (uid,) = await server.deliver(MESSAGE)
    box = await server.mailbox()
    return box.id, uid


@pytest_twisted.ensureDeferred
async def test_fetch_message_and_attachments(server):
    folder, uid = await _setup(server)
    await deferToThread(_test_fetch_message_and_attachments, server, folder, uid)


def _test_fetch_message_and_attachments(server, folder, uid):
    port = server.port("eas", tls=True)
    key = provision(port)
    tree, _ = operations(port, key, fetch_message(folder, uid, *MIME_OPTIONS))
    (fetch,) = fetches(tree)
    assert fetch.find(IO, "Status").text == "1" and fetch.find(AS, "Class").text == "Email"
    assert fetch.find(AS, "ServerId").text == str(uid)
    properties = fetch.find(IO, "Properties")
    assert properties.find(EMAIL, "Subject").text == "With files"
    body = properties.find(BASE, "Body")
    assert body.find(BASE, "Type").text == "4" and body.find(BASE, "Truncated").text == "0"
    assert body.find(BASE, "Data").text.encode("utf-8") == MESSAGE

    refs = references(properties)
    assert set(refs) == {"picture.png", "notes.txt"}
    sizes = {a.find(BASE, "DisplayName").text: int(a.find(BASE, "EstimatedDataSize").text)
             for a in properties.find(BASE, "Attachments").children}
    assert sizes == {"picture.png": len(PICTURE), "notes.txt": len(NOTES)}

    tree, _ = operations(port, key, fetch_file(refs["picture.png"]), fetch_file(refs["notes.txt"]))
    picture, notes = fetches(tree)
    for got, expected, kind in ((picture, PICTURE, "image/png"), (notes, NOTES, "text/plain")):
        assert got.find(IO, "Status").text == "1"
        props = got.find(IO, "Properties")
        assert props.find(BASE, "ContentType").text == kind
        assert base64.b64decode(props.find(IO, "Data").text) == expected

    # Byte ranges: a piece, a piece capped at the end, and ranges that are no range.
    tree, _ = operations(port, key, fetch_file(refs["picture.png"], "10-19"),
                         fetch_file(refs["picture.png"], f"{len(PICTURE) - 4}-99999999"),
                         fetch_file(refs["picture.png"], f"{len(PICTURE)}-{len(PICTURE) + 5}"),
                         fetch_file(refs["picture.png"], "9-2"), fetch_file(refs["picture.png"], "x"))
    piece, end, beyond, backwards, junk = fetches(tree)
    props = piece.find(IO, "Properties")
    assert base64.b64decode(props.find(IO, "Data").text) == PICTURE[10:20]
    assert props.find(IO, "Range").text == "10-19" and props.find(IO, "Total").text == str(len(PICTURE))
    props = end.find(IO, "Properties")
    assert base64.b64decode(props.find(IO, "Data").text) == b"tail"
    assert props.find(IO, "Range").text == f"{len(PICTURE) - 4}-{len(PICTURE) - 1}"
    assert [f.find(IO, "Status").text for f in (beyond, backwards, junk)] == ["8", "8", "8"]

    # The message's MIME body in ranges, as a phone downloads a large message.
    options = (*MIME_OPTIONS, Element(IO, "Range", (), "0-1023"))
    tree, _ = operations(port, key, fetch_message(folder, uid, *options))
    (fetch,) = fetches(tree)
    props = fetch.find(IO, "Properties")
    assert props.find(IO, "Total").text == str(len(MESSAGE)) and props.find(IO, "Range").text == "0-1023"
    body = props.find(BASE, "Body")
    assert body.find(BASE, "Data").text.encode() == MESSAGE[:1024]
    assert body.find(BASE, "Truncated").text == "1"


@pytest_twisted.ensureDeferred
async def test_multipart_answers(server):
    folder, uid = await _setup(server)
    await deferToThread(_test_multipart_answers, server, folder, uid)


def _test_multipart_answers(server, folder, uid):
    port = server.port("eas", tls=True)
    key = provision(port)
    tree, _ = operations(port, key, fetch_message(folder, uid))
    refs = references(fetches(tree)[0].find(IO, "Properties"))
    tree, parts = operations(port, key, fetch_message(folder, uid, *MIME_OPTIONS),
                             fetch_file(refs["picture.png"]), fetch_file(refs["notes.txt"], "0-99"),
                             fetch_file("nothing:1:1"), multipart=True)
    message, picture, notes, bad = fetches(tree)
    body = message.find(IO, "Properties").find(BASE, "Body")
    assert body.find(BASE, "Data") is None
    assert parts[int(body.find(IO, "Part").text)] == MESSAGE
    props = picture.find(IO, "Properties")
    assert props.find(IO, "Data") is None and parts[int(props.find(IO, "Part").text)] == PICTURE
    props = notes.find(IO, "Properties")
    assert parts[int(props.find(IO, "Part").text)] == NOTES[:100]
    assert bad.find(IO, "Status").text == "15"
    assert len(parts) == 4


@pytest_twisted.ensureDeferred
async def test_get_attachment_in_12_1(server):
    folder, uid = await _setup(server)
    await deferToThread(_test_get_attachment_in_12_1, server, folder, uid)


def _test_get_attachment_in_12_1(server, folder, uid):
    port = server.port("eas", tls=True)
    key = provision(port)
    tree, _ = operations(port, key, fetch_message(folder, uid))
    refs = references(fetches(tree)[0].find(IO, "Properties"))
    status, headers, payload = post(port, "GetAttachment", key=key, version="12.1",
                                    params={"AttachmentName": refs["picture.png"]})
    assert status == 200 and headers["content-type"] == "image/png" and payload == PICTURE
    status, _, payload = post(port, "GetAttachment", key=key, version="12.1",
                              params={"AttachmentName": refs["notes.txt"]})
    assert status == 200 and payload == NOTES
    for bad in (f"{folder}:{uid}:9", f"{folder}:{uid + 1}:2", "junk"):
        assert post(port, "GetAttachment", key=key, version="12.1",
                    params={"AttachmentName": bad})[0] == 500
    assert post(port, "GetAttachment", key=key, version="12.1")[0] == 400


@pytest_twisted.ensureDeferred
async def test_bad_requests_get_their_status(server, log_capture):
    folder, uid = await _setup(server)
    calendar = next(c for c in await (await server.collections()).list_collections()
                    if c.kind.name == "CALENDAR")
    await deferToThread(_test_bad_requests_get_their_status, server, folder, uid, calendar.id)
    assert not any(e.get("log_failure") for e in log_capture.events), "an error was logged"


def _test_bad_requests_get_their_status(server, folder, uid, calendar):
    port = server.port("eas", tls=True)
    key = provision(port)
    other_store = Element(IO, "Fetch", (Element(IO, "Store", (), "DocumentLibrary"),
                                        Element(AS, "ServerId", (), "1")))
    no_item = Element(IO, "Fetch", (Element(IO, "Store", (), "Mailbox"),))
    tree, _ = operations(port, key,
                         fetch_file(f"{folder}:{uid}:7"), fetch_file(f"{folder}:{uid}:1.2"),
                         fetch_file(f"{folder}:999:2"), fetch_file("x:y:z"), fetch_file(""),
                         fetch_message(folder, 999), fetch_message(folder, "abc"),
                         fetch_message("no-such-folder", uid), fetch_message(calendar, "x.ics"),
                         other_store, no_item)
    statuses = [f.find(IO, "Status").text for f in fetches(tree)]
    assert statuses == ["15", "15", "15", "15", "15", "6", "6", "6", "6", "9", "2"]
    status, _, payload = post(port, "ItemOperations", Element(IO, "Fetch"), key=key)
    assert status == 200 and decode(payload).find(IO, "Status").text == "2"


@pytest_twisted.ensureDeferred
async def test_empty_folder_contents(server):
    mail = await server.store.mail(USER)
    trash = await mail.mailbox("Trash")
    await server.deliver(b"Subject: a\r\n\r\nx\r\n", b"Subject: b\r\n\r\ny\r\n", folder="Trash")
    await mail.create_mailbox("Trash/Old/Older")
    await server.deliver(b"Subject: c\r\n\r\nz\r\n", folder="Trash/Old")
    await deferToThread(_test_empty_folder_contents, server, trash.id)
    assert await trash.uids() == []
    names = {e.name for e in await mail.list_mailboxes()}
    assert "Trash" in names and not any(n.startswith("Trash/") for n in names)


def _test_empty_folder_contents(server, trash):
    port = server.port("eas", tls=True)
    key = provision(port)
    keep = Element(IO, "EmptyFolderContents", (Element(AS, "CollectionId", (), trash),))
    tree, _ = operations(port, key, keep)
    (answer,) = fetches(tree)
    assert answer.find(IO, "Status").text == "1" and answer.find(AS, "CollectionId").text == trash
    assert len(block(server.bodies(folder="Trash"))) == 0
    assert len(block(server.bodies(folder="Trash/Old"))) == 1  # subfolders stay without the option
    everything = Element(IO, "EmptyFolderContents", (Element(AS, "CollectionId", (), trash), Element(
        IO, "Options", (Element(IO, "DeleteSubFolders"),))))
    unknown = Element(IO, "EmptyFolderContents", (Element(AS, "CollectionId", (), "nope"),))
    tree, _ = operations(port, key, everything, unknown)
    assert [a.find(IO, "Status").text for a in fetches(tree)] == ["1", "6"]


EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:io-1\r\n"
         b"DTSTAMP:20261201T000000Z\r\nDTSTART:20261210T100000Z\r\nDTEND:20261210T110000Z\r\n"
         b"SUMMARY:Fetched event\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_fetch_of_a_calendar_item_and_of_a_search_result(server):
    from smsync.model import CollectionKind

    collections = await server.collections()
    info = (await collections.list_collections(CollectionKind.CALENDAR))[0]
    await (await collections.collection(info.name)).put("io-1.ics", EVENT)
    (uid,) = await server.deliver(MESSAGE)
    box = await server.mailbox()
    await deferToThread(_test_fetch_item, server, info.id, box.id, uid)


def _test_fetch_item(server, calendar, inbox, uid):
    port = server.port("eas", tls=True)
    key = provision(port)
    by_long_id = Element(IO, "Fetch", (Element(IO, "Store", (), "Mailbox"),
                                       Element("Search:", "LongId", (), f"{inbox}:{uid}")))
    tree, _ = operations(port, key, fetch_message(calendar, "io-1.ics"), by_long_id)
    event, message = fetches(tree)
    assert event.find(IO, "Status").text == "1" and event.find(AS, "Class").text == "Calendar"
    assert event.find(IO, "Properties").find("Calendar:", "Subject").text == "Fetched event"
    assert message.find(IO, "Status").text == "1"
    assert message.find(IO, "Properties").find("Email:", "Subject").text
