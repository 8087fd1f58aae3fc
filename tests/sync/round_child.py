"""A process that runs one sync round and can be killed (SIGKILL) part-way through it.

Run by ``test_round_crash.py``: ``python round_child.py URI STATEFILE MODE [KILL]``.

* ``setup``: create the account, the device, two events and three messages, sync the
  calendar and the Inbox to the device once, and write the sync keys and server ids to
  STATEFILE (JSON).
* ``round``: present those keys again with one batch per source (adds, a change, a
  delete), printing the answers as JSON. ``KILL`` names where the process kills itself:
  ``write:N`` right after the N-th write of the batch, ``state`` just before the new
  sync state is saved, ``answer`` after the round committed, before it answers.
* ``dump``: print what the store holds (calendar items, Inbox messages with flags).
"""

from __future__ import annotations

import json
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from twisted.internet import defer, task  # noqa: E402

from smsync.model import UIDSet  # noqa: E402
from smsync.store.registry import open_store  # noqa: E402
from smsync.sync import (  # noqa: E402
    ADD,
    CHANGE,
    COLLECTION,
    DELETE,
    MAIL,
    ClientChange,
    SourceRef,
    SyncAdapter,
)
from smsync.sync import adapter as adapter_module  # noqa: E402
from smsync.sync import sources  # noqa: E402

ACCOUNT = "crash@example.org"
DEVICE = "phone-crash"


def event(uid: str, summary: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//smsync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART:20240105T100000Z\r\nDTEND:20240105T110000Z\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def message(subject: str) -> bytes:
    return (
        f"From: a@example.org\r\nTo: {ACCOUNT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@test>\r\n\r\nbody {subject}\r\n"
    ).encode()


def kill_now() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill: str) -> None:
    """Make this process die at ``kill`` (see the module docstring)."""
    if kill.startswith("write:"):
        limit = int(kill.split(":")[1])
        count = [0]

        def counted(original):
            async def write(self, *args, **kwargs):
                result = await original(self, *args, **kwargs)
                count[0] += 1
                if count[0] == limit:
                    kill_now()
                return result
            return write

        for cls in (sources.MailSource, sources.CollectionSource):
            for name in ("add", "change", "delete"):
                setattr(cls, name, counted(getattr(cls, name)))
    elif kill == "state":
        original_sync = adapter_module.SyncAdapter._sync

        async def _sync(self, view, *args):
            devices = view.devices
            save = devices.save_states

            def dying_save(*a, **kw):
                kill_now()
                return save(*a, **kw)

            devices.save_states = dying_save
            return await original_sync(self, view, *args)

        adapter_module.SyncAdapter._sync = _sync
    elif kill == "answer":
        original = adapter_module.SyncAdapter._atomically

        async def _atomically(self, *args):
            answer = await original(self, *args)
            kill_now()
            return answer

        adapter_module.SyncAdapter._atomically = _atomically
    elif kill:
        raise SystemExit(f"unknown kill point {kill}")


async def sources_of(store):
    colls = await store.collections(ACCOUNT)
    calendar = await colls.collection("calendar")
    mail = await store.mail(ACCOUNT)
    inbox = await mail.mailbox("INBOX")
    return calendar, inbox, SourceRef(COLLECTION, calendar.id), SourceRef(MAIL, inbox.id)


async def setup(store, statefile: str) -> None:
    await store.accounts.add(ACCOUNT, "hash")
    await store.devices.seen(ACCOUNT, DEVICE, "eas", user_agent="crash/1.0")
    calendar, inbox, cal_ref, mail_ref = await sources_of(store)
    for n in (1, 2):
        await calendar.put(f"e{n}.ics", event(f"e{n}@test", f"event {n}"))
    for n in (1, 2, 3):
        await inbox.append(message(f"m{n}"))
    adapter = SyncAdapter(store)
    cal = await adapter.sync(ACCOUNT, DEVICE, cal_ref, "0")
    mail = await adapter.sync(ACCOUNT, DEVICE, mail_ref, "0")
    state = {
        "cal_key": cal.sync_key,
        "cal_ids": sorted(c.server_id for c in cal.changes),
        "mail_key": mail.sync_key,
        "mail_ids": sorted((c.server_id for c in mail.changes), key=int),
    }
    with open(statefile, "w") as f:
        json.dump(state, f)


def batches(state):
    e1, e2 = state["cal_ids"]
    m1, m2, _ = state["mail_ids"]
    cal = [
        ClientChange(ADD, client_id="a1", content=event("new1@test", "new 1")),
        ClientChange(CHANGE, server_id=e1, content=event("e1@test", "event 1 moved")),
        ClientChange(ADD, client_id="a2", content=event("new2@test", "new 2")),
        ClientChange(DELETE, server_id=e2),
        ClientChange(ADD, client_id="a3", content=event("new3@test", "new 3")),
    ]
    mail = [
        ClientChange(ADD, client_id="d1", content=message("draft1"), flags={"\\Draft"}),
        ClientChange(CHANGE, server_id=m1, flags={"\\Seen", "\\Flagged"}),
        ClientChange(DELETE, server_id=m2),
        ClientChange(ADD, client_id="d2", content=message("draft2"), flags={"\\Draft"}),
    ]
    return cal, mail


def answer_json(result) -> dict:
    return {
        "key": result.sync_key,
        "results": [[r.status.value, r.client_id, r.server_id] for r in result.results],
        "changes": sorted([c.op, c.server_id] for c in result.changes),
    }


async def sync_round(store, statefile: str, kill: str) -> None:
    with open(statefile) as f:
        state = json.load(f)
    _, _, cal_ref, mail_ref = await sources_of(store)
    cal_batch, mail_batch = batches(state)
    adapter = SyncAdapter(store)
    arm(kill)
    cal = await adapter.sync(ACCOUNT, DEVICE, cal_ref, state["cal_key"], cal_batch)
    mail = await adapter.sync(ACCOUNT, DEVICE, mail_ref, state["mail_key"], mail_batch)
    print(json.dumps({"cal": answer_json(cal), "mail": answer_json(mail)}))


async def dump(store) -> None:
    calendar, inbox, _, _ = await sources_of(store)
    items = await calendar.items()
    got = await calendar.get([i.name for i in items])
    messages = await inbox.messages(UIDSet.all())
    subjects = {}
    for m in messages:
        head = await inbox.read_body(m.uid)
        subject = next(line for line in head.split(b"\r\n") if line.startswith(b"Subject:"))
        subjects[m.uid] = subject[9:].decode()
    print(json.dumps({
        "events": sorted(item.content.decode().split("SUMMARY:")[1].split("\r\n")[0] for item in got),
        "messages": sorted([subjects[m.uid], sorted(m.flags)] for m in messages),
    }))


async def main(reactor, uri, statefile, mode, kill=""):
    store = await open_store(uri)
    try:
        if mode == "setup":
            await setup(store, statefile)
        elif mode == "round":
            await sync_round(store, statefile, kill)
        else:
            await dump(store)
    finally:
        await store.close()


if __name__ == "__main__":
    task.react(lambda reactor, *a: defer.ensureDeferred(main(reactor, *a)), sys.argv[1:])
