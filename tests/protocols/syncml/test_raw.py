"""Raw SyncML messages (built with our codec, POSTed over HTTP to a real server on
127.0.0.1) for what SyncEvolution does not exercise: md5 auth with a bad nonce, a
package split over messages by the client's MaxMsgSize, large objects in MoreData chunks
both ways, and bad input."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.model import CollectionKind
from smsync.protocols.syncml import auth
from smsync.protocols.syncml.message import child, children, text
from smsync.testing.servers import PASSWORD, USER, RunningServers
from tests.protocols.eas.test_eas_endpoint import block
from tests.protocols.syncml.raw import (
    RawSyncML,
    alert,
    b,
    basic_cred,
    commands,
    is_final,
    md5_cred,
    meta,
    mi,
    next_nonce,
    status_of,
)


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("syncml",))))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def url(server) -> str:
    return f"http://127.0.0.1:{server.port('syncml')}/syncml"


def contact(n: int, note: str = "") -> bytes:
    extra = f"NOTE:{note}\r\n" if note else ""
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{n}@test\r\nFN:Person {n}\r\nN:{n};Person;;;\r\n"
            f"EMAIL:p{n}@example.org\r\n{extra}END:VCARD\r\n").encode()


async def _addressbook(server):
    collections = await server.collections()
    found = await collections.list_collections(CollectionKind.ADDRESSBOOK)
    return await collections.collection_by_id(found[0].id)


async def _put(server, *contents: bytes) -> None:
    coll = await _addressbook(server)
    for content in contents:
        await coll.put(uuid.uuid4().hex + ".vcf", content)


async def _contents(server) -> list[bytes]:
    coll = await _addressbook(server)
    infos = await coll.items()
    return [i.content for i in await coll.get([i.name for i in infos])]


def run(fn, *args):
    return deferToThread(fn, *args)


@pytest_twisted.ensureDeferred
async def test_md5_auth_with_a_bad_nonce(server, log_capture):
    await run(_md5, server)
    failed = [line for line in log_capture.lines("smsync.client") if "authentication failed" in line]
    # One line per wrong digest (the bad nonce, then the stale one), as for passwords.
    assert failed == [f"smsync: syncml: authentication failed for {USER} from 127.0.0.1"] * 2


def _md5(server):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-md5")
    secret = auth.md5_secret(USER, PASSWORD)
    # md5 before any basic login: the server cannot check it and asks for basic.
    status, root = client.send(cred=md5_cred(auth.md5_digest(secret, b"")))
    assert status_of(root, "SyncHdr") == ["401"]
    status, root = client.send(cred=basic_cred(USER, PASSWORD))
    assert status == 200 and status_of(root, "SyncHdr") == ["212"]
    nonce = next_nonce(root)
    assert nonce
    # A new session with a digest over the wrong nonce: 401 and a fresh nonce.
    client.new_session()
    status, root = client.send(cred=md5_cred(auth.md5_digest(secret, b"not-the-nonce")))
    assert status_of(root, "SyncHdr") == ["401"]
    fresh = next_nonce(root)
    assert fresh and fresh != nonce
    # The same (stale) nonce again is refused too; the fresh one is taken.
    status, root = client.send(cred=md5_cred(auth.md5_digest(secret, nonce)))
    assert status_of(root, "SyncHdr") == ["401"]
    fresh = next_nonce(root)
    status, root = client.send(cred=md5_cred(auth.md5_digest(secret, fresh)))
    assert status_of(root, "SyncHdr") == ["212"]


def _start(client: RawSyncML, code: int = 201, max_msg=None, client_db="./contacts", db="card"):
    status, root = client.send(alert(client, code, db, None, "n1", client_db),
                               cred=basic_cred(USER, PASSWORD), max_msg=max_msg)
    assert status == 200 and status_of(root, "SyncHdr") == ["212"], root
    assert status_of(root, "Alert") in (["200"], ["508"])
    return root


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
@pytest_twisted.ensureDeferred
async def test_max_msg_size_splits_the_package(server, encoding):
    await _put(server, *(contact(n) for n in range(40)))
    await run(_split, server, encoding)


def _split(server, encoding):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-split", encoding)
    limit = 3000
    _start(client, max_msg=limit)
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts")),
                               max_msg=limit)
    adds, messages = [], 0
    while True:
        messages += 1
        for sync in commands(root, "Sync"):
            adds += children(sync, "Add")
        if is_final(root):
            break
        status, root = client.send(alert(client, 222, "card", None, "x"), final=False, max_msg=limit)
        assert status == 200
    assert messages > 3 and all(size <= limit for size in client.sizes), client.sizes
    guids = {text(add, "Item", "Source", "LocURI") for add in adds}
    assert len(adds) == 40 and len(guids) == 40
    # The client maps them; the server answers the Map.
    mapping = client.cmd("Map", b.loc("Target", "card"), b.loc("Source", "./contacts"),
                         *(b.el("MapItem", b.loc("Target", g), b.loc("Source", f"l{i}"))
                           for i, g in enumerate(sorted(guids))))
    status, root = client.send(mapping, max_msg=limit)
    assert status_of(root, "Map") == ["200"] and is_final(root)


@pytest_twisted.ensureDeferred
async def test_large_object_from_the_client_in_chunks(server):
    big = contact(7, "x" * 9000)
    await run(_chunks_in, server, big)
    assert await _contents(server) == [big]


def _chunks_in(server, big: bytes):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-chunks")
    _start(client)
    pieces = [big[:4000], big[4000:8000], big[8000:]]
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        item = b.el("Item", b.loc("Source", "luid-7"),
                    meta(mi("Size", len(big))) if n == 0 else None,
                    b.leaf("Data", piece.decode()), None if last else b.empty("MoreData"))
        add = client.cmd("Add", meta(mi("Type", "text/vcard")), item)
        sync = client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts"), add)
        status, root = client.send(sync, final=last)
        assert status_of(root, "Add") == (["201"] if last else ["213"]), root


@pytest_twisted.ensureDeferred
async def test_a_chunked_object_of_the_wrong_size_is_refused(server):
    big = contact(8, "y" * 5000)
    await run(_wrong_size, server, big)
    assert await _contents(server) == []


def _wrong_size(server, big: bytes):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-wrong")
    _start(client)
    first = client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", "l8"), meta(mi("Size", len(big) + 10)), b.leaf("Data", big[:3000].decode()),
        b.empty("MoreData")))
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./c"), first),
                               final=False)
    assert status_of(root, "Add") == ["213"]
    rest = client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", "l8"), b.leaf("Data", big[3000:].decode())))
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./c"), rest))
    assert status_of(root, "Add") == ["424"]


@pytest_twisted.ensureDeferred
async def test_large_object_to_the_client_in_chunks(server):
    big = contact(9, "z" * 12000)
    await _put(server, big)
    got = await run(_chunks_out, server)
    assert got == big


def _chunks_out(server) -> bytes:
    client = RawSyncML(url(server), USER, PASSWORD, "raw-out")
    limit = 5000
    # SyncEvolution's database name: its items go as stored (vCard 3.0), so the joined
    # chunks are the stored bytes exactly.
    _start(client, max_msg=limit, client_db="./addressbook", db="addressbook")
    status, root = client.send(client.cmd("Sync", b.loc("Target", "addressbook"),
                                          b.loc("Source", "./addressbook")), max_msg=limit)
    data, chunks = b"", 0
    while True:
        for sync in commands(root, "Sync"):
            for add in children(sync, "Add"):
                item = child(add, "Item")
                d = child(item, "Data")
                data += (d.opaque if d.opaque is not None else (d.text or "").encode())
                chunks += 1
                more = child(item, "MoreData") is not None
                assert more or is_final(root)
        if is_final(root):
            break
        status, root = client.send(client.cmd("Status", b.leaf("MsgRef", 1), b.leaf("CmdRef", 1),
                                              b.leaf("Cmd", "Add"), b.leaf("Data", "213")),
                                   alert(client, 222, "addressbook", None, "x"), final=False, max_msg=limit)
    assert chunks >= 3 and all(size <= limit for size in client.sizes), (chunks, client.sizes)
    return data


@pytest_twisted.ensureDeferred
async def test_bad_input_is_answered_and_changes_nothing(server, log_capture):
    await _put(server, contact(1))
    before = await _contents(server)
    await run(_bad, server)
    assert await _contents(server) == before
    lines = log_capture.lines("smsync.client")
    assert any("malformed message" in line for line in lines), lines
    assert any("no such session" in line for line in lines), lines


def _bad(server):
    import urllib.error
    import urllib.request

    def post(body: bytes, content_type="application/vnd.syncml+xml", path="/syncml"):
        request = urllib.request.Request(f"http://127.0.0.1:{server.port('syncml')}{path}", data=body,
                                         method="POST", headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as e:
            return e.code

    assert post(b"<SyncML><SyncHdr>") == 400
    assert post(b"\x02\x00\x00\x6a\x00\x6d\x6c\x71\x03", "application/vnd.syncml+wbxml") == 400
    assert post(b"<x/>", "text/plain") == 415
    from smsync.protocols.syncml.server import MAX_BODY

    # Past the limit: the site answers 413 and hangs up, maybe before reading it all.
    try:
        assert post(b" " * (MAX_BODY + 1)) == 413
    except urllib.error.URLError:
        pass
    # Below the site's anonymous limit (64 KB) but a real SyncML body bigger than it
    # passes: its credentials are inside.
    assert post(b"<SyncML>" + b" " * 200000 + b"</SyncML>") == 400
    assert post(b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr/><SyncBody/></SyncML>") == 400
    client = RawSyncML(url(server), USER, PASSWORD, "raw-bad")
    status, root = client.send(cred=basic_cred(USER, "wrong"))
    assert status_of(root, "SyncHdr") == ["401"]
    status, root = client.send(client.cmd("Exec", b.el("Item", b.loc("Target", "x"))),
                               cred=basic_cred(USER, PASSWORD))
    assert status_of(root, "Exec") == ["406"]
    # A Delete of an item the device never had, and an unknown database.
    status, root = client.send(alert(client, 200, "nosuchdb", None, "n"))
    assert status_of(root, "Alert") == ["404"]
    client.resp_uri = client.resp_uri.split("?")[0] + "?s=nosuchsession"
    status, _ = client.send(alert(client, 200, "card", None, "n"))
    assert status == 404


@pytest.mark.parametrize("policy, code", [("client-wins", "208"), ("keep-both", "209"),
                                          ("server-wins", "419")])
@pytest_twisted.ensureDeferred
async def test_conflicts_follow_the_device_policy(server, policy, code):
    from smsync.edge.devices import Client
    from smsync.model import ConflictPolicy

    client = RawSyncML(url(server), USER, PASSWORD, "raw-conflict")
    mine = contact(3).replace(b"EMAIL:p3@example.org", b"EMAIL:device@example.org")
    await run(_first_sync, client)
    coll = await _addressbook(server)
    guid = (await coll.items())[0].name
    device_id = Client.syncml("raw-conflict").device_id
    await server.store.devices.set_conflict_policy(USER, device_id, ConflictPolicy(policy))
    await coll.put(guid, contact(3).replace(b"EMAIL:p3@example.org", b"EMAIL:server@example.org"))
    answer = await run(_conflicting_replace, client, mine)
    assert status_of(answer, "Replace") == [code]
    stored = await _contents(server)
    emails = sorted(e for c in stored for e in (b"device@example.org", b"server@example.org") if e in c)
    expected = {"client-wins": [b"device@example.org"], "server-wins": [b"server@example.org"],
                "keep-both": [b"device@example.org", b"server@example.org"]}[policy]
    assert emails == expected


def _first_sync(client) -> None:
    _start(client)
    add = client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", "L3"), b.leaf("Data", contact(3).decode())))
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts"), add))
    assert status_of(root, "Add") == ["201"]
    client.send()  # the client's last package: the session ends


def _conflicting_replace(client, mine: bytes):
    client.new_session()
    status, root = client.send(alert(client, 200, "card", "n1", "n2"), cred=basic_cred(USER, PASSWORD))
    assert status_of(root, "Alert") == ["200"], root
    replace = client.cmd("Replace", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", "L3"), b.leaf("Data", mine.decode())))
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts"),
                                          replace))
    return root


@pytest_twisted.ensureDeferred
async def test_odd_but_well_formed_commands_get_statuses(server, log_capture):
    await _put(server, contact(1))
    before = await _contents(server)
    await run(_odd, server)
    assert await _contents(server) == before
    crashes = [e for e in log_capture.events if e.get("log_failure") is not None]
    assert crashes == []


def _odd(server):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-odd")
    _start(client, code=200)
    odd = [
        client.cmd("Alert"),
        client.cmd("Alert", b.leaf("Data", "abc")),
        client.cmd("Alert", b.leaf("Data", "200"), b.el("Item")),
        client.cmd("Alert", b.leaf("Data", "224")),
        client.cmd("Sync"),
        client.cmd("Sync", b.loc("Target", "card"), client.cmd("Add"), client.cmd("Replace", b.el("Item")),
                   client.cmd("Delete", b.el("Item", b.loc("Target", "no-such-luid"))),
                   client.cmd("Delete", b.empty("SftDel"), b.el("Item", b.loc("Source", "nope"))),
                   client.cmd("Add", meta(mi("Type", "text/x-unknown")), b.el(
                       "Item", b.loc("Source", "u1"), b.leaf("Data", "hello"))),
                   client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
                       "Item", b.loc("Source", "u2"), b.leaf("Data", "not a vcard")))),
        client.cmd("Map"),
        client.cmd("Map", b.loc("Target", "card"), b.el("MapItem")),
        client.cmd("Put"),
        client.cmd("Put", b.el("Item", b.leaf("Data", "not devinf"))),
        client.cmd("Get"),
        client.cmd("Get", b.el("Item", b.loc("Target", "./nothing"))),
        client.cmd("Results"),
        client.cmd("Status"),
        client.cmd("Replace", b.el("Item", b.loc("Source", "x"))),
        client.cmd("Copy"),
    ]
    status, root = client.send(*odd)
    assert status == 200, status
    answered = {text(s, "CmdRef") for s in children(child(root, "SyncBody"), "Status")}
    wanted = {text(c, "CmdID") for c in odd if c.tag != "Status"}
    assert wanted <= answered, wanted - answered


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
@pytest_twisted.ensureDeferred
async def test_server_devinf_lists_every_format(server, encoding):
    from smsync.protocols.syncml import formats
    from smsync.protocols.syncml.codepages import DEVINF_NS

    devinf = await run(_get_devinf, server, encoding)
    stores = {s.find(DEVINF_NS, "SourceRef").text: s for s in devinf.children if s.tag == "DataStore"}
    assert {"addressbook", "calendar", "todo", "card", "event", "task"} <= set(stores)
    for name, kind in (("addressbook", CollectionKind.ADDRESSBOOK), ("calendar", CollectionKind.CALENDAR),
                       ("todo", CollectionKind.TASKS)):
        caps = {c.find(DEVINF_NS, "CTType").text for c in stores[name].children if c.tag == "CTCap"}
        assert caps == {f.mime for f in formats.formats_for(kind)}
    notes = bool(formats.formats_for(CollectionKind.NOTES))
    assert ("memo" in stores) == notes


def _get_devinf(server, encoding):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-devinf", encoding)
    get = client.cmd("Get", meta(mi("Type", "application/vnd.syncml-devinf+xml")),
                     b.el("Item", b.loc("Target", "./devinf12")))
    status, root = client.send(get, cred=basic_cred(USER, PASSWORD))
    assert status_of(root, "Get") == ["200"]
    (results,) = commands(root, "Results")
    data = child(child(results, "Item"), "Data")
    return data.children[0]


@pytest_twisted.ensureDeferred
async def test_soft_delete_keeps_the_item_and_delete_removes_it(server):
    await run(_deletes, server)
    assert [c for c in await _contents(server) if b"FN:Person 4" in c]
    assert not [c for c in await _contents(server) if b"FN:Person 5" in c]


def _deletes(server):
    client = RawSyncML(url(server), USER, PASSWORD, "raw-delete")
    _start(client)
    adds = [client.cmd("Add", meta(mi("Type", "text/vcard")), b.el(
        "Item", b.loc("Source", f"L{n}"), b.leaf("Data", contact(n).decode()))) for n in (4, 5)]
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts"), *adds))
    assert status_of(root, "Add") == ["201", "201"]
    client.send()
    client.new_session()
    status, root = client.send(alert(client, 200, "card", "n1", "n2"), cred=basic_cred(USER, PASSWORD))
    assert status_of(root, "Alert") == ["200"]
    deletes = [client.cmd("Delete", b.empty("SftDel"), b.el("Item", b.loc("Source", "L4"))),
               client.cmd("Delete", b.el("Item", b.loc("Source", "L5"))),
               client.cmd("Delete", b.el("Item", b.loc("Source", "L6")))]
    status, root = client.send(client.cmd("Sync", b.loc("Target", "card"), b.loc("Source", "./contacts"),
                                          *deletes))
    assert status_of(root, "Delete") == ["200", "200", "211"]


@pytest.mark.parametrize("encoding", ["xml", "wbxml"])
@pytest_twisted.ensureDeferred
async def test_syncml_11_client_gets_a_devinf_11(server, encoding):
    await run(_v11, server, encoding)


def _v11(server, encoding):
    from smsync.protocols.syncml.codepages import DEVINF_NS, SYNCML11
    from smsync.protocols.syncml.message import Builder

    b11 = Builder(SYNCML11.namespace)
    client = RawSyncML(url(server), USER, PASSWORD, "raw-v11", encoding, SYNCML11)
    cred = b11.el("Cred", b11.meta(mi("Format", "b64"), mi("Type", "syncml:auth-basic")),
                  b11.leaf("Data", basic_cred(USER, PASSWORD).children[-1].text))
    get = client.cmd("Get", b11.meta(mi("Type", "application/vnd.syncml-devinf+xml")),
                     b11.el("Item", b11.loc("Target", "./devinf11")))
    status, root = client.send(get, cred=cred)
    assert root.namespace == SYNCML11.namespace
    assert [text(s, "Data") for s in children(child(root, "SyncBody"), "Status")] == ["212", "200"]
    (results,) = children(child(root, "SyncBody"), "Results")
    devinf = child(child(results, "Item"), "Data").children[0]
    assert devinf.find(DEVINF_NS, "VerDTD").text == "1.1"
    assert devinf.find(DEVINF_NS, "CTCap") is not None
