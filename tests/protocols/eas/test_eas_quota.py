"""The storage quota over EAS, for an account already full (quota set through
``smsync.admin.accounts``): a draft saved from the phone (Sync Add, EAS 16) is answered
Status 113 (MailboxQuotaExceeded) and not stored; SendMail keeping a copy in Sent is
answered Status 115 (SendQuotaExceeded, as Exchange refuses a mailbox over its
"prohibit send" quota) and nothing goes out; sent without a copy it goes, storing
nothing here. With room, the same draft is saved."""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.admin import accounts
from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import OTHER, SQLITE, USER, RunningServers
from tests.protocols.eas.eas_client import AS, el, ready_device

CM, BASE, EMAIL = "ComposeMail:", "AirSyncBase:", "Email:"
DRAFTS_TYPE = 3


@pytest.fixture
def servers():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), SQLITE, tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


async def set_quota(servers, octets) -> None:
    await accounts.set_quota(servers.store, USER, octets)
    servers.service.edge.quotas.forget()


def draft(client_id: str) -> Element:
    return el(AS, "Add", el(AS, "ClientId", text=client_id), el(AS, "ApplicationData",
              el(EMAIL, "To", text=OTHER), el(EMAIL, "Subject", text="full?"),
              el(BASE, "Body", el(BASE, "Type", text="1"), el(BASE, "Data", text="a draft " * 20))))


def add_status(collection: Element, client_id: str) -> str:
    for r in collection.find(AS, "Responses").children:
        if r.tag == "Add" and r.find(AS, "ClientId").text == client_id:
            return r.find(AS, "Status").text
    raise AssertionError(f"no answer to {client_id}")


def send_mail(phone, client_id: str, save: bool) -> str:
    mime = (f"From: <{USER}>\r\nTo: {OTHER}\r\nSubject: {client_id}\r\n\r\n" + "text " * 50 + "\r\n").encode()
    children = [Element(CM, "ClientId", (), client_id)]
    if save:
        children.append(Element(CM, "SaveInSentItems"))
    children.append(Element(CM, "Mime", opaque=mime))
    status, tree = phone.post("SendMail", Element(CM, "SendMail", tuple(children)))
    assert status == 200, status
    return "ok" if tree is None else tree.find(CM, "Status").text


@pytest_twisted.ensureDeferred
async def test_a_full_account_saves_no_draft_and_sends_nothing_it_would_keep(servers):
    await servers.deliver(b"Subject: filler\r\n\r\n" + b"x" * 500 + b"\r\n")
    await set_quota(servers, await accounts.usage(servers.store, USER))
    phone = await deferToThread(ready_device, servers, "quota-phone")
    drafts = phone.folder_of_type(DRAFTS_TYPE)

    def refused():
        key = phone.sync(drafts, "0").find(AS, "SyncKey").text
        answer = phone.sync(drafts, key, commands=[draft("d1")])
        return answer.find(AS, "SyncKey").text, add_status(answer, "d1"), send_mail(phone, "s1", True)

    key, added, sent = await deferToThread(refused)
    assert added == "113"
    assert sent == "115"
    assert await servers.bodies(folder="Drafts") == []
    assert await servers.bodies(folder="Sent") == []
    assert await servers.bodies(OTHER) == []
    # Without a copy kept here, the message goes: the account grows by nothing.
    assert await deferToThread(send_mail, phone, "s2", False) == "ok"
    assert len(await servers.bodies(OTHER)) == 1 and await servers.bodies(folder="Sent") == []

    # With room, the same draft is saved and the copy kept.
    await set_quota(servers, 10 ** 6)

    def fits():
        answer = phone.sync(drafts, key, commands=[draft("d2")])
        return add_status(answer, "d2"), send_mail(phone, "s3", True)

    assert await deferToThread(fits) == ("1", "ok")
    assert len(await servers.bodies(folder="Drafts")) == 1
    assert len(await servers.bodies(folder="Sent")) == 1


@pytest_twisted.ensureDeferred
async def test_a_local_recipient_at_its_quota_does_not_get_it(servers):
    # Mail sent to an account of this server goes to its Inbox at once: that Inbox's
    # quota holds as delivery's does. The only recipient refused: nothing was sent
    # (Status 120, SubmissionFailed), and the sender's copy is not kept either.
    await servers.deliver(b"Subject: filler\r\n\r\n" + b"x" * 500 + b"\r\n", user=OTHER)
    await accounts.set_quota(servers.store, OTHER, await accounts.usage(servers.store, OTHER))
    servers.service.edge.quotas.forget()
    phone = await deferToThread(ready_device, servers, "sender-phone")
    assert await deferToThread(send_mail, phone, "to-full", True) == "120"
    assert len(await servers.bodies(OTHER)) == 1
    assert await servers.bodies(folder="Sent") == []


@pytest_twisted.ensureDeferred
async def test_a_draft_made_bigger_than_the_room_left_is_not_changed(servers):
    phone = await deferToThread(ready_device, servers, "change-phone")
    drafts = phone.folder_of_type(DRAFTS_TYPE)

    def save():
        key = phone.sync(drafts, "0").find(AS, "SyncKey").text
        answer = phone.sync(drafts, key, commands=[draft("c1")])
        [r] = answer.find(AS, "Responses").children
        return answer.find(AS, "SyncKey").text, r.find(AS, "ServerId").text

    key, sid = await deferToThread(save)
    await set_quota(servers, await accounts.usage(servers.store, USER))
    before = await servers.bodies(folder="Drafts")

    def change(text: str) -> str:
        nonlocal key
        answer = phone.sync(drafts, key, commands=[el(AS, "Change", el(AS, "ServerId", text=sid), el(
            AS, "ApplicationData", el(BASE, "Body", el(BASE, "Type", text="1"), el(BASE, "Data", text=text))))])
        key = answer.find(AS, "SyncKey").text
        found = answer.find(AS, "Responses")
        changes = [r for r in (found.children if found is not None else ()) if r.tag == "Change"]
        return changes[0].find(AS, "Status").text if changes else "1"

    assert await deferToThread(change, "much longer " * 100) == "113"
    assert await servers.bodies(folder="Drafts") == before
    assert await deferToThread(change, "short") == "1"  # smaller: fits
    assert await servers.bodies(folder="Drafts") != before
