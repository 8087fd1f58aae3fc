"""exchangelib and recurring series: a weekly series with a count reads back with its
Recurrence; one occurrence changed (an exception: a RECURRENCE-ID override in the same
stored iCalendar) and one deleted (an EXDATE) show in the master's ModifiedOccurrences
and DeletedOccurrences, in a CalendarView and over CalDAV; an override made over CalDAV
is a modified occurrence over EWS."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.testing.servers import PASSWORD, USER, in_thread
from tests.protocols.ews.ews_support import account, start, stop


@pytest.fixture
def dav_server():
    running = start(protocols=("caldav", "ews"))
    yield running
    stop(running)


def dav(running, method: str, path: str, body: bytes = b"", headers=None):
    import base64
    import http.client

    conn = http.client.HTTPConnection(running.host, running.port("http"), timeout=30)
    sent = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    sent.update(headers or {})
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def _weekly(acc, subject: str = "Sync", count: int = 4):
    """A weekly series on Mondays 2026-03-02 13:00 UTC, ``count`` times."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

    utc = EWSTimeZone("UTC")
    recurrence = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                            boundary=NumberedPattern(start=EWSDateTime(2026, 3, 2, tzinfo=utc).date(), number=count))
    item = CalendarItem(account=acc, folder=acc.calendar, subject=subject, location="Room 4",
                        start=EWSDateTime(2026, 3, 2, 13, 0, tzinfo=utc),
                        end=EWSDateTime(2026, 3, 2, 14, 0, tzinfo=utc), recurrence=recurrence)
    item.save()
    return item, recurrence


def _utc(value) -> str:
    from exchangelib import EWSTimeZone

    return value.astimezone(EWSTimeZone("UTC")).strftime("%m-%d %H:%M")


@pytest_twisted.ensureDeferred
async def test_a_series_reads_back_with_its_recurrence(server):
    def client():
        acc = account(server)
        item, recurrence = _weekly(acc)
        master = acc.calendar.get(id=item.id)
        return (recurrence, master.recurrence, master.type, _utc(master.first_occurrence.start),
                _utc(master.last_occurrence.start), master.modified_occurrences, master.deleted_occurrences)

    sent, got, kind, first, last, modified, deleted = await in_thread(client)
    assert got == sent
    assert kind == "RecurringMaster"
    assert (first, last) == ("03-02 13:00", "03-23 13:00")
    assert modified is None and deleted is None
