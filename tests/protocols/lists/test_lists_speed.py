"""What issue 18's speed work keeps: the compact ID maps (and the JSON ones written
before), the converted-rows cache and its stand-in series ID."""

import json
import uuid

import attrs

from smsync.model import CollectionInfo, CollectionKind, ItemInfo
from smsync.protocols.lists import catalog, ids, state
from smsync.protocols.lists.rowcache import RowCache, estimate
from smsync.protocols.lists.state import DECODED, IdMap, sub_key


def _map() -> IdMap:
    m = IdMap()
    for i in range(50):
        m.id_of(f"event-{i}.ics")
        if i % 7 == 0:
            m.id_of(sub_key(f"event-{i}.ics", "2026-01-05T10:00:00Z"))
    m.forget("event-3.ics")  # a gap
    m.id_of("odd\tname.ics")  # a tab in a name
    m.id_of(sub_key("x.ics", "a\tb"))
    return m


def test_compact_map_round_trips():
    m = _map()
    raw = m.encode()
    assert raw.startswith(b"L2\0")
    back = IdMap.decode(raw)
    assert back.ids == m.ids and back.next_id == m.next_id
    assert back.sub_keys("event-7.ics") == [sub_key("event-7.ics", "2026-01-05T10:00:00Z")]


def test_map_out_of_order_and_nul_names():
    m = IdMap({"b.ics": 5, "a.ics": 2}, 9)
    back = IdMap.decode(m.encode())
    assert back.ids == {"a.ics": 2, "b.ics": 5} and back.next_id == 9
    odd = IdMap({"nul\0name": 1})
    raw = odd.encode()
    assert raw.startswith(b"{")  # JSON when a name holds the separator
    assert IdMap.decode(raw).ids == {"nul\0name": 1}


def test_json_maps_written_before_still_read():
    raw = json.dumps({"next": 4, "ids": {"a.ics": 1, "b.ics": 3}}).encode()
    back = IdMap.decode(raw)
    assert back.ids == {"a.ics": 1, "b.ics": 3} and back.next_id == 4


def test_unreadable_map_starts_over():
    assert IdMap.decode(b"L2\0not zlib").ids == {}
    assert IdMap.decode(b"L2\0" + __import__("zlib").compress(b"3\0-2\ta")).ids == {}


def test_decoded_maps_are_copies():
    m = _map()
    raw = m.encode()
    digest = DECODED.digest(raw)
    DECODED.put(digest, IdMap.decode(raw))
    first = DECODED.get(digest)
    first.id_of("new.ics")
    assert "new.ics" not in DECODED.get(digest).ids


def test_sub_key_index_follows_changes():
    m = IdMap()
    m.id_of("s.ics")
    assert m.sub_keys("s.ics") == []
    key = sub_key("s.ics", "2026-01-05T10:00:00Z")
    m.id_of(key)
    assert m.sub_keys("s.ics") == [key]
    m.forget(key)
    assert m.sub_keys("s.ics") == []


def test_row_cache_bounded_by_estimate():
    rows = [{"Title": "x" * 100, "EventDate": "2026-01-01T00:00:00Z"}]
    size = estimate(rows)
    cache = RowCache(limit=size * 10)
    for i in range(30):
        cache.put(("k", i), (rows, (), None))
    assert cache.size <= cache.limit and len(cache) == 10
    assert cache.get(("k", 0)) is None and cache.get(("k", 29)) is not None


EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s@example.org\r\n"
         b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
         b"SUMMARY:Weekly\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20260112T100000Z\r\nEND:VEVENT\r\n"
         b"BEGIN:VEVENT\r\nUID:s@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
         b"RECURRENCE-ID:20260119T100000Z\r\nDTSTART:20260119T120000Z\r\nDTEND:20260119T130000Z\r\n"
         b"SUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@attrs.frozen
class _Item:
    info: ItemInfo
    content: bytes


def test_shared_conversion_gives_each_device_its_series_id():
    info = CollectionInfo("c1", "calendar", CollectionKind.CALENDAR, frozenset({"VEVENT"}))
    ref = catalog.ListRef("a@example.org", info, uuid.uuid4(), ids.list_type(CollectionKind.CALENDAR), "/lists")
    item = _Item(ItemInfo("s.ics", "s@example.org", "e1", 3, len(EVENT), "VEVENT"), EVENT)
    shared = catalog.shared_conversion(ref, item)
    assert shared is not None
    made, spots, names = shared
    for other in (1, 41):  # two devices that number the series differently
        idmap = state.IdMap({"other.ics": other}, other + 1)
        direct = catalog.item_rows(ref, item, state.IdMap(dict(idmap.ids), idmap.next_id))
        via = catalog.numbered_rows(ref, item.info, catalog.with_master(made, spots, idmap.id_of("s.ics")),
                                    idmap, names)
        assert via == direct
        assert {f.get("MasterSeriesItemID") for _, _, f in via[1:]} == {str(idmap.id_of("s.ics"))}
    # The kept rows themselves still hold the stand-in, untouched.
    assert all(made[i][name] == catalog._STAND_IN_TEXT for i, name in spots)
