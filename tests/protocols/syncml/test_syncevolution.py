"""Two SyncEvolution devices on one account (Debian's client, file backends) against a
real server on 127.0.0.1, in XML and in WBXML: a slow first sync that doubles nothing,
edits and deletes on both sides reaching the other, a conflict resolved by the device's
policy (server wins by default), a no-op sync changing nothing, a refresh from the
server, and a device deleted from the devices list starting over without duplicates.

Needs ``syncevolution`` and gcc (for the curl shim, see ``syncevo``): skipped with the
reason without them, a failure under CI=true.
"""

from __future__ import annotations

import re

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.model import CollectionKind
from smsync.protocols.syncml import formats
from smsync.testing.servers import PASSWORD, USER, RunningServers
from tests.protocols.eas.test_eas_endpoint import block
from tests.protocols.syncml import syncevo


def vcard(name: str, email: str, extra: str = "") -> bytes:
    first, last = name.split()
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nN:{last};{first};;;\r\nFN:{name}\r\n"
            f"EMAIL:{email}\r\n{extra}END:VCARD\r\n").encode()


def vevent(uid: str, summary: str, day: int) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202612{day:02d}T090000Z\r\n"
            f"DTEND:202612{day:02d}T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def vtodo(uid: str, summary: str) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n").encode()


def memo(text: str) -> bytes:
    return text.encode() + b"\n"


@pytest.fixture
def server():
    syncevo.require()
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("syncml",))))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def _databases():
    dbs = ["addressbook", "calendar", "todo"]
    if formats.lookup(CollectionKind.NOTES, "text/plain") is not None:
        dbs.append("memo")  # notes work once their format is registered
    return tuple(dbs)


async def _stored(server, kind: CollectionKind) -> list[bytes]:
    collections = await server.collections()
    found = await collections.list_collections(kind)
    coll = await collections.collection_by_id(found[0].id)
    infos = await coll.items()
    return [i.content for i in await coll.get([i.name for i in infos])]


def stored(server, kind) -> list[bytes]:
    return block(_stored(server, kind))


def names(items) -> list[str]:
    """The FN / SUMMARY / first line of each item, sorted."""
    out = []
    for content in items:
        text = content.decode("utf-8", "replace")
        found = re.search(r"^(?:FN|SUMMARY):(.*?)\r?$", text, re.M)
        out.append(found.group(1) if found else text.strip().splitlines()[0])
    return sorted(out)


def device_names(device, db) -> list[str]:
    return names(device.items(db).values())


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
@pytest_twisted.ensureDeferred
async def test_two_devices(server, tmp_path, encoding, log_capture):
    await deferToThread(_two_devices, server, tmp_path, encoding == "wbxml")
    # SyncEvolution tries md5 first: each device is asked for basic once (and A again
    # after it was deleted, which forgot its md5 secret); every other session logged
    # in with md5 and the nonce the server gave it.
    lines = log_capture.lines("smsync.client")
    assert len([line for line in lines if "asking for basic" in line]) == 3, lines
    assert not [line for line in lines if "authentication failed" in line], lines


def _two_devices(server, root, wbxml):
    url = f"http://127.0.0.1:{server.port('syncml')}/syncml"
    dbs = _databases()
    a = syncevo.Device(root, "phone-a", url, USER, PASSWORD, wbxml=wbxml, databases=dbs)
    b = syncevo.Device(root, "phone-b", url, USER, PASSWORD, wbxml=wbxml, databases=dbs)
    KINDS = {"addressbook": CollectionKind.ADDRESSBOOK, "calendar": CollectionKind.CALENDAR,
             "todo": CollectionKind.TASKS, "memo": CollectionKind.NOTES}

    # -- first (slow) syncs: A brings its items; B brings one of the same and its own.
    a.write("addressbook", "ada", vcard("Ada Lovelace", "ada@example.org"))
    a.write("addressbook", "alan", vcard("Alan Turing", "alan@example.org"))
    a.write("calendar", "standup", vevent("standup@a", "Standup", 10))
    a.write("todo", "taxes", vtodo("taxes@a", "File taxes"))
    b.write("addressbook", "ada-too", vcard("Ada Lovelace", "ada@example.org"))
    b.write("calendar", "review", vevent("review@b", "Review", 11))
    if "memo" in dbs:
        a.write("memo", "m1", memo("Buy milk"))
    a.sync()
    b.sync()
    a.sync()
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == ["Ada Lovelace", "Alan Turing"]
    assert names(stored(server, CollectionKind.CALENDAR)) == ["Review", "Standup"]
    for device in (a, b):
        assert device_names(device, "addressbook") == ["Ada Lovelace", "Alan Turing"]
        assert device_names(device, "calendar") == ["Review", "Standup"]
        assert device_names(device, "todo") == ["File taxes"]
        if "memo" in dbs:
            assert device_names(device, "memo") == ["Buy milk"]

    # -- a no-op sync changes nothing, on the server or the device.
    before = {kind: stored(server, kind) for kind in KINDS.values()}
    files = {db: a.items(db) for db in dbs}
    a.sync()
    assert {kind: stored(server, kind) for kind in KINDS.values()} == before
    assert {db: a.items(db) for db in dbs} == files

    # -- edits and deletes on both sides reach the other.
    alan = _file_named(a, "addressbook", "Alan Turing")
    a.write("addressbook", alan, vcard("Alan Turing", "turing@example.org"))
    review = _file_named(b, "calendar", "Review")
    b.delete("calendar", review)
    b.write("todo", "new", vtodo("milk@b", "Buy milk"))
    a.sync()
    b.sync()
    a.sync()
    assert b"turing@example.org" in b.items("addressbook")[_file_named(b, "addressbook", "Alan Turing")]
    assert device_names(a, "calendar") == ["Standup"]
    assert names(stored(server, CollectionKind.CALENDAR)) == ["Standup"]
    assert device_names(a, "todo") == ["Buy milk", "File taxes"]

    # -- a conflict: both change Ada; A syncs first; B's change meets the server's
    # newer version and the server wins (the default policy): B gets A's version.
    a.write("addressbook", _file_named(a, "addressbook", "Ada Lovelace"),
            vcard("Ada Lovelace", "ada@a.example.org"))
    b.write("addressbook", _file_named(b, "addressbook", "Ada Lovelace"),
            vcard("Ada Lovelace", "ada@b.example.org"))
    a.sync()
    b.sync()
    ada = [c for c in stored(server, CollectionKind.ADDRESSBOOK) if b"Ada" in c]
    assert len(ada) == 1 and b"ada@a.example.org" in ada[0]
    assert b"ada@a.example.org" in b.items("addressbook")[_file_named(b, "addressbook", "Ada Lovelace")]

    # -- refresh from the server: B's local-only junk goes, the server's set arrives.
    b.write("addressbook", "junk", vcard("Junk Item", "junk@example.org"))
    b.sync("refresh-from-server")
    assert device_names(b, "addressbook") == ["Ada Lovelace", "Alan Turing"]
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == ["Ada Lovelace", "Alan Turing"]

    # -- A deleted from the devices list: its next session is slow and doubles nothing.
    devices = block(server.store.devices.list(USER))
    mine = [d for d in devices if d.protocol == "syncml"]
    assert len(mine) == 2
    log = block(server.store.devices.get_log(USER, mine[0].device_id))
    assert any(re.search(r"addressbook: two-way sync: from device \d+ added", e.message) for e in log), \
        [e.message for e in log]
    device_a = next(d for d in mine if d.device_id == _device_id("phone-a"))
    # Maker and model come from the device's DevInf.
    assert device_a.user_agent == "Patrick Ohly SyncEvolution/3.4.0.47", device_a
    block(server.store.devices.remove(USER, device_a.device_id))
    a.sync()
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == ["Ada Lovelace", "Alan Turing"]
    assert device_names(a, "addressbook") == ["Ada Lovelace", "Alan Turing"]
    assert names(stored(server, CollectionKind.CALENDAR)) == ["Standup"]
    assert device_names(a, "todo") == ["Buy milk", "File taxes"]


def _device_id(locuri: str) -> str:
    from smsync.edge.devices import Client

    return Client.syncml(locuri).device_id


def _file_named(device, db: str, name: str) -> str:
    for file, content in device.items(db).items():
        if names([content]) == [name]:
            return file
    raise AssertionError(f"{name} not on {device.name}: {device.items(db)}")


@pytest_twisted.ensureDeferred
async def test_many_items_over_several_messages(server, tmp_path):
    """300 contacts: the client's slow sync and the server's answer to a second device
    each take several messages (SyncEvolution's MaxMsgSize is 150,000 bytes)."""
    await deferToThread(_many, server, tmp_path)


def _many(server, root):
    url = f"http://127.0.0.1:{server.port('syncml')}/syncml"
    a = syncevo.Device(root, "bulk-a", url, USER, PASSWORD, databases=("addressbook",))
    note = "NOTE:" + "lorem ipsum " * 40 + "\r\n"
    for n in range(300):
        a.write("addressbook", f"c{n}", vcard(f"Person No{n}", f"p{n}@example.org", note))
    a.sync()
    assert len(stored(server, CollectionKind.ADDRESSBOOK)) == 300
    b = syncevo.Device(root, "bulk-b", url, USER, PASSWORD, wbxml=True, databases=("addressbook",))
    b.sync()
    assert len(b.items("addressbook")) == 300
    a.sync()
    assert len(stored(server, CollectionKind.ADDRESSBOOK)) == 300 and len(a.items("addressbook")) == 300


@pytest_twisted.ensureDeferred
async def test_one_way_and_refresh_from_the_client(server, tmp_path):
    await deferToThread(_one_way, server, tmp_path)


def _one_way(server, root):
    url = f"http://127.0.0.1:{server.port('syncml')}/syncml"
    a = syncevo.Device(root, "oneway-a", url, USER, PASSWORD, databases=("addressbook",))
    b = syncevo.Device(root, "oneway-b", url, USER, PASSWORD, databases=("addressbook",))
    a.write("addressbook", "1", vcard("Ada Lovelace", "ada@example.org"))
    a.sync()
    b.sync()
    # One way from the client: B's new contact goes up, the server's news stay up.
    a.write("addressbook", "2", vcard("Alan Turing", "alan@example.org"))
    a.sync()
    b.write("addressbook", "3", vcard("Grace Hopper", "grace@example.org"))
    b.sync("one-way-from-client")
    assert device_names(b, "addressbook") == ["Ada Lovelace", "Grace Hopper"]
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    # One way from the server: A's local edit stays local, the server's news come down.
    a.write("addressbook", "4", vcard("Local Only", "local@example.org"))
    a.sync("one-way-from-server")
    assert device_names(a, "addressbook") == ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Local Only"]
    assert "Local Only" not in names(stored(server, CollectionKind.ADDRESSBOOK))
    # Refresh from the client: the server ends up with exactly B's contacts.
    b.sync("refresh-from-client")
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == device_names(b, "addressbook")


@pytest_twisted.ensureDeferred
async def test_device_deleted_with_the_cli_starts_over(tmp_path):
    """``smsync devices list/log/delete`` on the store a running server uses (SQLite): the
    device is listed with its maker and model and its per-database log lines; once
    deleted its next session is slow and doubles nothing."""
    syncevo.require()
    from smsync.testing.servers import SQLITE

    server = await RunningServers.start(("syncml",), SQLITE)
    try:
        await deferToThread(_cli_delete, server, tmp_path)
    finally:
        await server.stop()


def _cli_delete(server, root):
    import subprocess
    import sys
    from pathlib import Path

    smsync = str(Path(sys.executable).with_name("smsync"))

    def cli(*args):
        done = subprocess.run([smsync, "devices", *args, "--store", server.store_uri], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    url = f"http://127.0.0.1:{server.port('syncml')}/syncml"
    a = syncevo.Device(root, "cli-a", url, USER, PASSWORD, databases=("addressbook", "calendar"))
    a.write("addressbook", "ada", vcard("Ada Lovelace", "ada@example.org"))
    a.write("calendar", "standup", vevent("standup@a", "Standup", 10))
    a.sync()
    a.sync()
    device = _device_id("cli-a")
    listing = cli("list", USER)
    assert device in listing and "SyncEvolution" in listing, listing
    log = cli("log", USER, device)
    assert "addressbook: slow sync: from device 1 added" in log, log
    assert "calendar: two-way sync: from device 0 added, 0 replaced, 0 deleted" in log, log
    cli("delete", USER, device)
    assert device not in cli("list", USER)
    a.sync()
    assert names(stored(server, CollectionKind.ADDRESSBOOK)) == ["Ada Lovelace"]
    assert names(stored(server, CollectionKind.CALENDAR)) == ["Standup"]
    assert device_names(a, "addressbook") == ["Ada Lovelace"]
    assert device_names(a, "calendar") == ["Standup"]
    assert "slow sync" in cli("log", USER, device)
