"""FolderCreate, FolderUpdate and FolderDelete against a real server: raw WBXML built with
our codec and pyactivesync; each answers the next hierarchy sync key, and the next
FolderSync does not send the device its own changes again."""

from __future__ import annotations

import pytest
import pytest_twisted
from test_eas_endpoint import FH, block, folder_sync, post, provision
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.model import PROP_DISPLAYNAME, CollectionKind
from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import PASSWORD, USER, RunningServers


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def request(command: str, **fields) -> Element:
    return Element(FH, command, tuple(Element(FH, tag, (), value) for tag, value in fields.items()))


def answer(port, key, command, **fields):
    status, _, tree = post(port, command, request(command, **fields), policy_key=key)
    assert status == 200 and tree.tag == command
    get = (lambda tag: tree.find(FH, tag).text if tree.find(FH, tag) is not None else None)
    return get("Status"), get("SyncKey"), get("ServerId")


def hierarchy(port, key, sync_key):
    _, _, tree = post(port, "FolderSync", folder_sync(sync_key), policy_key=key)
    assert tree.find(FH, "Status").text == "1"
    return tree.find(FH, "SyncKey").text, [c for c in tree.find(FH, "Changes").children if c.tag != "Count"]


def _names(server):
    async def names():
        mail = await server.store.mail(USER)
        collections = await server.store.collections(USER)
        return ({e.name for e in await mail.list_mailboxes()},
                {(i.kind, i.properties.get(PROP_DISPLAYNAME)) for i in await collections.list_collections()})

    return block(names())


@pytest_twisted.ensureDeferred
async def test_create_update_delete_with_hierarchy_keys(server):
    await deferToThread(_test_folder_ops, server)


def _test_folder_ops(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    sync_key, first = hierarchy(port, key, "0")
    ids = {a.find(FH, "DisplayName").text: a.find(FH, "ServerId").text for a in first}

    status, k1, projects = answer(port, key, "FolderCreate", SyncKey=sync_key, ParentId="0",
                                  DisplayName="Projects", Type="12")
    assert status == "1" and k1 != sync_key and projects
    status, k2, sub = answer(port, key, "FolderCreate", SyncKey=k1, ParentId=projects,
                             DisplayName="2027", Type="12")
    assert status == "1"
    status, k3, trips = answer(port, key, "FolderCreate", SyncKey=k2, ParentId="0",
                               DisplayName="Trips", Type="13")
    assert status == "1"
    mail_names, collections = _names(server)
    assert {"Projects", "Projects/2027"} <= mail_names
    assert (CollectionKind.CALENDAR, "Trips") in collections

    # The device's own folders are not sent back to it.
    k4, changes = hierarchy(port, key, k3)
    assert changes == [] and k4 == k3

    # Refusals: an old key, a name taken, no such parent, a special folder, bad input.
    assert answer(port, key, "FolderCreate", SyncKey=k1, ParentId="0", DisplayName="X", Type="12")[0] == "9"
    assert answer(port, key, "FolderCreate", SyncKey=k3, ParentId="0", DisplayName="Projects", Type="12")[0] == "2"
    assert answer(port, key, "FolderCreate", SyncKey=k3, ParentId="0", DisplayName="Trips", Type="13")[0] == "2"
    assert answer(port, key, "FolderCreate", SyncKey=k3, ParentId="nope", DisplayName="X", Type="12")[0] == "5"
    assert answer(port, key, "FolderCreate", SyncKey=k3, ParentId="0", DisplayName="a/b", Type="12")[0] == "10"
    assert answer(port, key, "FolderCreate", SyncKey=k3, ParentId="0", DisplayName="X")[0] == "10"
    assert answer(port, key, "FolderUpdate", SyncKey=k3, ServerId=ids["Inbox"], ParentId="0",
                  DisplayName="Mine")[0] == "3"
    assert answer(port, key, "FolderUpdate", SyncKey=k3, ServerId="nope", ParentId="0",
                  DisplayName="Mine")[0] == "4"
    assert answer(port, key, "FolderDelete", SyncKey=k3, ServerId=ids["Calendar"])[0] == "3"
    assert answer(port, key, "FolderDelete", SyncKey=k3, ServerId=ids["Sent"])[0] == "3"

    # Rename and move under another parent; rename a calendar.
    status, k5, _ = answer(port, key, "FolderUpdate", SyncKey=k3, ServerId=sub, ParentId="0",
                           DisplayName="Year 2027")
    assert status == "1"
    status, k6, _ = answer(port, key, "FolderUpdate", SyncKey=k5, ServerId=trips, ParentId="0",
                           DisplayName="Journeys")
    assert status == "1"
    mail_names, collections = _names(server)
    assert "Year 2027" in mail_names and "Projects/2027" not in mail_names
    assert (CollectionKind.CALENDAR, "Journeys") in collections
    assert hierarchy(port, key, k6)[1] == []

    # A change made elsewhere meanwhile still reaches the device.
    block(_create_elsewhere(server))
    status, k7, _ = answer(port, key, "FolderDelete", SyncKey=k6, ServerId=projects)
    assert status == "1"
    status, k8, _ = answer(port, key, "FolderDelete", SyncKey=k7, ServerId=trips)
    assert status == "1"
    mail_names, collections = _names(server)
    assert "Projects" not in mail_names and "Projects/Elsewhere" not in mail_names
    assert (CollectionKind.CALENDAR, "Journeys") not in collections
    k9, changes = hierarchy(port, key, k8)
    # Elsewhere was made and deleted (with its parent) before the device heard of it.
    assert changes == [] and k9 == k8
    block(_create_elsewhere(server, "Later"))
    k10, changes = hierarchy(port, key, k9)
    assert [(c.tag, c.find(FH, "DisplayName").text) for c in changes] == [("Add", "Later")]

    # A fresh device (key 0) sees each folder once.
    _, every = hierarchy(port, key, "0")
    shown = [c.find(FH, "DisplayName").text for c in every]
    assert len(shown) == len(set(shown)) and "Year 2027" in shown and "Journeys" not in shown


async def _create_elsewhere(server, name="Projects/Elsewhere"):
    mail = await server.store.mail(USER)
    await mail.create_mailbox(name)


@pytest_twisted.ensureDeferred
async def test_pyactivesync_folder_ops(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await deferToThread(_test_pyactivesync_folder_ops, server)


def _test_pyactivesync_folder_ops(server):
    from pyactivesync import Client, FolderType

    # pyactivesync 0.17 names the types from 12 on one off from MS-ASCMD 2.2.3.186.3
    # (its USER_MAIL is 13): the numbers are what the protocol means.
    user_mail, user_tasks = FolderType(12), FolderType(15)
    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas30") as c:
        made = c.create_folder("Receipts", type=user_mail)
        tasks = c.create_folder("Chores", type=user_tasks)
        c.update_folder(made.id, "Receipts 2027")
        c.delete_folder(tasks.id)
        names = {f.name: f for f in c.list_folders()}
    assert "Receipts 2027" in names and "Chores" not in names
    assert names["Receipts 2027"].type == user_mail
    assert (CollectionKind.TASKS, "Chores") not in _names(server)[1]
