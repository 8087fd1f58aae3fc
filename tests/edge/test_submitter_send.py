"""``Submitter.send``: local accounts get the message in their Inbox at once, the rest is
queued for the smarthost, and the sender's copy goes to Sent only when asked."""

from __future__ import annotations

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st

from smsync.edge.outbound import RelayQueue, SendFailed, Submitter, local_account
from smsync.store.registry import open_store

USER, OTHER = "alice@example.org", "bob@example.org"


@given(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True),
       st.from_regex(r"[A-Za-z]{1,8}\.(org|NET)", fullmatch=True))
def test_local_account_drops_the_plus_tag_and_case(user, tag, domain):
    address = f"{user.upper()}+{tag}@{domain}" if tag else f"{user}@{domain}"
    assert local_account(address) == f"{user}@{domain.lower()}"


@pytest_twisted.ensureDeferred
async def test_send_delivers_locally_and_queues_the_rest(tmp_path):
    store = await open_store("memory:")
    try:
        for account in (USER, OTHER):
            await store.accounts.add(account, "x")
        queue = RelayQueue(tmp_path / "queue")
        queue.open()
        submitter = Submitter(store, queue)
        body = b"To: bob@example.org, far@remote.example\r\nSubject: hi\r\n\r\nhello\r\n"
        sent = await submitter.send(USER, USER, ["Bob+news@Example.org", "far@remote.example"], body,
                                    trace=b"Received: test\r\n", save_in_sent=False)
        assert sent.delivered == (OTHER,) and sent.relayed == ("far@remote.example",)
        inbox = await (await store.mail(OTHER)).mailbox("INBOX")
        [uid] = await inbox.uids()
        assert await inbox.read_body(uid) == b"Return-Path: <alice@example.org>\r\nReceived: test\r\n" + body
        [entry] = queue.entries()
        assert entry.id == sent.queue_id and queue.body(entry) == b"Received: test\r\n" + body
        sent_box = await (await store.mail(USER)).mailbox("Sent")
        assert await sent_box.uids() == []

        await submitter.send(USER, USER, [OTHER], body, sent_copy=b"Bcc: x@y\r\n" + body)
        assert [await sent_box.read_body(u) for u in await sent_box.uids()] == [b"Bcc: x@y\r\n" + body]
        with pytest.raises(SendFailed):
            await submitter.send(USER, USER, [], body)
    finally:
        await store.close()
