"""Sync beyond the basic rounds: Fetch, the empty and Partial requests, FilterType, an
unknown folder, a lost answer replayed, hanging Sync, and GetItemEstimate -- raw
requests built with our codec against a real server, and pyactivesync's estimate."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import PASSWORD, USER
from tests.protocols.eas.test_eas_endpoint import block, post, provision, server  # noqa: F401

AS, BASE, FH, GIE = "AirSync:", "AirSyncBase:", "FolderHierarchy:", "GetItemEstimate:"

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: s%d\r\n"
           b"Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n\r\n" + b"line of text\r\n" * 200)


def a(tag, *children, text=None):
    return Element(AS, tag, children, text)


def collection(key, folder, *extra):
    return a("Collection", a("SyncKey", text=key), a("CollectionId", text=folder), *extra)


def sync(port, policy, *collections, device="sync01", extra=(), body=True):
    tree = a("Sync", a("Collections", *collections), *extra) if body else None
    status, _, answer = post(port, "Sync", tree, policy_key=policy, device=device)
    assert status == 200
    return answer


def parts(answer):
    """{collection id: Collection element} of a Sync answer."""
    return {c.find(AS, "CollectionId").text: c
            for c in answer.find(AS, "Collections").children}


def ids(coll, tag="Add"):
    commands = coll.find(AS, "Commands")
    return [c.find(AS, "ServerId").text for c in (commands.children if commands else ()) if c.tag == tag]


def inbox_id(port, policy, device):
    _, _, tree = post(port, "FolderSync", Element(FH, "FolderSync", (Element(FH, "SyncKey", (), "0"),)),
                      policy_key=policy, device=device)
    for change in tree.find(FH, "Changes").children:
        if change.tag == "Add" and change.find(FH, "Type").text == "2":
            return change.find(FH, "ServerId").text
    raise AssertionError("no Inbox")


@pytest_twisted.ensureDeferred
async def test_fetch_empty_and_partial_requests_and_estimate(server):
    uids = await server.deliver(*(MESSAGE % i for i in range(12)))
    await deferToThread(_fetch_empty_partial, server, uids)


def _fetch_empty_partial(server, uids):
    port = server.port("eas", tls=True)
    policy = provision(port, device="sync01")
    inbox = inbox_id(port, policy, "sync01")
    key = parts(sync(port, policy, collection("0", inbox)))[inbox].find(AS, "SyncKey").text
    # Estimate before anything is sent: everything.
    status, _, tree = post(port, "GetItemEstimate", Element(GIE, "GetItemEstimate", (
        Element(GIE, "Collections", (Element(GIE, "Collection", (
            Element(AS, "SyncKey", (), key), Element(GIE, "CollectionId", (), inbox))),)),)),
        policy_key=policy, device="sync01")
    assert tree.find(GIE, "Response").find(GIE, "Collection").find(GIE, "Estimate").text == "12"
    options = a("Options", Element(BASE, "BodyPreference", (
        Element(BASE, "Type", (), "1"), Element(BASE, "TruncationSize", (), "100"))))
    first = parts(sync(port, policy, collection(key, inbox, a("WindowSize", text="5"), options)))[inbox]
    assert len(ids(first)) == 5 and first.find(AS, "MoreAvailable") is not None
    body = first.find(AS, "Commands").children[0].find(AS, "ApplicationData").find(BASE, "Body")
    assert body.find(BASE, "Truncated").text == "1"
    # The empty request repeats the last one: window 5, same options, the new key.
    second = parts(sync(port, policy, body=False))[inbox]
    assert len(ids(second)) == 5
    assert second.find(AS, "Commands").children[0].find(AS, "ApplicationData").find(
        BASE, "Body").find(BASE, "Truncated").text == "1"
    # Partial with nothing named: the remembered collection.
    third = parts(sync(port, policy, extra=(a("Partial"),)))[inbox]
    assert len(ids(third)) == 2 and third.find(AS, "MoreAvailable") is None
    # Fetch sends the whole message when no truncation is asked for.
    key = third.find(AS, "SyncKey").text
    whole = a("Options", Element(BASE, "BodyPreference", (Element(BASE, "Type", (), "1"),)))
    fetched = parts(sync(port, policy, collection(key, inbox, a("GetChanges", text="0"), whole, a(
        "Commands", a("Fetch", a("ServerId", text=str(uids[0])))))))[inbox]
    fetch = fetched.find(AS, "Responses").find(AS, "Fetch")
    assert fetch.find(AS, "Status").text == "1"
    data = fetch.find(AS, "ApplicationData").find(BASE, "Body")
    assert data.find(BASE, "Truncated").text == "0" and data.find(BASE, "Data").text.count("line of text") == 200
    missing = parts(sync(port, policy, collection(fetched.find(AS, "SyncKey").text, inbox, a(
        "Commands", a("Fetch", a("ServerId", text="999999"))))))[inbox]
    assert missing.find(AS, "Responses").find(AS, "Fetch").find(AS, "Status").text == "8"


@pytest_twisted.ensureDeferred
async def test_a_device_without_a_remembered_request_must_send_it_whole(server):
    await deferToThread(_no_remembered_request, server)


def _no_remembered_request(server):
    port = server.port("eas", tls=True)
    policy = provision(port, device="sync02")
    answer = sync(port, policy, device="sync02", body=False)
    assert answer.find(AS, "Status").text == "13"
    answer = sync(port, policy, collection("0", "no-such-folder"), device="sync02")
    assert parts(answer)["no-such-folder"].find(AS, "Status").text == "12"
    inbox = inbox_id(port, policy, "sync02")
    key = parts(sync(port, policy, collection("0", inbox), device="sync02"))[inbox].find(AS, "SyncKey").text
    # Mail cannot be added through Sync: the add is refused, the round goes on.
    answer = parts(sync(port, policy, collection(key, inbox, a("Commands", a(
        "Add", a("ClientId", text="c1"), a("ApplicationData", Element("Email:", "Subject", (), "x"))))),
        device="sync02"))[inbox]
    add = answer.find(AS, "Responses").find(AS, "Add")
    assert add.find(AS, "ClientId").text == "c1" and add.find(AS, "Status").text == "6"
    status, _, tree = post(port, "Sync", a("Sync", a("Wait", text="600")), policy_key=policy, device="sync02")
    assert tree.find(AS, "Status").text == "14" and tree.find(AS, "Limit").text == "59"


@pytest_twisted.ensureDeferred
async def test_filter_type_lost_answer_and_hanging_sync(server):
    box = await server.mailbox()
    old = datetime.now(timezone.utc) - timedelta(days=30)
    old_uid = (await box.append(MESSAGE % 1, internal_date=old)).uid
    new_uid = (await box.append(MESSAGE % 2)).uid
    await deferToThread(_filter_replay_hanging, server, old_uid, new_uid)


def _filter_replay_hanging(server, old_uid, new_uid):
    port = server.port("eas", tls=True)
    policy = provision(port, device="sync03")
    inbox = inbox_id(port, policy, "sync03")
    week = a("Options", a("FilterType", text="3"))
    key = parts(sync(port, policy, collection("0", inbox, week), device="sync03"))[inbox].find(AS, "SyncKey").text
    request = collection(key, inbox, week)
    first = parts(sync(port, policy, request, device="sync03"))[inbox]
    assert ids(first) == [str(new_uid)]
    # The answer was lost: the same request again gets the same answer.
    again = parts(sync(port, policy, request, device="sync03"))[inbox]
    assert again == first
    # A stale key (two rounds back) is refused: the device must start over.
    newer = parts(sync(port, policy, collection(first.find(AS, "SyncKey").text, inbox), device="sync03"))[inbox]
    stale = parts(sync(port, policy, request, device="sync03"))[inbox]
    assert stale.find(AS, "Status").text == "3"
    # Hanging Sync: nothing to send, so it waits; a delivery wakes it.
    key = newer.find(AS, "SyncKey").text

    def deliver_later():
        time.sleep(0.5)
        block(server.deliver(MESSAGE % 3))

    threading.Thread(target=deliver_later).start()
    started = time.monotonic()
    woken = parts(sync(port, policy, collection(key, inbox), device="sync03",
                       extra=(a("Wait", text="1"),)))[inbox]
    assert time.monotonic() - started < 5
    assert len(ids(woken)) == 1


@pytest_twisted.ensureDeferred
async def test_pyactivesync_estimates(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await server.deliver(*(MESSAGE % i for i in range(7)))
    await deferToThread(_pyactivesync_estimates, server)


def _pyactivesync_estimates(server):
    from pyactivesync import Client, FolderType

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas-est") as c:
        inbox = next(f for f in c.list_folders() if f.type == FolderType.INBOX)
        first = c.sync_folder(inbox.id)
        assert c.get_item_estimate(inbox.id, first.sync_key) == 7
        page = c.sync_folder(inbox.id, first.sync_key, window_size=5)
        assert c.get_item_estimate(inbox.id, page.sync_key) == 2


@pytest_twisted.ensureDeferred
async def test_a_device_does_not_get_back_what_it_moved(server):
    uids = await server.deliver(MESSAGE % 1, MESSAGE % 2)
    await deferToThread(_moved, server, uids)


def _moved(server, uids):
    from smsync.testing.servers import client_tls_context
    from tests.protocols.eas.eas_client import RawEAS

    phone = RawEAS(server.port("eas", tls=True), USER, PASSWORD, "mover", tls_context=client_tls_context())
    phone.provision()
    phone.folder_sync()
    inbox, sent = phone.folder_of_type(2), phone.folder_of_type(5)
    inbox_key, _ = phone.sync_all(inbox)
    sent_key, _ = phone.sync_all(sent)
    move = Element("Move:", "MoveItems", (Element("Move:", "Move", (
        Element("Move:", "SrcMsgId", (), str(uids[0])), Element("Move:", "SrcFldId", (), inbox),
        Element("Move:", "DstFldId", (), sent))),))
    status, tree = phone.post("MoveItems", move)
    response = tree.find("Move:", "Response")
    assert response.find("Move:", "Status").text == "3"
    after = phone.sync(inbox, inbox_key)
    assert ids(after, "Delete") == []
    assert ids(phone.sync(sent, sent_key)) == []
    # A move made elsewhere still reaches the device.
    block(_move_in_store(server, uids[1]))
    assert ids(phone.sync(inbox, after.find(AS, "SyncKey").text), "Delete") == [str(uids[1])]


async def _move_in_store(server, uid):
    from smsync.model import UIDSet

    box = await server.mailbox()
    await box.move(UIDSet.of([uid]), "Sent")


CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ghost-1\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\n"
        b"TITLE:Boss\r\nEMAIL;TYPE=INTERNET:ann@example.org\r\nEND:VCARD\r\n")


@pytest_twisted.ensureDeferred
async def test_fields_a_device_does_not_support_keep_their_value(server):
    from smsync.model import CollectionKind

    collections = await server.collections()
    info = (await collections.list_collections(CollectionKind.ADDRESSBOOK))[0]
    book = await collections.collection(info.name)
    await book.put("ghost-1.vcf", CARD)
    await book.put("ghost-2.vcf", CARD.replace(b"ghost-1", b"ghost-2"))
    await deferToThread(_ghosts, server, info.id)
    texts = {i.info.name: i.content for i in await book.get(["ghost-1.vcf", "ghost-2.vcf"])}
    # Ghosted: the device never knew the job title, so its edit keeps it.
    assert b"TITLE:Boss" in texts["ghost-1.vcf"] and b"Examplar" in texts["ghost-1.vcf"]
    # Not ghosted (the other device listed no Supported): a field it leaves out is removed.
    assert b"TITLE" not in texts["ghost-2.vcf"] and b"Examplar" in texts["ghost-2.vcf"]


def _ghosts(server, book):
    from smsync.testing.servers import client_tls_context
    from tests.protocols.eas.eas_client import RawEAS, el

    c = "Contacts:"
    for device, supported, name in (("ghosty", True, "ghost-1.vcf"), ("plain", False, "ghost-2.vcf")):
        phone = RawEAS(server.port("eas", tls=True), USER, PASSWORD, device, tls_context=client_tls_context())
        phone.provision()
        phone.folder_sync()
        extra = [el(AS, "Supported", el(c, "FirstName"), el(c, "LastName"), el(c, "Email1Address"))] if supported else []
        key = phone.sync(book, "0", *extra).find(AS, "SyncKey").text
        first = phone.sync(book, key)
        key = first.find(AS, "SyncKey").text
        edit = el(AS, "Change", el(AS, "ServerId", text=name), el(AS, "ApplicationData",
                  el(c, "FirstName", text="Ann"), el(c, "LastName", text="Examplar"),
                  el(c, "Email1Address", text="ann@example.org")))
        answer = phone.sync(book, key, commands=[edit])
        assert answer.find(AS, "Status").text == "1" and answer.find(AS, "Responses") is None


@pytest_twisted.ensureDeferred
async def test_categories_dropped_on_the_device_are_removed(server):
    from smsync.model import FlagMode, UIDSet

    (uid,) = await server.deliver(MESSAGE % 9)
    box = await server.mailbox()
    await box.store_flags(UIDSet.of([uid]), FlagMode.ADD, ["Work", "Family"])
    await deferToThread(_categories, server, uid)
    (info,) = await box.messages(UIDSet.of([uid]))
    assert "Work" in info.flags and "Family" not in info.flags


def _categories(server, uid):
    from smsync.testing.servers import client_tls_context
    from tests.protocols.eas.eas_client import RawEAS, el

    phone = RawEAS(server.port("eas", tls=True), USER, PASSWORD, "cats", tls_context=client_tls_context())
    phone.provision()
    phone.folder_sync()
    inbox = phone.folder_of_type(2)
    key, _ = phone.sync_all(inbox)
    change = el(AS, "Change", el(AS, "ServerId", text=str(uid)), el(AS, "ApplicationData", el(
        "Email:", "Categories", el("Email:", "Category", text="Work"))))
    assert phone.sync(inbox, key, commands=[change]).find(AS, "Status").text == "1"
