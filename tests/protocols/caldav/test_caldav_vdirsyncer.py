"""vdirsyncer two-way syncing a local vdir of events with the server, edits on both
sides, over memory: and sqlite: stores."""

import pytest_twisted

from dav_harness import in_thread
from vdir_helpers import vdirsyncer, write_config


def event(uid: str, summary: str, day: int) -> bytes:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202603{day:02d}T100000Z\r\n"
            f"DTEND:202603{day:02d}T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
            f"END:VCALENDAR\r\n").encode()


async def two_way(server, tmp_path):
    config = write_config(tmp_path, server, "caldav", "calendar")
    local = tmp_path / "caldav" / "calendar"
    local.mkdir()
    (local / "a.ics").write_bytes(event("a", "Local A", 1))
    (local / "b.ics").write_bytes(event("b", "Local B", 2))
    coll = await (await server.collections()).collection("calendar")
    await coll.put("c.ics", event("c", "Server C", 3))

    await in_thread(vdirsyncer, config, "discover")
    await in_thread(vdirsyncer, config, "sync")
    assert sorted(i.uid for i in await coll.items()) == ["a", "b", "c"]
    assert sorted(p.read_bytes().count(b"SUMMARY") for p in local.iterdir()) == [1, 1, 1]
    assert any(b"Server C" in p.read_bytes() for p in local.iterdir())

    # Edits on both sides: local edits A and deletes B; the server edits C.
    (local / "a.ics").write_bytes(event("a", "Local A edited", 1))
    (local / "b.ics").unlink()
    c = (await coll.get_by_uid("c")).info
    await coll.put(c.name, event("c", "Server C edited", 3))
    await in_thread(vdirsyncer, config, "sync")

    remote = {i.info.uid: i.content for i in await coll.get([x.name for x in await coll.items()])}
    assert sorted(remote) == ["a", "c"]
    assert b"Local A edited" in remote["a"]
    texts = [p.read_bytes() for p in local.iterdir()]
    assert len(texts) == 2
    assert any(b"Server C edited" in t for t in texts)


@pytest_twisted.ensureDeferred
async def test_vdirsyncer_events_memory(server, tmp_path):
    await two_way(server, tmp_path)


@pytest_twisted.ensureDeferred
async def test_vdirsyncer_events_sqlite(sqlite_server, tmp_path):
    await two_way(sqlite_server, tmp_path)
