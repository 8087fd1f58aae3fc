"""exchangelib pull notifications: a subscription on the Inbox hears of mail delivered,
flagged and deleted by other means (the store, as LMTP and IMAP write it); a lost
answer asked again is the same; an unsubscribed or unknown subscription is refused."""

from __future__ import annotations

import pytest_twisted

from smsync.model import FlagMode, UIDSet
from smsync.testing.servers import in_thread, numbered_message
from tests.protocols.ews.ews_support import account


@pytest_twisted.ensureDeferred
async def test_pull_subscription_events(server):
    [first, second] = await server.deliver(numbered_message(1), numbered_message(2))

    def subscribe():
        acc = account(server)
        return acc.inbox.subscribe_to_pull(timeout=5)

    sub_id, watermark = await in_thread(subscribe)
    await server.deliver(numbered_message(3))
    box = await server.mailbox()
    await box.store_flags(UIDSet.of([first]), FlagMode.ADD, ["\\Seen"])
    await box.remove(UIDSet.of([second]))

    def events(mark):
        acc = account(server)
        from exchangelib.services import GetEvents

        [notification] = list(GetEvents(account=acc).call(subscription_id=sub_id, watermark=mark))
        return [(type(e).__name__, getattr(e, "item_id", None) and e.item_id.id) for e in notification.events]

    got = await in_thread(events, watermark)
    kinds = sorted(kind for kind, _ in got)
    assert kinds == ["CreatedEvent", "DeletedEvent", "ModifiedEvent", "NewMailEvent"], got
    # Asked again with the same watermark (the answer was lost): the same events.
    assert await in_thread(events, watermark) == got

    def follow_on():
        acc = account(server)
        notifications = list(acc.inbox.get_events(sub_id, watermark))
        last = notifications[-1].events[-1].watermark
        quiet = list(acc.inbox.get_events(sub_id, last))
        acc.inbox.unsubscribe(sub_id)
        try:
            list(acc.inbox.get_events(sub_id, last))
        except Exception as e:  # noqa: BLE001
            return [type(x).__name__ for n in quiet for x in n.events], type(e).__name__
        return [type(x).__name__ for n in quiet for x in n.events], "no error"

    quiet, error = await in_thread(follow_on)
    assert quiet == ["StatusEvent"] and error == "ErrorSubscriptionNotFound"


@pytest_twisted.ensureDeferred
async def test_streaming_subscription_events(server, log_capture):
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    def subscribe():
        return account(server).inbox.subscribe_to_streaming()

    sub_id = await in_thread(subscribe)

    def listen():
        acc = account(server)
        for notification in acc.inbox.get_streaming_events(sub_id, connection_timeout=1):
            kinds = sorted(type(e).__name__ for e in notification.events)
            if kinds:
                return notification.subscription_id, kinds
        return None

    listening = in_thread(listen)
    await deferLater(reactor, 1.0, lambda: None)
    started = reactor.seconds()
    await server.deliver(numbered_message(9))
    got = await listening
    assert got == (sub_id, ["CreatedEvent", "NewMailEvent"])
    assert reactor.seconds() - started < 5  # pushed, not found at the end of the connection
    await deferLater(reactor, 0.5, lambda: None)  # the client hung up: the answer ends
    assert not [e for e in log_capture.events if e.get("log_failure") is not None]
