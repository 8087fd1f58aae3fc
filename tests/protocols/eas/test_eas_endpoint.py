"""The EAS endpoint's spine: a real client (pyactivesync, EAS 16.1) provisions and lists
the folders over HTTPS; raw requests built with our codec check the policy-key rule, the
hierarchy sync keys and the answers to bad input."""

from __future__ import annotations

import base64
import http.client

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import blockingCallFromThread, deferToThread

from smsync.protocols.eas.request import EASRequest, plain_query
from smsync.protocols.eas.wbxml import Element, decode, encode
from smsync.testing.servers import PASSWORD, USER, RunningServers, client_tls_context

FH = "FolderHierarchy:"


def block(d):
    """From a scenario's thread: wait for a Deferred or coroutine run on the reactor."""
    return blockingCallFromThread(reactor, lambda: ensureDeferred(d))

PROV = "Provision:"


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def post(port, command, body=None, *, version="16.1", policy_key=None, password=PASSWORD,
         device="raw01", method="POST", raw_body=None, query=None):
    request = EASRequest(command=command, device_id=device, device_type="pytest", user=USER,
                         version=version, policy_key=policy_key)
    text, headers = plain_query(request)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls_context(), timeout=30)
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
    data = raw_body if raw_body is not None else (encode(body) if body is not None else b"")
    conn.request(method, "/Microsoft-Server-ActiveSync?" + (query if query is not None else text),
                 body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    tree = decode(payload) if payload and response.getheader("Content-Type", "").endswith("wbxml") else None
    return response.status, {k.lower(): v for k, v in response.getheaders()}, tree


def folder_sync(key: str) -> Element:
    return Element(FH, "FolderSync", (Element(FH, "SyncKey", (), key),))


def provision(port, device="raw01") -> int:
    policy = Element(PROV, "Policies", (Element(PROV, "Policy", (
        Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),)),))
    status, _, tree = post(port, "Provision", Element(PROV, "Provision", (policy,)), device=device)
    assert status == 200
    temporary = tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text
    ack = Element(PROV, "Policies", (Element(PROV, "Policy", (
        Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),
        Element(PROV, "PolicyKey", (), temporary), Element(PROV, "Status", (), "1"))),))
    status, _, tree = post(port, "Provision", Element(PROV, "Provision", (ack,)),
                           policy_key=int(temporary), device=device)
    assert status == 200
    final = tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text
    assert final != temporary
    return int(final)


@pytest_twisted.ensureDeferred
async def test_pyactivesync_provisions_and_lists_the_folders(server, monkeypatch):
    # requests trusts REQUESTS_CA_BUNDLE over its own verify flag: point it at the
    # harness's certificate, which names 127.0.0.1, so the client verifies it for real.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await deferToThread(_test_pyactivesync_provisions_and_lists_the_folders, server)


def _test_pyactivesync_provisions_and_lists_the_folders(server):
    from pyactivesync import Client, FolderType

    def client():
        with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                    password=PASSWORD, device_id="pyas01") as c:
            return c.list_folders()

    folders = client()
    by_type = {f.type: f for f in folders}
    assert by_type[FolderType.INBOX].name == "Inbox"
    for kind in (FolderType.SENT_ITEMS, FolderType.DRAFTS, FolderType.DELETED_ITEMS, FolderType.CALENDAR,
                 FolderType.CONTACTS, FolderType.TASKS, FolderType.NOTES):
        assert kind in by_type, kind
    assert all(f.parent_id == "0" for f in folders)
    devices = block(server.store.devices.list(USER))
    assert [d.device_id for d in devices] == ["eas-pyas01"]
    log = block(server.store.devices.get_log(USER, "eas-pyas01"))
    assert any("policy key" in entry.message for entry in log)
    assert any("FolderSync" in entry.message for entry in log)


@pytest_twisted.ensureDeferred
async def test_options_and_http_errors(server):
    await deferToThread(_test_options_and_http_errors, server)


def _test_options_and_http_errors(server):
    port = server.port("eas", tls=True)
    status, headers, _ = post(port, "FolderSync", method="OPTIONS")
    assert status == 200
    assert "16.1" in headers["ms-asprotocolversions"].split(",")
    assert {"FolderSync", "Provision"} <= set(headers["ms-asprotocolcommands"].split(","))
    assert post(port, "FolderSync", folder_sync("0"), password="wrong")[0] == 401
    assert post(port, "FolderSync", folder_sync("0"), query="Cmd=Nope&DeviceId=x&DeviceType=y")[0] == 400
    assert post(port, "FolderSync", folder_sync("0"), version=None)[0] == 400
    assert post(port, "ValidateCert", raw_body=b"")[0] == 501
    key = provision(port)
    assert post(port, "FolderSync", raw_body=b"\x03\x01\x6a\x00\x45\xff", policy_key=key)[0] == 400
    assert post(port, "FolderSync", Element(FH, "Folders"), policy_key=key)[0] == 400


@pytest_twisted.ensureDeferred
async def test_the_policy_key_is_required_and_device_delete_resets_it(server):
    await deferToThread(_test_the_policy_key_is_required_and_device_delete_resets_it, server)


def _test_the_policy_key_is_required_and_device_delete_resets_it(server):
    port = server.port("eas", tls=True)
    status, _, tree = post(port, "FolderSync", folder_sync("0"))
    assert status == 200 and tree.find(FH, "Status").text == "142"
    assert post(port, "FolderSync", folder_sync("0"), version="12.1")[0] == 449
    key = provision(port)
    status, _, tree = post(port, "FolderSync", folder_sync("0"), policy_key=key)
    assert tree.find(FH, "Status").text == "1"
    assert post(port, "FolderSync", folder_sync("0"), policy_key=key + 1)[2].find(FH, "Status").text == "142"
    block(server.store.devices.remove(USER, "eas-raw01"))
    status, _, tree = post(port, "FolderSync", folder_sync("0"), policy_key=key)
    assert tree.find(FH, "Status").text == "142"


@pytest_twisted.ensureDeferred
async def test_hierarchy_changes_and_sync_keys(server):
    await deferToThread(_test_hierarchy_changes_and_sync_keys, server)


def _test_hierarchy_changes_and_sync_keys(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    _, _, first = post(port, "FolderSync", folder_sync("0"), policy_key=key)
    sync_key = first.find(FH, "SyncKey").text
    added = first.find(FH, "Changes").children
    assert int(first.find(FH, "Changes").find(FH, "Count").text) == len(added) - 1 >= 10

    # Nothing changed: the same key comes back with no changes.
    _, _, same = post(port, "FolderSync", folder_sync(sync_key), policy_key=key)
    assert same.find(FH, "SyncKey").text == sync_key
    assert same.find(FH, "Changes").find(FH, "Count").text == "0"

    async def change():
        mail = await server.store.mail(USER)
        await mail.create_mailbox("Projects")
        await mail.create_mailbox("Projects/2027")
        await mail.delete_mailbox("Archive")

    block(change())
    _, _, later = post(port, "FolderSync", folder_sync(sync_key), policy_key=key)
    changes = later.find(FH, "Changes")
    adds = [c for c in changes.children if c.tag == "Add"]
    deletes = [c for c in changes.children if c.tag == "Delete"]
    names = {a.find(FH, "DisplayName").text: a for a in adds}
    assert set(names) == {"Projects", "2027"} and len(deletes) == 1
    assert names["2027"].find(FH, "ParentId").text == names["Projects"].find(FH, "ServerId").text
    assert later.find(FH, "SyncKey").text != sync_key

    # The answer to that request was lost: the same key again gets the same changes.
    _, _, again = post(port, "FolderSync", folder_sync(sync_key), policy_key=key)
    assert again.find(FH, "SyncKey").text == later.find(FH, "SyncKey").text
    assert again.find(FH, "Changes") == changes

    _, _, stale = post(port, "FolderSync", folder_sync("12345"), policy_key=key)
    assert stale.find(FH, "Status").text == "9"


@pytest_twisted.ensureDeferred
async def test_pyactivesync_syncs_the_inbox_both_ways(server, monkeypatch):
    """Messages delivered to the store reach the phone in windows; the phone's read and
    delete reach the store (IMAP sees them); a flag set on the server reaches the phone."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    body = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: =?utf-8?q?H=C3=A9llo?=\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            b"\r\nCaf=C3=A9 au lait\r\n")
    uids = await server.deliver(*([body] * 30))
    await deferToThread(_test_pyactivesync_syncs_the_inbox_both_ways, server, uids)


def _test_pyactivesync_syncs_the_inbox_both_ways(server, uids):
    from pyactivesync import Client, EmailChange, FolderType

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas02") as c:
        inbox = next(f for f in c.list_folders() if f.type == FolderType.INBOX)
        first = c.sync_folder(inbox.id)
        assert first.added == [] and first.sync_key != "0"
        page = c.sync_folder(inbox.id, first.sync_key, window_size=25)
        assert len(page.added) == 25 and page.more_available
        rest = c.sync_folder(inbox.id, page.sync_key, window_size=25)
        assert len(rest.added) == 5 and not rest.more_available
        items = {i.server_id: i.fields for i in page.added + rest.added}
        assert set(items) == {str(u) for u in uids}
        fields = items[str(uids[0])]
        assert fields["Email.Subject"] == "Héllo" and fields["Email.Read"] == "0"
        assert "Bob" in fields["Email.From"]
        assert fields["AirSyncBase.Data"].strip() == "Café au lait"

        done = c.apply_email_changes(inbox.id, rest.sync_key, [
            EmailChange(str(uids[0]), read=True), EmailChange(str(uids[1]), delete=True)])
        assert set(done.statuses.values()) == {"1"}

        async def store_view():
            box = await server.mailbox()
            infos = await box.messages()
            from smsync.model import FlagMode, UIDSet

            await box.store_flags(UIDSet.of([uids[2]]), FlagMode.ADD, ["\\Flagged"])
            return {m.uid: m.flags for m in infos}

        flags = block(store_view())
        assert "\\Seen" in flags[uids[0]] and uids[1] not in flags
        later = c.sync_folder(inbox.id, done.sync_key)
        changed = {i.server_id: i.fields for i in later.changed}
        assert list(changed) == [str(uids[2])]
        assert changed[str(uids[2])].get("Email.Status") == "2"
        assert later.deleted == []  # its own delete is not echoed back


@pytest_twisted.ensureDeferred
async def test_ping_is_woken_by_a_delivery_within_a_second(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await deferToThread(_test_ping_is_woken_by_a_delivery_within_a_second, server)


def _test_ping_is_woken_by_a_delivery_within_a_second(server):
    import threading
    import time

    from pyactivesync import Client, FolderType

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas03") as c:
        folders = c.list_folders()
        inbox = next(f for f in folders if f.type == FolderType.INBOX)
        sent = next(f for f in folders if f.type == FolderType.SENT_ITEMS)
        bad = c.ping([inbox.id], heartbeat=10)
        assert bad.status == "5"

        def deliver_later():
            time.sleep(0.5)
            block(server.deliver(b"Subject: push\r\n\r\nwake up\r\n"))

        threading.Thread(target=deliver_later).start()
        begun = time.monotonic()
        woken = c.ping([inbox.id, sent.id], heartbeat=120)
        waited = time.monotonic() - begun
        assert woken.status == "2" and woken.changed_folder_ids == [inbox.id]
        assert 0.4 < waited < 1.5, waited


@pytest_twisted.ensureDeferred
async def test_an_empty_ping_repeats_the_last_and_a_hang_up_is_harmless(server, log_capture):
    await deferToThread(_test_an_empty_ping_repeats, server)
    assert not any(e.get("log_failure") for e in log_capture.events), "an error was logged"


def _test_an_empty_ping_repeats(server):
    import socket
    import threading
    import time

    port = server.port("eas", tls=True)
    key = provision(port)
    _, _, folders = post(port, "FolderSync", folder_sync("0"), policy_key=key)
    inbox = next(a.find(FH, "ServerId").text for a in folders.find(FH, "Changes").children
                 if a.tag == "Add" and a.find(FH, "Type").text == "2")
    PING = "Ping:"
    request = Element(PING, "Ping", (Element(PING, "HeartbeatInterval", (), "60"), Element(
        PING, "Folders", (Element(PING, "Folder", (Element(PING, "Id", (), inbox),
                                                   Element(PING, "Class", (), "Email"))),))))
    # The phone hangs up while its Ping waits.
    try:
        post_with_timeout(port, "Ping", request, key, 0.5)
    except (socket.timeout, TimeoutError):
        pass

    def deliver_later():
        time.sleep(0.5)
        block(server.deliver(b"Subject: again\r\n\r\nwake up\r\n"))

    threading.Thread(target=deliver_later).start()
    status, _, answer = post(port, "Ping", raw_body=b"", policy_key=key)  # empty: as before
    assert status == 200 and answer.find(PING, "Status").text == "2"
    assert [f.text for f in answer.find(PING, "Folders").children] == [inbox]


def post_with_timeout(port, command, body, key, timeout):
    request = EASRequest(command=command, device_id="raw01", device_type="pytest", user=USER,
                         version="16.1", policy_key=key)
    text, headers = plain_query(request)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_tls_context(), timeout=timeout)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
    try:
        conn.request("POST", "/Microsoft-Server-ActiveSync?" + text, body=encode(body), headers=headers)
        conn.getresponse()
    finally:
        conn.close()


@pytest_twisted.ensureDeferred
async def test_ping_answers_at_once_for_changes_since_the_last_sync(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await server.deliver(b"Subject: one\r\n\r\nx\r\n")
    await deferToThread(_test_ping_answers_at_once, server)


def _test_ping_answers_at_once(server):
    import threading
    import time

    from pyactivesync import Client, FolderType

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas04") as c:
        inbox = next(f for f in c.list_folders() if f.type == FolderType.INBOX)
        key = c.sync_folder(inbox.id).sync_key
        key = c.sync_folder(inbox.id, key).sync_key
        block(server.deliver(b"Subject: two\r\n\r\nmissed by no Ping\r\n"))
        begun = time.monotonic()
        at_once = c.ping([inbox.id], heartbeat=120)
        assert at_once.status == "2" and at_once.changed_folder_ids == [inbox.id]
        assert time.monotonic() - begun < 0.4
        # Synced to the end again: the next Ping waits for a new change.
        got = c.sync_folder(inbox.id, key)
        assert [i.fields["Email.Subject"] for i in got.added] == ["two"]
        threading.Thread(target=lambda: (time.sleep(0.5), block(server.deliver(b"Subject: three\r\n\r\nx\r\n")))).start()
        begun = time.monotonic()
        later = c.ping([inbox.id], heartbeat=120)
        assert later.status == "2" and time.monotonic() - begun > 0.4


@pytest_twisted.ensureDeferred
async def test_remote_wipe_and_account_only_wipe(server):
    from smsync.edge.devices import request_wipe, wipe_request

    port = server.port("eas", tls=True)
    policy = await deferToThread(provision, port, "wipe01")
    status, _, tree = await deferToThread(post, port, "FolderSync", folder_sync("0"), policy_key=policy,
                                          device="wipe01")
    assert tree.find(FH, "Status").text == "1"
    await request_wipe(server.store.devices, USER, "eas-wipe01")
    # Any command now sends the device to Provision, which tells it to wipe.
    status, _, tree = await deferToThread(post, port, "FolderSync", folder_sync("0"), policy_key=policy,
                                          device="wipe01")
    assert tree.find(FH, "Status").text == "142"
    ask = Element(PROV, "Provision", (Element(PROV, "Policies", (Element(PROV, "Policy", (
        Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),)),)),))
    status, _, tree = await deferToThread(post, port, "Provision", ask, device="wipe01")
    assert tree.find(PROV, "RemoteWipe") is not None and tree.find(PROV, "Policies") is None
    done = Element(PROV, "Provision", (Element(PROV, "RemoteWipe", (Element(PROV, "Status", (), "1"),)),))
    status, _, tree = await deferToThread(post, port, "Provision", done, device="wipe01")
    assert status == 200 and tree.find(PROV, "Status").text == "1"
    wipe = await wipe_request(server.store.devices, USER, "eas-wipe01")
    assert wipe.status == "1" and wipe.acknowledged
    log = [e.message for e in await server.store.devices.get_log(USER, "eas-wipe01")]
    assert "remote wipe requested" in log and "remote wipe done" in log
    # Deleting the device from the list ends it: the next request starts afresh.
    await server.store.devices.remove(USER, "eas-wipe01")
    policy = await deferToThread(provision, port, "wipe01")
    assert policy

    # Account-only: a 16.1 device is told AccountOnlyRemoteWipe; an older one is refused.
    for device, version in (("wipe02", "16.1"), ("wipe03", "14.1")):
        await deferToThread(provision, port, device)
        await request_wipe(server.store.devices, USER, f"eas-{device}", account_only=True)
        status, _, tree = await deferToThread(post, port, "Provision", ask, device=device, version=version)
        if version == "16.1":
            assert tree.find(PROV, "AccountOnlyRemoteWipe") is not None and tree.find(PROV, "RemoteWipe") is None
        else:
            assert status == 403
