"""The sync state survives its byte encoding; anything else decodes to "start over"."""

import json
from datetime import timezone

from hypothesis import given, strategies as st

from smsync.model import Item, ItemInfo, MessageInfo
from smsync.sync.state import Cursor, Retry, SyncState, UIDRanges, uid_ranges
from smsync.sync.types import ADD, CHANGE, DELETE, ChangeResult, ServerChange, SyncResult, SyncStatus

_uids = st.integers(1, 2**32 - 1).map(str)
_names = st.text(min_size=1, max_size=20)


@st.composite
def cursors(draw, mail):
    ids = _uids if mail else _names
    known = draw(st.sets(ids, max_size=30))
    seen = draw(st.dictionaries(ids, st.integers(0, 10**9), max_size=10))
    stale = draw(st.sets(ids, max_size=5))
    return Cursor(draw(st.integers(0, 10**9)), known, seen, stale)


_when = st.datetimes(timezones=st.just(timezone.utc))


@st.composite
def answers(draw):
    changes = []
    for op in draw(st.lists(st.sampled_from([ADD, CHANGE, DELETE]), max_size=4)):
        sid = draw(_uids)
        if op == DELETE:
            changes.append(ServerChange(op, sid))
        elif draw(st.booleans()):
            flags = draw(st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "$Label1"])))
            changes.append(ServerChange(op, sid, message=MessageInfo(
                int(sid), flags, draw(_when), draw(_when), draw(st.integers(0, 10**9)), 5)))
        else:
            info = ItemInfo(sid, "uid", '"e"', 3, 10, "VEVENT")
            changes.append(ServerChange(op, sid, item=Item(info, draw(st.binary(max_size=50)))))
    results = [ChangeResult(draw(st.sampled_from(list(SyncStatus))), draw(st.none() | _names),
                            draw(st.none() | _names), draw(st.none() | _names))
               for _ in range(draw(st.integers(0, 3)))]
    return SyncResult("3-abc", results, changes, draw(st.booleans()))


@given(st.sampled_from(["mail", "collection"]).flatmap(
    lambda kind: st.tuples(st.just(kind), cursors(kind == "mail"), cursors(kind == "mail"))),
    answers(), st.booleans())
def test_round_trip(kinds, answer, with_retry):
    kind, cursor, snapshot = kinds
    state = SyncState(kind, "abcd", 7, 42 if kind == "mail" else None, cursor)
    if with_retry:
        state.retry = Retry("6-abcd", "f" * 64, snapshot, {"c1": ["5", 9]}, answer)
    assert SyncState.from_bytes(state.to_bytes()) == state


@given(st.binary(max_size=200))
def test_garbage_is_start_over(data):
    # Whatever a registry hands back, decoding never raises: at worst the device starts over.
    decoded = SyncState.from_bytes(data)
    assert decoded is None or decoded.to_bytes()


@given(st.sampled_from(["counter", "cursor", "retry", "kind", "epoch"]),
       st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)))
def test_damaged_field_is_start_over_or_still_valid(field, value):
    state = SyncState.fresh("mail", 7)
    state.retry = Retry("0", "f", Cursor(), {}, SyncResult("1-x"))
    doc = json.loads(state.to_bytes())
    doc[field] = value
    decoded = SyncState.from_bytes(json.dumps(doc).encode())
    assert decoded is None or SyncState.from_bytes(decoded.to_bytes()) == decoded


def test_wrong_version_is_start_over():
    assert SyncState.from_bytes(b'{"v": 99}') is None


@given(st.sets(st.integers(1, 5000)))
def test_uid_ranges_cover_exactly(uids):
    ranges = uid_ranges(uids)
    assert {u for lo, hi in ranges for u in range(lo, hi + 1)} == uids
    assert all(b[0] > a[1] + 1 for a, b in zip(ranges, ranges[1:]))


def test_cursor_hold_and_advance():
    c = Cursor(base=10)
    c.hold("a", 12)
    c.hold("b", 9)
    assert c.has("a", 12) and not c.has("a", 13) and c.has("b", 9)
    c.advance(12)
    assert c.seen == {} and c.has("a", 12)
    c.spoil("a")
    assert not c.has("a", 12)
    c.hold("a", 12)
    assert c.has("a", 12)
    c.drop("a")
    assert not c.has("a", 5)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 60))))
def test_uid_ranges_behave_as_a_set(ops):
    ranges, plain = UIDRanges(), set()
    for add, uid in ops:
        if add:
            ranges.add(str(uid))
            plain.add(str(uid))
        else:
            ranges.discard(str(uid))
            plain.discard(str(uid))
        assert ranges == plain
    assert all(str(u) in ranges for u in map(int, plain))
    assert set(ranges) == plain and len(ranges) == len(plain)
    assert UIDRanges(ranges.ranges()) == ranges
    assert ranges.ranges() == uid_ranges(int(u) for u in plain)
    assert "x" not in ranges and "-1" not in ranges
