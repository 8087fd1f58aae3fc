"""Items as Funambol clients and phones send them, through a real server (raw SyncML
messages over HTTP on 127.0.0.1): vCard 2.1 on ``card``, vCalendar 1.0 on ``event`` and
``task``, Funambol's SIF (base64, as its Outlook client sends it by default) on
``scard``, ``scal``, ``stask`` and ``snote``, plain-text notes on ``note``. Each is
stored in the canonical form (what CalDAV/CardDAV serve), and a second device
slow-syncing the same database gets it back in the database's type."""

from __future__ import annotations

import base64

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.model import CollectionKind
from smsync.protocols.syncml.message import child, data_bytes, metinf_text
from smsync.testing.servers import PASSWORD, USER, RunningServers
from tests.protocols.syncml.raw import (
    RawSyncML,
    alert,
    b,
    basic_cred,
    commands,
    is_final,
    meta,
    mi,
    status_of,
)
from tests.protocols.syncml.test_formats_calendar import FUNAMBOL_SIFE, NOKIA_WEEKLY
from tests.protocols.syncml.test_formats_contacts import NOKIA_21
from tests.protocols.syncml.test_raw import run, url


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("syncml",))))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


SIFC = """<?xml version="1.0" encoding="UTF-8"?>
<contact>
<SIFVersion>1.1</SIFVersion>
<FileAs>Lovelace, Ada</FileAs>
<FirstName>Ada</FirstName>
<LastName>Lovelace</LastName>
<Email1Address>ada@example.org</Email1Address>
<MobileTelephoneNumber>+44 7700 900123</MobileTelephoneNumber>
<BusinessTelephoneNumber>+44 20 7946 0001</BusinessTelephoneNumber>
<CompanyName>Analytical Engines Ltd</CompanyName>
<JobTitle>Programmer</JobTitle>
<BusinessAddressStreet>12 St James's Square</BusinessAddressStreet>
<BusinessAddressCity>London</BusinessAddressCity>
<BusinessAddressPostalCode>SW1Y 4LB</BusinessAddressPostalCode>
<BusinessAddressCountry>United Kingdom</BusinessAddressCountry>
<Birthday>1815-12-10</Birthday>
<Body>Notes on the engine</Body>
<Categories>Business</Categories>
</contact>
""".encode()

SIFT = """<?xml version="1.0" encoding="UTF-8"?>
<task>
<SIFVersion>1.1</SIFVersion>
<Subject>Send the quarterly report</Subject>
<Body>Figures from finance first</Body>
<StartDate>2026-03-01</StartDate>
<DueDate>2026-03-15</DueDate>
<Complete>0</Complete>
<Importance>2</Importance>
<PercentComplete>25</PercentComplete>
<Status>1</Status>
<ReminderSet>0</ReminderSet>
<Sensitivity>0</Sensitivity>
</task>
""".encode()

SIFN = """<?xml version="1.0" encoding="UTF-8"?>
<note>
<SIFVersion>1.1</SIFVersion>
<Subject>Door code</Subject>
<Body>Door code
4711, then the bell twice</Body>
<Categories>Home</Categories>
<Color>1</Color>
</note>
""".encode()

VTODO_10 = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VTODO\r\nSUMMARY:Buy stamps\r\n"
            b"DUE:20260320T170000Z\r\nPRIORITY:1\r\nSTATUS:NEEDS ACTION\r\nCLASS:PRIVATE\r\n"
            b"END:VTODO\r\nEND:VCALENDAR\r\n")

PLAIN_NOTE = "Shopping\r\nmilk, bread, coffee".encode()

#: database, type, device bytes, encode as base64, kind, what the stored item holds
#: (the last of which the item sent back to a device holds too)
CASES = {
    "vcard21": ("card", "text/x-vcard", NOKIA_21, False, CollectionKind.ADDRESSBOOK,
                [b"FN:J\xc3\xbcrgen M\xc3\xbcller", b"Hauptstra\xc3\x9fe 5", b"juergen@example.de"]),
    "vcalendar10": ("event", "text/x-vcalendar", NOKIA_WEEKLY, False, CollectionKind.CALENDAR,
                    [b"SUMMARY:Chor\xc3\xbcbung", b"RRULE:FREQ=WEEKLY;UNTIL=20260630T183000Z",
                     b"TZID:Europe/Berlin"]),
    "vtodo10": ("task", "text/x-vcalendar", VTODO_10, False, CollectionKind.TASKS,
                [b"BEGIN:VTODO", b"SUMMARY:Buy stamps", b"DUE:20260320T170000Z"]),
    "sifc": ("scard", "text/x-s4j-sifc", SIFC, True, CollectionKind.ADDRESSBOOK,
             [b"N:Lovelace;Ada;;;", b"ada@example.org", b"Analytical Engines Ltd"]),
    "sife": ("scal", "text/x-s4j-sife", FUNAMBOL_SIFE, True, CollectionKind.CALENDAR,
             [b"SUMMARY:Jour fixe", b"FREQ=WEEKLY", b"LOCATION:Raum 4.12"]),
    "sift": ("stask", "text/x-s4j-sift", SIFT, True, CollectionKind.TASKS,
             [b"BEGIN:VTODO", b"SUMMARY:Send the quarterly report", b"PERCENT-COMPLETE:25"]),
    "sifn": ("snote", "text/x-s4j-sifn", SIFN, True, CollectionKind.NOTES,
             [b"BEGIN:VJOURNAL", b"SUMMARY:Door code"]),
    "plain": ("note", "text/plain", PLAIN_NOTE, False, CollectionKind.NOTES,
              [b"BEGIN:VJOURNAL", b"SUMMARY:Shopping"]),
}


async def _stored(server, kind: CollectionKind) -> list[bytes]:
    collections = await server.collections()
    out = []
    for info in await collections.list_collections(kind):
        coll = await collections.collection_by_id(info.id)
        items = await coll.items()
        out += [i.content for i in await coll.get([i.name for i in items])]
    return out


def _session(client: RawSyncML, db: str, *commands_):
    """A slow sync of ``db`` sending ``commands_``: (the server's item commands, its
    Status codes for the Adds sent)."""
    status, root = client.send(alert(client, 201, db, None, "a1", f"./{db}"), cred=basic_cred(USER, PASSWORD))
    assert status == 200 and status_of(root, "SyncHdr") == ["212"], root
    assert status_of(root, "Alert") == ["200"], root
    sync = client.cmd("Sync", b.loc("Target", db), b.loc("Source", f"./{db}"), *commands_)
    status, root = client.send(sync)
    assert status == 200
    added = status_of(root, "Add")
    got = []
    for _ in range(50):
        for s in commands(root, "Sync"):
            got += [c for c in s.children if c.tag in ("Add", "Replace", "Delete")]
        if is_final(root) and not commands(root, "Sync"):
            break
        if not is_final(root):
            status, root = client.send(alert(client, 222, db, None, "x"), final=False)
        else:
            status, root = client.send()
    return got, added


def _item_data(cmd) -> bytes:
    item = child(cmd, "Item")
    data = data_bytes(child(item, "Data"))
    fmt = metinf_text(item, "Format") or metinf_text(cmd, "Format")
    return base64.b64decode(data) if fmt == "b64" else data


def _device_add(case: str, server):
    db, mime, data, b64, _, _ = CASES[case]
    client = RawSyncML(url(server), USER, PASSWORD, f"fwm-{case}-a")
    payload = base64.b64encode(data).decode() if b64 else data.decode()
    add = client.cmd("Add", meta(mi("Type", mime), mi("Format", "b64") if b64 else None),
                     b.el("Item", b.loc("Source", "1"), b.leaf("Data", payload)))
    sent, added = _session(client, db, add)
    assert added == ["201"], added
    return sent


def _device_get(case: str, server):
    db, mime, _, _, _, _ = CASES[case]
    client = RawSyncML(url(server), USER, PASSWORD, f"fwm-{case}-b")
    got, _ = _session(client, db)
    assert len(got) == 1, got
    (add,) = got
    assert add.tag == "Add"
    assert (metinf_text(child(add, "Item"), "Type") or metinf_text(add, "Type")) == mime
    return _item_data(add)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest_twisted.ensureDeferred
async def test_funambol_items_are_stored_canonical_and_sent_back_in_their_type(server, case):
    db, mime, data, b64, kind, holds = CASES[case]
    await run(_device_add, case, server)
    stored = await _stored(server, kind)
    assert len(stored) == 1, stored
    unfolded = stored[0].replace(b"\r\n ", b"")
    for needle in holds:
        assert needle in unfolded, (needle, unfolded)
    back = await run(_device_get, case, server)
    if mime.startswith("text/x-s4j-"):
        assert back.lstrip().startswith(b"<")
        assert holds[-1].split(b":", 1)[-1].split(b";")[0] in back, back
    elif mime == "text/x-vcard":
        assert b"VERSION:2.1" in back and b"juergen@example.de" in back
    elif mime == "text/x-vcalendar":
        assert b"VERSION:1.0" in back
    else:
        assert b"Shopping" in back
