"""sqlite: the hot queries are index searches, and the span index answers time ranges
right at its edges (short vs long spans, recurrences past the expansion horizon)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
import pytest_twisted

from smsync.model import CollectionKind
from smsync.store.registry import open_store
from smsync.store.sqlite.schema import SHORT_SPAN, migrate

ACCOUNT = "erin@example.com"

#: (query, parameters) the store runs on every SELECT, IDLE wake-up, sync and REPORT.
HOT_QUERIES = [
    ("SELECT uid, flags FROM messages WHERE folder_id = ? AND modseq > ?", (1, 5)),
    ("SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ?", (1, 5)),
    ("SELECT MIN(uid) FROM messages WHERE folder_id = ? AND seen = 0", (1,)),
    ("SELECT MAX(uid) FROM messages WHERE folder_id = ?", (1,)),
    ("SELECT uid, flags FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?", (1, 2, 9)),
    ("SELECT name FROM items WHERE collection_id = ? AND revision > ? ORDER BY revision, name",
     (1, 5)),
    ("SELECT name FROM tombstones WHERE collection_id = ? AND revision > ?", (1, 5)),
    ("SELECT name FROM items WHERE collection_id = ? AND uid = ?", (1, "u")),
    ("SELECT item_id FROM spans WHERE collection_id = ? AND long = 0 AND start >= ?"
     " AND start < ? AND (end > ? OR start >= ?)", (1, 0, 9, 1, 1)),
    ("SELECT id FROM items WHERE collection_id = ? AND expanded_until IS NOT NULL"
     " AND expanded_until < ?", (1, 9)),
    ("SELECT seq FROM events WHERE seq > ? ORDER BY seq", (1,)),
]


@pytest.fixture
def schema_conn(tmp_path):
    conn = sqlite3.connect(tmp_path / "smsync.sqlite3", isolation_level=None)
    migrate(conn)
    yield conn
    conn.close()


@pytest.mark.parametrize("sql,params", HOT_QUERIES)
def test_hot_queries_search_an_index(schema_conn, sql, params):
    plan = " / ".join(r[3] for r in schema_conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "SEARCH" in plan and "SCAN" not in plan, plan


def _event(uid: str, start: datetime, end: datetime, rule: str = "") -> bytes:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{end.strftime(fmt)}\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest_twisted.ensureDeferred
async def test_time_range_edges(tmp_path):
    store = await open_store(f"sqlite://{tmp_path}")
    try:
        await store.accounts.add(ACCOUNT, "x")
        cols = await store.collections(ACCOUNT)
        cal = await cols.create_collection("edge", CollectionKind.CALENDAR)
        cal = await cols.collection("edge")
        q0 = datetime(2030, 6, 10, tzinfo=timezone.utc)
        q1 = q0 + timedelta(days=1)
        short = timedelta(seconds=SHORT_SPAN)
        puts = {
            # Starts just inside the look-back window of short spans and reaches into the range.
            "short-edge": (q0 - short + timedelta(hours=1), q0 + timedelta(hours=2), ""),
            # A long span starting far before the range and covering it.
            "long": (q0 - timedelta(days=40), q1 + timedelta(days=3), ""),
            # Ends exactly where the range starts: no overlap.
            "ends-at-start": (q0 - timedelta(hours=1), q0, ""),
            # Starts exactly at the range's end: no overlap.
            "starts-at-end": (q1, q1 + timedelta(hours=1), ""),
            # Weekly for ever from long ago: instances in 2030 lie past any expansion
            # horizon of a store written today, so the exact check must find them.
            "weekly": (
                datetime(2024, 6, 10, 9, tzinfo=timezone.utc),
                datetime(2024, 6, 10, 10, tzinfo=timezone.utc),
                "RRULE:FREQ=WEEKLY\r\n",
            ),
        }
        for name, (s, e, rule) in puts.items():
            await cal.put(f"{name}.ics", _event(name, s, e, rule))
        # 2030-06-10 is a Monday, as 2024-06-10 was.
        got = {i.name for i in await cal.time_range(q0, q1)}
        assert got == {"short-edge.ics", "long.ics", "weekly.ics"}
        got = {i.name for i in await cal.time_range(q0 + timedelta(days=1), q0 + timedelta(days=2))}
        assert got == {"long.ics", "starts-at-end.ics"}
        assert {i.name for i in await cal.time_range(None, q0 - timedelta(days=30))} >= {"long.ics"}
        assert {i.name for i in await cal.time_range(q1 + timedelta(days=10), None)} == {"weekly.ics"}
    finally:
        await store.close()
