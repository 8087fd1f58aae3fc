"""Sessions in memory: found by token or by device and SessionID, ended by the time-out,
bounded per account and in all; answers packed within MaxMsgSize."""

from __future__ import annotations

from smsync.protocols.syncml import codec
from smsync.protocols.syncml.codepages import SYNCML12
from smsync.protocols.syncml.message import Builder, child, children
from smsync.protocols.syncml.session import Sessions


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _open(sessions, device, sid="1"):
    return sessions.open(device_uri=device, session_id=sid, version=SYNCML12, encoding="xml",
                         server_uri="http://s/syncml")


def test_sessions_are_found_and_time_out():
    clock = Clock()
    sessions = Sessions(clock=clock, timeout=300)
    s = _open(sessions, "dev")
    assert sessions.by_token(s.token) is s and sessions.by_device("dev", "1") is s
    clock.now += 299
    assert sessions.by_token(s.token) is s  # a message keeps it alive
    clock.now += 301
    assert sessions.by_token(s.token) is None and sessions.by_device("dev", "1") is None
    assert len(sessions) == 0


def test_sessions_are_bounded_per_account_and_in_all():
    clock = Clock()
    sessions = Sessions(clock=clock, per_account=3, max_sessions=10)
    opened = []
    for n in range(5):
        s = _open(sessions, f"dev{n}")
        s.account = "alice@example.org"
        sessions.authenticated(s)
        opened.append(s)
    alive = [s for s in opened if sessions.by_token(s.token) is s]
    assert alive == opened[-3:]
    for n in range(20):
        _open(sessions, f"stranger{n}")
    assert len(sessions) == 10


def test_pack_honours_max_msg_size_and_says_final_at_the_end():
    sessions = Sessions()
    s = _open(sessions, "dev")
    s.max_msg_size = 2500
    b = Builder(SYNCML12.namespace)
    from smsync.protocols.syncml.session import DbSync

    s.dbs["card"] = DbSync("card", "./c", None, "id", 200, None, None, "1", "text/vcard")
    for n in range(30):
        s.queue(b.el("Add", b.el("Item", b.loc("Source", f"g{n}"), b.leaf("Data", "BEGIN:VCARD " + "x" * 100))),
                "card")
    s.queue(b.el("Add", b.el("Item", b.loc("Source", "big"), b.leaf("Data", "y" * 6000))), "card")
    got, messages = [], 0
    while True:
        data = s.pack([], final_when_empty=True)
        messages += 1
        assert len(data) <= 2500
        body = child(codec.decode(data, "xml").root, "SyncBody")
        for sync in children(body, "Sync"):
            got += children(sync, "Add")
        if child(body, "Final") is not None:
            break
        assert messages < 50
    sources = [child(child(a, "Item"), "Source") for a in got]
    assert len({child(x, "LocURI").text for x in sources}) == 31
    big = "".join(child(child(a, "Item"), "Data").text for a in got
                  if child(child(child(a, "Item"), "Source"), "LocURI").text == "big")
    assert big == "y" * 6000
