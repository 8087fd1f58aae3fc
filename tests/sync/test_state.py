"""The sync state survives its byte encoding; anything else decodes to "start over"."""

import json
from datetime import timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from smsync.model import Item, ItemInfo, MessageInfo
from smsync.sync.state import Cursor, Retry, SyncState, UIDRanges, bare, uid_ranges
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


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["mail", "collection"]).flatmap(
    lambda kind: st.tuples(st.just(kind), cursors(kind == "mail"), cursors(kind == "mail"))),
    answers(), st.booleans())
def test_round_trip(kinds, answer, with_retry):
    # Everything survives but the contents of the answer's items, which a replay reads
    # again (the adapter's tests check the replay).
    kind, cursor, snapshot = kinds
    state = SyncState(kind, "abcd", 7, 42 if kind == "mail" else None, cursor)
    if with_retry:
        state.retry = Retry("6-abcd", "f" * 64, snapshot, {"c1": ["5", 9]}, answer)
    decoded = SyncState.from_bytes(state.to_bytes())
    if with_retry:
        state.retry.answer = bare(answer)
    assert decoded == state
    assert SyncState.from_bytes(decoded.to_bytes()) == decoded


def test_retry_costs_a_window_not_the_collection():
    # A calendar of 5,000 items the device holds, a round that sent 100 of them: the
    # saved state names each held item once (the cursor), not again for the snapshot,
    # and keeps none of the 100 items' contents.
    held = {f"event-{i}.ics" for i in range(5000)}
    before = Cursor(10, held - {f"event-{i}.ics" for i in range(100)}, {}, set())
    content = b"BEGIN:VCALENDAR\r\n" + b"X" * 2000
    sent = [ServerChange(ADD, f"event-{i}.ics",
                         item=Item(ItemInfo(f"event-{i}.ics", "u", '"e"', 11, 2000, "VEVENT"), content))
            for i in range(100)]
    state = SyncState("collection", "abcd", 3, None, Cursor(11, set(held), {}, set()))
    state.retry = Retry("2-abcd", "f" * 64, before, {}, SyncResult("3-abcd", (), sent, True))
    data = state.to_bytes()
    assert data.count(b"event-4999.ics") == 1
    assert b"XXXX" not in data
    assert len(data) < 5000 * len('"event-1234.ics",') + 100 * len('["add","event-12.ics"],') + 1000
    decoded = SyncState.from_bytes(data)
    assert decoded.retry.snapshot == before and decoded.cursor == state.cursor
    assert decoded.retry.answer == bare(state.retry.answer)


#: States as version 1 wrote them: the snapshot whole, the answer with the items.
V1_COLLECTION = (
    b'{"counter":2,"cursor":{"base":3,"known":["a.ics","n.ics"],"scan":null,"seen":{"n.ics":4},'
    b'"stale":[]},"epoch":"abcd","kind":"collection","retry":{"adds":{"c1":["n.ics",4]},'
    b'"answer":{"changes":[{"id":"a.ics","item":{"component":"VEVENT","content":'
    b'"QkVHSU46VkNBTEVOREFS","etag":"\\"e1\\"","name":"a.ics","revision":3,"size":10,'
    b'"uid":"a@test"},"op":"add"},{"id":"b.ics","op":"delete"}],"more":true,"results":'
    b'[["ok","c1","n.ics",null]],"sync_key":"2-abcd"},"fingerprint":"ffffffff","presented":'
    b'"1-abcd","snapshot":{"base":0,"known":["b.ics"],"scan":null,"seen":{},"stale":[]}},'
    b'"uidvalidity":null,"v":1}'
)
V1_MAIL = (
    b'{"counter":1,"cursor":{"base":9,"known":[[1,7]],"scan":7,"seen":{},"stale":[]},'
    b'"epoch":"beef","kind":"mail","retry":{"adds":{},"answer":{"changes":[{"id":"7",'
    b'"message":{"flags":["\\\\Seen"],"internal_date":"2024-01-02T03:04:05+00:00","modseq":9,'
    b'"saved_date":"2024-01-02T03:04:06+00:00","size":120,"uid":7},"op":"add"}],"more":false,'
    b'"results":[],"sync_key":"1-beef"},"fingerprint":"eeeeeeee","presented":"0","snapshot":'
    b'{"base":0,"known":[],"scan":null,"seen":{},"stale":[]}},"uidvalidity":42,"v":1}'
)


def test_version_1_states_still_load():
    # A device upgraded in the middle of a sync keeps its key, its place and, for a
    # lost answer, the answer itself (with the items, as version 1 kept it).
    state = SyncState.from_bytes(V1_COLLECTION)
    assert state.key == "2-abcd" and state.cursor == Cursor(3, {"a.ics", "n.ics"}, {"n.ics": 4}, set())
    assert state.retry.snapshot == Cursor(0, {"b.ics"}, {}, set())
    assert state.retry.adds == {"c1": ["n.ics", 4]}
    add, delete = state.retry.answer.changes
    assert add.item.content == b"BEGIN:VCALENDAR" and add.item.info.etag == '"e1"'
    assert delete == ServerChange(DELETE, "b.ics")
    assert state.retry.answer.results == (ChangeResult(SyncStatus.OK, "c1", "n.ics"),)
    mail = SyncState.from_bytes(V1_MAIL)
    assert mail.key == "1-beef" and mail.cursor.scan == 7 and "7" in mail.cursor.known
    (change,) = mail.retry.answer.changes
    assert change.message.uid == 7 and change.message.flags == frozenset({"\\Seen"})
    # Saved again, in this version's form.
    again = SyncState.from_bytes(state.to_bytes())
    assert again.cursor == state.cursor and again.retry.snapshot == state.retry.snapshot
    assert again.retry.answer == bare(state.retry.answer)


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
