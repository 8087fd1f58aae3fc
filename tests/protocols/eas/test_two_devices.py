"""Two phones on one mailbox: pyactivesync (EAS 16.1) as one, our raw client as the
other. For each of the five data kinds, what one device adds or changes the other gets
in its next Sync; a change made on a stale view meets the other's change as a conflict
(server wins: Status 7 and the server's version sent); a lost answer replayed gets the
same answer; deleting a device from the list makes it start over."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.protocols.eas.codepages import BY_NAMESPACE
from smsync.protocols.eas.timezone import blob_from_zone
from smsync.testing.servers import PASSWORD, USER, RunningServers, client_tls_context
from tests.protocols.eas.eas_client import AS, FH, RawEAS, el
from tests.protocols.eas.test_eas_endpoint import block

CAL, CONTACTS, TASKS, NOTES, EMAIL = "Calendar:", "Contacts:", "Tasks:", "Notes:", "Email:"
#: MS-ASCMD folder types of each kind's default folder.
INBOX, CALENDAR, ADDRESSBOOK, TASKLIST, NOTELIST = 2, 8, 9, 7, 10


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas", "lmtp"), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def raw_phone(server, name: str) -> RawEAS:
    phone = RawEAS(server.port("eas", tls=True), USER, PASSWORD, name, tls_context=client_tls_context())
    phone.provision()
    phone.folder_sync()
    return phone


def field(item, namespace: str, tag: str):
    """A field of a pyactivesync ``SyncItem``. pyactivesync has no Calendar or Notes
    code page and names their tags by page number and token."""
    page = BY_NAMESPACE[namespace]
    return item.fields.get(f"{page.name}.{tag}", item.fields.get(f"page{page.number}.0x{page.tokens[tag]:02X}"))


def commands_of(collection, tag=None):
    found = collection.find(AS, "Commands")
    return [c for c in (found.children if found is not None else ()) if tag is None or c.tag == tag]


@pytest_twisted.ensureDeferred
async def test_two_devices_share_every_kind(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await deferToThread(_two_devices, server)


def _two_devices(server):
    from pyactivesync import Client, Contact, ContactChange, EmailChange

    b = raw_phone(server, "phone-b")
    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="phone-a") as a:
        folders = {f.id: f for f in a.list_folders()}
        assert set(folders) == set(b.folders)
        ids = {kind: b.folder_of_type(kind) for kind in (INBOX, CALENDAR, ADDRESSBOOK, TASKLIST, NOTELIST)}
        keys_a = {kind: a.sync_folder(fid).sync_key for kind, fid in ids.items()}
        keys_b = {}
        for kind, fid in ids.items():
            keys_b[kind], _ = b.sync_all(fid)

        # -- mail: a delivery reaches both; A's "read" reaches B.
        uid, = block(server.deliver(b"From: bob@example.org\r\nTo: alice@example.org\r\n"
                                    b"Subject: for both\r\n\r\nhello\r\n"))
        got = a.sync_folder(ids[INBOX], keys_a[INBOX])
        assert [i.server_id for i in got.added] == [str(uid)]
        done = a.apply_email_changes(ids[INBOX], got.sync_key, [EmailChange(str(uid), read=True)])
        keys_a[INBOX] = done.sync_key
        seen = b.sync(ids[INBOX], keys_b[INBOX])
        keys_b[INBOX] = seen.find(AS, "SyncKey").text
        (add,) = commands_of(seen)
        # B never had it: it comes as an add, already read.
        assert add.tag == "Add" and add.find(AS, "ApplicationData").find(EMAIL, "Read").text == "1"

        # -- contacts: A adds (pyactivesync), B sees it, B changes it, A sees the change.
        created = a.create_contact(ids[ADDRESSBOOK], keys_a[ADDRESSBOOK],
                                   Contact(first_name="Grace", last_name="Hopper",
                                           email1_address="grace@example.org"))
        keys_a[ADDRESSBOOK] = created.sync_key
        contact_id = created.server_id
        seen = b.sync(ids[ADDRESSBOOK], keys_b[ADDRESSBOOK])
        keys_b[ADDRESSBOOK] = seen.find(AS, "SyncKey").text
        (add,) = commands_of(seen, "Add")
        assert add.find(AS, "ServerId").text == contact_id
        assert add.find(AS, "ApplicationData").find(CONTACTS, "LastName").text == "Hopper"
        edit = el(AS, "Change", el(AS, "ServerId", text=contact_id), el(AS, "ApplicationData",
                  el(CONTACTS, "FirstName", text="Grace"), el(CONTACTS, "LastName", text="Hopper"),
                  el(CONTACTS, "Email1Address", text="grace@example.org"),
                  el(CONTACTS, "JobTitle", text="Rear Admiral")))
        answer = b.sync(ids[ADDRESSBOOK], keys_b[ADDRESSBOOK], commands=[edit])
        assert answer.find(AS, "Responses") is None
        keys_b[ADDRESSBOOK] = answer.find(AS, "SyncKey").text
        # A changes the same contact without having seen B's change: a conflict, the
        # server's version wins and A is sent it.
        clash = a.apply_contact_changes(ids[ADDRESSBOOK], keys_a[ADDRESSBOOK], [ContactChange(
            contact_id, Contact(first_name="Grace", last_name="Hopper", job_title="Professor"))])
        assert clash.statuses[contact_id] == "7"
        changed = {i.server_id: i.fields for i in clash.changed} if hasattr(clash, "changed") else None
        keys_a[ADDRESSBOOK] = clash.sync_key
        later = a.sync_folder(ids[ADDRESSBOOK], keys_a[ADDRESSBOOK])
        fields = (changed or {}).get(contact_id) or {i.server_id: i.fields for i in later.changed}.get(contact_id)
        assert fields is not None and fields.get("Contacts.JobTitle") == "Rear Admiral"
        keys_a[ADDRESSBOOK] = later.sync_key

        # -- calendar, tasks, notes: B adds, A sees; A's view then gets B's change.
        items = {
            CALENDAR: (CAL, [el(CAL, "Timezone", text=_UTC_BLOB), el(CAL, "StartTime", text="20261215T090000Z"),
                             el(CAL, "EndTime", text="20261215T100000Z"), el(CAL, "Subject", text="Standup"),
                             el(CAL, "AllDayEvent", text="0"), el(CAL, "BusyStatus", text="2"),
                             el(CAL, "MeetingStatus", text="0")]),
            TASKLIST: (TASKS, [el(TASKS, "Subject", text="File taxes"), el(TASKS, "Importance", text="2"),
                               el(TASKS, "Complete", text="0")]),
            NOTELIST: (NOTES, [el(NOTES, "Subject", text="Shopping"),
                               el("AirSyncBase:", "Body", el("AirSyncBase:", "Type", text="1"),
                                  el("AirSyncBase:", "Data", text="milk, eggs"))]),
        }
        for kind, (namespace, fields) in items.items():
            answer = b.sync(ids[kind], keys_b[kind], commands=[
                el(AS, "Add", el(AS, "ClientId", text=f"b-{kind}"), el(AS, "ApplicationData", *fields))])
            added = answer.find(AS, "Responses").find(AS, "Add")
            assert added.find(AS, "Status").text == "1", (kind, added)
            server_id = added.find(AS, "ServerId").text
            keys_b[kind] = answer.find(AS, "SyncKey").text
            got = a.sync_folder(ids[kind], keys_a[kind])
            keys_a[kind] = got.sync_key
            (item,) = got.added
            assert item.server_id == server_id
            assert field(item, namespace, "Subject") == fields[[f.tag for f in fields].index("Subject")].text
            renamed = [el(namespace, "Subject", text="Renamed") if f.tag == "Subject" else f for f in fields]
            answer = b.sync(ids[kind], keys_b[kind], commands=[
                el(AS, "Change", el(AS, "ServerId", text=server_id), el(AS, "ApplicationData", *renamed))])
            keys_b[kind] = answer.find(AS, "SyncKey").text
            got = a.sync_folder(ids[kind], keys_a[kind])
            keys_a[kind] = got.sync_key
            assert [(i.server_id, field(i, namespace, "Subject")) for i in got.changed] == [(server_id, "Renamed")]

        # -- a lost answer: B sends the same request again and gets the same answer.
        request = el(AS, "Add", el(AS, "ClientId", text="again"), el(AS, "ApplicationData",
                     el(NOTES, "Subject", text="Only once")))
        first = b.sync(ids[NOTELIST], keys_b[NOTELIST], commands=[request])
        second = b.sync(ids[NOTELIST], keys_b[NOTELIST], commands=[request])
        assert first == second
        got = a.sync_folder(ids[NOTELIST], keys_a[NOTELIST])
        assert [field(i, NOTES, "Subject") for i in got.added] == ["Only once"]

    # -- deleting B from the list: its keys are forgotten and it must start over.
    block(server.store.devices.remove(USER, "eas-phone-b"))
    status, tree = b.post("FolderSync", el(FH, "FolderSync", el(FH, "SyncKey", text="1")))
    assert tree.find(FH, "Status").text == "142"
    b.provision()
    status, tree = b.post("FolderSync", el(FH, "FolderSync", el(FH, "SyncKey", text="1")))
    assert tree.find(FH, "Status").text == "9"
    stale = b.sync(ids[INBOX], keys_b[INBOX])
    assert stale.find(AS, "Status").text == "3"


#: The EAS time-zone blob of UTC: what many phones send.
_UTC_BLOB = blob_from_zone("UTC", 2026)
