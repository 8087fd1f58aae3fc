"""Pure helpers of the ``postgresql:`` backend, with hypothesis: the NOTIFY payload codec
and the exact microsecond time encoding. No database needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from smsync.model import ChangeEvent, ChangeKind
from smsync.store.postgresql.db import MAX_PAYLOAD, parse_payload, payloads
from smsync.store.postgresql.rows import from_us, to_us, zone

events = st.builds(
    ChangeEvent,
    account=st.text(min_size=1, max_size=60),
    kind=st.sampled_from(list(ChangeKind)),
    name=st.none() | st.text(max_size=300),
    revision=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    folder_id=st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
)


@given(st.lists(events, max_size=200), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_payloads_round_trip_within_the_size_limit(batch, origin):
    texts = payloads(origin, batch)
    assert all(len(t.encode("utf-8")) <= MAX_PAYLOAD for t in texts)
    decoded = []
    for text in texts:
        got_origin, got = parse_payload(text)
        assert got_origin == origin
        decoded.extend(got)
    assert decoded == batch


def test_an_event_too_big_for_a_payload_becomes_a_hierarchy_event():
    huge = ChangeEvent("a@example.com", ChangeKind.MAIL, "x" * 20_000, 5, "f" * 32)
    (text,) = payloads("o", [huge])
    assert parse_payload(text)[1] == [ChangeEvent("a@example.com", ChangeKind.HIERARCHY)]


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-23 * 3600, max_value=23 * 3600),
)
def test_microseconds_round_trip_exactly(moment, offset):
    aware = moment.replace(tzinfo=timezone(timedelta(seconds=offset)))
    back = from_us(to_us(aware), zone(offset))
    assert back == aware and back.utcoffset() == aware.utcoffset()
