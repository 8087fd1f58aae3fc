"""exchangelib and tasks: a VTODO stored as a CalDAV client stores it is found and read;
tasks are created, their status and percentage changed (what EWS has no field for
survives) and deleted; and a task made over EWS is the VTODO CalDAV serves."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, dav, serving

TODO = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:todo-1\r\n"
        b"DTSTAMP:20260101T000000Z\r\nSUMMARY:File the report\r\nDESCRIPTION:Q3\\, all regions\r\n"
        b"DTSTART:20260301T090000Z\r\nDUE:20260310T170000Z\r\nSTATUS:NEEDS-ACTION\r\n"
        b"PRIORITY:1\r\nCLASS:PRIVATE\r\nCATEGORIES:work,finance\r\n"
        b"RRULE:FREQ=MONTHLY;BYMONTHDAY=10\r\nX-APPLE-SORT-ORDER:7\r\n"
        b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:due\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\n"
        b"END:VTODO\r\nEND:VCALENDAR\r\n")


async def task_list(server):
    return await (await server.collections()).collection("tasks")


@pytest_twisted.ensureDeferred
async def test_tasks_found_read_updated_created_and_deleted(server):
    todos = await task_list(server)
    await todos.put("todo-1.ics", TODO)

    def read_and_update():
        from decimal import Decimal

        acc = account(server)
        [task] = list(acc.tasks.all())
        got = acc.tasks.get(id=task.id)
        seen = (task.subject, str(task.due_date), str(task.start_date), task.status,
                int(task.percent_complete), task.is_complete, got.importance, got.sensitivity,
                sorted(got.categories), got.body)
        task.status = "InProgress"
        task.percent_complete = Decimal(40)
        task.save(update_fields=["status", "percent_complete"])
        again = acc.tasks.get(id=task.id)
        return seen, (again.status, int(again.percent_complete), again.is_complete)

    seen, updated = await in_thread(read_and_update)
    assert seen == ("File the report", "2026-03-10", "2026-03-01", "NotStarted", 0, False, "High",
                    "Private", ["finance", "work"], "Q3, all regions")
    assert updated == ("InProgress", 40, False)
    [item] = await todos.get(["todo-1.ics"])
    assert b"STATUS:IN-PROCESS" in item.content and b"PERCENT-COMPLETE:40" in item.content
    # What EWS has no field for is still there.
    for kept in (b"RRULE:FREQ=MONTHLY;BYMONTHDAY=10", b"X-APPLE-SORT-ORDER:7", b"TRIGGER:-PT1H",
                 b"UID:todo-1", b"SUMMARY:File the report"):
        assert kept in item.content

    def create_complete_delete():
        import datetime

        from exchangelib import Task

        acc = account(server)
        _, state = [*acc.tasks.sync_items()], acc.tasks.item_sync_state
        new = Task(account=acc, folder=acc.tasks, subject="Buy milk", due_date=datetime.date(2026, 4, 2),
                   status="WaitingOnOthers")
        new.save()
        synced = [(kind, i.subject) for kind, i in acc.tasks.sync_items(sync_state=state)]
        made = acc.tasks.get(id=new.id)
        first = (made.subject, made.status, str(made.due_date))
        made.status = "Completed"
        made.save(update_fields=["status"])
        done = acc.tasks.get(id=new.id)
        [old] = [t for t in acc.tasks.all() if t.subject == "File the report"]
        old.delete()
        left = [(t.subject, t.status, int(t.percent_complete), t.is_complete, str(t.due_date))
                for t in acc.tasks.all()]
        return synced, first, (done.status, done.is_complete), left

    synced, made, done, left = await in_thread(create_complete_delete)
    assert synced == [("create", "Buy milk")]
    assert made == ("Buy milk", "WaitingOnOthers", "2026-04-02")
    assert done == ("Completed", True)
    assert left == [("Buy milk", "Completed", 100, True, "2026-04-02")]
    infos = await todos.items()
    assert len(infos) == 1 and infos[0].component == "VTODO"


@pytest.fixture
def with_caldav():
    yield from serving(("caldav", "ews"))


@pytest_twisted.ensureDeferred
async def test_a_task_made_over_ews_is_the_vtodo_caldav_serves(with_caldav):
    def ews_creates():
        from decimal import Decimal

        from exchangelib import Task

        acc = account(with_caldav)
        Task(account=acc, folder=acc.tasks, subject="Call the bank", status="InProgress",
             percent_complete=Decimal(25), importance="Low").save()

    await in_thread(ews_creates)
    [info] = await (await task_list(with_caldav)).items()
    assert info.component == "VTODO"
    status, body = await in_thread(dav, with_caldav, "GET", f"/dav/calendars/{USER}/tasks/{info.name}")
    assert status == 200
    for line in (b"BEGIN:VTODO", b"SUMMARY:Call the bank", b"STATUS:IN-PROCESS", b"PERCENT-COMPLETE:25",
                 b"PRIORITY:9"):
        assert line in body
