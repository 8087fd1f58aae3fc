"""MoveItems against a real server: raw WBXML built with our codec and pyactivesync's
move_item; the store shows where the message went, and the answer names its new id."""

from __future__ import annotations

import pytest
import pytest_twisted
from test_compose import folder_ids
from test_eas_endpoint import block, post, provision
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import PASSWORD, USER, RunningServers

MOVE = "Move:"


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def moves(*triples) -> Element:
    return Element(MOVE, "MoveItems", tuple(
        Element(MOVE, "Move", (Element(MOVE, "SrcMsgId", (), msg), Element(MOVE, "SrcFldId", (), src),
                               Element(MOVE, "DstFldId", (), dst)))
        for msg, src, dst in triples))


@pytest_twisted.ensureDeferred
async def test_move_items_moves_and_answers_the_new_id(server):
    uids = await server.deliver(*(f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode() for n in range(3)))
    await server.deliver(b"Subject: filler\r\n\r\nx\r\n", folder="Archive")
    await deferToThread(_test_move_items, server, uids)


def _test_move_items(server, uids):
    port = server.port("eas", tls=True)
    key = provision(port)
    ids = folder_ids(port, key)
    inbox, archive, calendar = ids["Inbox"], ids["Archive"], ids["Calendar"]
    status, _, tree = post(port, "MoveItems", moves(
        (str(uids[0]), inbox, archive), (str(uids[1]), inbox, archive), ("999", inbox, archive),
        (str(uids[2]), inbox, "no-such-folder"), (str(uids[2]), inbox, inbox),
        ("1", calendar, inbox), ("1", "no-such-folder", inbox)), policy_key=key)
    assert status == 200
    answers = [(r.find(MOVE, "SrcMsgId").text, r.find(MOVE, "Status").text,
                r.find(MOVE, "DstMsgId").text if r.find(MOVE, "DstMsgId") else None)
               for r in tree.children]
    assert [a[1] for a in answers] == ["3", "3", "1", "2", "4", "5", "1"]
    assert answers[0][0] == str(uids[0]) and answers[0][2] is not None
    assert all(a[2] is None for a in answers[2:])
    moved = {int(answers[0][2]), int(answers[1][2])}

    async def where():
        inbox_box, archive_box = await server.mailbox(), await server.mailbox("Archive")
        return await inbox_box.uids(), {u: await archive_box.read_body(u) for u in await archive_box.uids()}

    left, archived = block(where())
    assert left == [uids[2]]
    assert moved <= set(archived) and len(archived) == 3
    assert {archived[u].split(b"\r\n")[0] for u in moved} == {b"Subject: m0", b"Subject: m1"}
    # Moved already: the same request again finds no such message.
    _, _, again = post(port, "MoveItems", moves((str(uids[0]), inbox, archive)), policy_key=key)
    assert again.find(MOVE, "Response").find(MOVE, "Status").text == "1"
    assert post(port, "MoveItems", Element(MOVE, "MoveItems"), policy_key=key)[0] == 400


@pytest_twisted.ensureDeferred
async def test_pyactivesync_move_item(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    [uid] = await server.deliver(b"Subject: to trash\r\n\r\nx\r\n")
    await deferToThread(_test_pyactivesync_move_item, server, uid)


def _test_pyactivesync_move_item(server, uid):
    from pyactivesync import Client, FolderType

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas20") as c:
        folders = {f.type: f for f in c.list_folders()}
        new_id = c.move_item(str(uid), folders[FolderType.INBOX].id, folders[FolderType.DELETED_ITEMS].id)

    async def trash():
        return await (await server.mailbox("Trash")).uids()

    assert block(trash()) == [int(new_id)]
