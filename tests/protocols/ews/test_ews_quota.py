"""The storage quota over EWS, answered per item with ErrorQuotaExceeded and nothing
stored: CreateItem SaveOnly, CopyItem (one item of a batch refused, the next one that
fits copied), CreateItem SendAndSaveCopy (not sent either, as Exchange's "prohibit
send"), and CreateAttachment (a rewrite making a message bigger). The quota is set
through ``smsync.admin.accounts``; raw SOAP (``ews_support``)."""

from __future__ import annotations

import base64

import pytest
import pytest_twisted
from ews_support import call, codes, operation, post, start, stop
from smsync.admin import accounts
from smsync.model import FlagMode, UIDSet
from smsync.protocols.ews import ids, soap
from smsync.testing.servers import OTHER, USER, in_thread


@pytest.fixture
def server():
    running = start()
    yield running
    stop(running)


def message(n: int, size: int) -> bytes:
    return b"Subject: quota %d\r\nFrom: <%s>\r\n\r\n" % (n, OTHER.encode()) + b"x" * size + b"\r\n"


async def set_quota(server, octets) -> None:
    await accounts.set_quota(server.store, USER, octets)
    server.service.edge.quotas.forget()


def new_message(subject: str) -> str:
    return (f"<m:Items><t:Message><t:Subject>{subject}</t:Subject>"
            f'<t:Body BodyType="Text">{"words " * 40}</t:Body>'
            f"<t:ToRecipients><t:Mailbox><t:EmailAddress>{OTHER}</t:EmailAddress></t:Mailbox>"
            f"</t:ToRecipients></t:Message></m:Items>")


def create(port: int, subject: str, disposition: str) -> list:
    request = operation("CreateItem", new_message(subject))
    request.set("MessageDisposition", disposition)
    status, _, payload = post(port, soap.request_envelope(request, soap.LATEST))
    assert status == 200, payload[:300]
    return codes(soap.read_response(payload))


@pytest_twisted.ensureDeferred
async def test_a_full_account_is_refused_item_by_item(server):
    port = server.port("http")
    big, small = await server.deliver(message(1, 600), message(2, 50))
    inbox = await server.mailbox()
    item = {uid: ids.item_id(ids.ItemRef(USER, ids.MESSAGE, inbox.id, str(uid))) for uid in (big, small)}
    sizes = {i.uid: i.size for i in await inbox.messages()}
    # Room for the small message once more, not for the big one.
    await set_quota(server, await accounts.usage(server.store, USER) + sizes[small] + 10)

    copied = await in_thread(call, port, "CopyItem",
                             '<m:ToFolderId><t:DistinguishedFolderId Id="drafts"/></m:ToFolderId>'
                             f'<m:ItemIds><t:ItemId Id="{item[big]}"/><t:ItemId Id="{item[small]}"/></m:ItemIds>')
    assert codes(copied) == ["ErrorQuotaExceeded", "NoError"]
    assert await server.bodies(folder="Drafts") == [message(2, 50)]

    # Now full: nothing more is saved, sent with a copy, or made bigger.
    assert await in_thread(create, port, "a draft", "SaveOnly") == ["ErrorQuotaExceeded"]
    assert await in_thread(create, port, "sent", "SendAndSaveCopy") == ["ErrorQuotaExceeded"]
    attached = await in_thread(call, port, "CreateAttachment",
                               f'<m:ParentItemId Id="{item[small]}"/><m:Attachments><t:FileAttachment>'
                               f"<t:Name>a.txt</t:Name><t:Content>{base64.b64encode(b'y' * 300).decode()}"
                               "</t:Content></t:FileAttachment></m:Attachments>")
    assert codes(attached) == ["ErrorQuotaExceeded"]
    assert await server.bodies(folder="Drafts") == [message(2, 50)]
    assert await server.bodies(folder="Sent") == []
    assert await server.bodies(OTHER) == []
    assert await server.bodies() == [message(1, 600), message(2, 50)]
    # A move within the account adds nothing: it goes.
    moved = await in_thread(call, port, "MoveItem",
                            '<m:ToFolderId><t:DistinguishedFolderId Id="deleteditems"/></m:ToFolderId>'
                            f'<m:ItemIds><t:ItemId Id="{item[big]}"/></m:ItemIds>')
    assert codes(moved) == ["NoError"]

    # With room, the same requests go through (the refusals were the quota's).
    await set_quota(server, 10 ** 6)
    assert await in_thread(create, port, "a draft", "SaveOnly") == ["NoError"]
    assert await in_thread(create, port, "sent", "SendAndSaveCopy") == ["NoError"]
    assert len(await server.bodies(folder="Drafts")) == 2
    assert len(await server.bodies(folder="Sent")) == 1
    assert len(await server.bodies(OTHER)) == 1


@pytest_twisted.ensureDeferred
async def test_rewrites_count_only_what_they_add_and_folder_copies_all_they_copy(server):
    port = server.port("http")
    [uid] = await server.deliver(b"Subject: a draft\r\n\r\n" + b"x" * 400 + b"\r\n", folder="Drafts")
    drafts = await server.mailbox("Drafts")
    await drafts.store_flags(UIDSet.of([uid]), FlagMode.ADD, ["\\Draft"])
    item = ids.item_id(ids.ItemRef(USER, ids.MESSAGE, drafts.id, str(uid)))
    await set_quota(server, await accounts.usage(server.store, USER))

    def update(text: str):
        return call(port, "UpdateItem",
                    f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{item}"/><t:Updates><t:SetItemField>'
                    '<t:FieldURI FieldURI="item:Body"/><t:Message>'
                    f'<t:Body BodyType="Text">{text}</t:Body></t:Message></t:SetItemField>'
                    "</t:Updates></t:ItemChange></m:ItemChanges>")

    # Bigger: refused, the draft as it was. Smaller: stored (the old one goes).
    assert codes(await in_thread(update, "y" * 2000)) == ["ErrorQuotaExceeded"]
    assert [len(b) for b in await server.bodies(folder="Drafts")] == [len(b"Subject: a draft\r\n\r\n") + 402]
    assert codes(await in_thread(update, "short")) == ["NoError"]
    [body] = await server.bodies(folder="Drafts")
    assert b"x" * 400 not in body

    # A folder copied: all its messages count, refused as a whole (full again first:
    # the smaller draft gave some room back).
    await set_quota(server, await accounts.usage(server.store, USER))
    copied = await in_thread(call, port, "CopyFolder",
                             '<m:ToFolderId><t:DistinguishedFolderId Id="msgfolderroot"/></m:ToFolderId>'
                             '<m:FolderIds><t:DistinguishedFolderId Id="drafts"/></m:FolderIds>')
    assert codes(copied) == ["ErrorQuotaExceeded"]
    names = [e.name for e in await (await server.store.mail(USER)).list_mailboxes()]
    assert not any(n.startswith("Drafts (") for n in names), names
