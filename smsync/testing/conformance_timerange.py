"""Conformance of ``ICollection.time_range``: recurrence, exceptions, all-day, floating
and zoned times, open ranges and VTODO rules (RFC 4791 section 9.9)."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred

from smsync.model import ItemInfo
from smsync.testing import samples
from smsync.testing.samples import utc
from smsync.testing.base import StoreHarness, call

#: item name -> sample content; every query below is checked against this whole set.
ITEMS = {
    "recurring.ics": samples.recurring_event(),
    "allday.ics": samples.all_day_event(),
    "floating.ics": samples.floating_event(),
    "tzid.ics": samples.tzid_event(),
    "yearly.ics": samples.yearly_event(),
    "todo.ics": samples.todo("todo-undated"),
    "single.ics": samples.event("single-1", "20240601T120000Z", "20240601T130000Z"),
}
ALWAYS = {"todo.ics"}

#: (start, end, names expected besides the undated VTODO, why)
QUERIES = [
    (utc(2024, 3, 5, 10, 30), utc(2024, 3, 5, 10, 45), {"recurring.ics"}, "inside an instance"),
    (utc(2024, 3, 6), utc(2024, 3, 7), set(), "EXDATE removes 03-06"),
    (utc(2024, 3, 7), utc(2024, 3, 8), set(), "03-07 was moved away by its override"),
    (utc(2024, 3, 20, 15, 30), utc(2024, 3, 20, 15, 31), {"recurring.ics"}, "the override's new time"),
    (utc(2024, 3, 8, 11), utc(2024, 3, 9), set(), "end is exclusive: last instance ends 11:00"),
    (utc(2024, 3, 8, 10, 59), utc(2024, 3, 8, 11), {"recurring.ics"}, "last instance, last minute"),
    (utc(2024, 3, 9), utc(2024, 3, 20), set(), "after COUNT=5 ran out, before the override"),
    (utc(2024, 4, 10, 12), utc(2024, 4, 10, 13), {"allday.ics"}, "all-day covers noon"),
    (utc(2024, 4, 11), utc(2024, 4, 11, 1), set(), "all-day ends at midnight"),
    (utc(2024, 4, 9, 23), utc(2024, 4, 10), set(), "all-day starts at midnight"),
    (utc(2024, 5, 15, 9, 30), utc(2024, 5, 15, 9, 45), {"floating.ics"}, "floating taken as UTC"),
    (utc(2024, 5, 15, 10), utc(2024, 5, 15, 11), set(), "floating ends 10:00 UTC"),
    (utc(2024, 7, 1, 8, 15), utc(2024, 7, 1, 8, 30), {"tzid.ics"}, "Berlin 10:00 is 08:00Z"),
    (utc(2024, 7, 1, 10), utc(2024, 7, 1, 11), set(), "not the wall-clock hour in UTC"),
    (utc(2027, 1, 1, 12, 30), utc(2027, 1, 1, 13), {"yearly.ics"}, "infinite RRULE, near"),
    (utc(2041, 1, 1, 12, 30), utc(2041, 1, 1, 12, 40), {"yearly.ics"}, "infinite RRULE, far"),
    (utc(2041, 1, 2), utc(2041, 1, 3), set(), "between yearly instances"),
    (utc(2024, 6, 1, 12, 59), utc(2024, 6, 1, 13, 1), {"single.ics"}, "overlapping the end"),
]


class TimeRangeConformance(StoreHarness):
    @pytest.fixture
    def filled_calendar(self, collections):
        async def fill():
            cal = await call(collections.collection, "calendar")
            for name, content in ITEMS.items():
                await call(cal.put, name, content)
            return cal

        return pytest_twisted.blockon(Deferred.fromCoroutine(fill()))

    @pytest_twisted.ensureDeferred
    async def test_time_range_queries(self, filled_calendar):
        wrong = []
        for start, end, expected, why in QUERIES:
            found = await call(filled_calendar.time_range, start, end)
            assert all(isinstance(i, ItemInfo) for i in found)
            names = {i.name for i in found}
            if names != expected | ALWAYS:
                wrong.append(f"{why} [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}): "
                             f"got {sorted(names)}, want {sorted(expected | ALWAYS)}")
        assert not wrong, "\n".join(wrong)

    @pytest_twisted.ensureDeferred
    async def test_open_ended_ranges(self, filled_calendar):
        everything = set(ITEMS)
        assert {i.name for i in await call(filled_calendar.time_range, None, None)} == everything
        found = {i.name for i in await call(filled_calendar.time_range, utc(2024, 5, 1), None)}
        assert found == {"floating.ics", "tzid.ics", "yearly.ics", "single.ics"} | ALWAYS
        found = {i.name for i in await call(filled_calendar.time_range, None, utc(2024, 3, 5))}
        assert found == {"recurring.ics", "yearly.ics"} | ALWAYS

    @pytest_twisted.ensureDeferred
    async def test_components_filter(self, filled_calendar):
        start, end = utc(2024, 1, 1), utc(2025, 1, 1)
        events = {i.name for i in await call(filled_calendar.time_range, start, end, ["VEVENT"])}
        assert events == set(ITEMS) - ALWAYS
        todos = await call(filled_calendar.time_range, start, end, ["VTODO"])
        assert [(i.name, i.component) for i in todos] == [("todo.ics", "VTODO")]

    @pytest_twisted.ensureDeferred
    async def test_vtodo_rules(self, collections):
        tasks = await call(collections.collection, "tasks")
        await call(tasks.put, "due.ics", samples.todo("due", "DUE:20240610T170000Z\r\n"))
        await call(tasks.put, "start-dur.ics",
                   samples.todo("sd", "DTSTART:20240610T090000Z\r\nDURATION:PT2H\r\n"))
        await call(tasks.put, "start-only.ics", samples.todo("so", "DTSTART:20240612T090000Z\r\n"))
        await call(tasks.put, "undated.ics", samples.todo("und"))

        async def names(start, end):
            return {i.name for i in await call(tasks.time_range, start, end)}

        # RFC 4791 9.9: DUE only -> start < DUE <= end; DTSTART+DURATION -> that interval;
        # DTSTART only -> start <= DTSTART < end; no dates (nor CREATED/COMPLETED) -> always.
        assert await names(utc(2024, 6, 10, 16), utc(2024, 6, 10, 18)) == {"due.ics", "undated.ics"}
        assert await names(utc(2024, 6, 10, 10), utc(2024, 6, 10, 10, 30)) == {"start-dur.ics", "undated.ics"}
        assert await names(utc(2024, 6, 10, 11, 30), utc(2024, 6, 10, 12)) == {"undated.ics"}
        assert await names(utc(2024, 6, 12, 8), utc(2024, 6, 12, 10)) == {"start-only.ics", "undated.ics"}
        assert await names(utc(2024, 1, 1), utc(2024, 2, 1)) == {"undated.ics"}

    @pytest_twisted.ensureDeferred
    async def test_time_range_follows_updates_and_deletes(self, filled_calendar):
        window = (utc(2024, 6, 1, 12, 15), utc(2024, 6, 1, 12, 30))
        assert {i.name for i in await call(filled_calendar.time_range, *window)} == {"single.ics"} | ALWAYS
        await call(filled_calendar.put, "single.ics",
                   samples.event("single-1", "20240901T120000Z", "20240901T130000Z"))
        assert {i.name for i in await call(filled_calendar.time_range, *window)} == ALWAYS
        moved = (utc(2024, 9, 1, 12, 15), utc(2024, 9, 1, 12, 30))
        [hit] = [i for i in await call(filled_calendar.time_range, *moved) if i.name == "single.ics"]
        assert hit.etag == (await call(filled_calendar.get, ["single.ics"]))[0].info.etag
        await call(filled_calendar.delete, "single.ics")
        await call(filled_calendar.delete, "todo.ics")
        assert await call(filled_calendar.time_range, *moved) == []
