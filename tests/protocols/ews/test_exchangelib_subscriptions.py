"""EWS notifications: exchangelib's pull subscription seeing a message delivered over
LMTP and one created by another session; a streaming subscription woken by an LMTP
delivery within a second; unsubscribe; push to a twisted.web listener of the test that
answers Unsubscribe; raw SOAP for what exchangelib does not do (keep-alives and the
Closed end of a stream, every error code, all-folders subscriptions, MoreEvents)."""

from __future__ import annotations

import http.client
import smtplib
import threading
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from smsync.protocols.ews import soap, subscriptions
from smsync.testing.servers import OTHER, PASSWORD, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account, call, codes, start, stop


@pytest.fixture
def server():
    running = start(("ews", "lmtp"))
    yield running
    stop(running)


def lmtp(server, body: bytes, to: str = USER) -> None:
    with smtplib.LMTP("127.0.0.1", server.port("lmtp"), timeout=20) as client:
        client.sendmail("sender@example.net", [to], body)


def hub(server):
    return subscriptions.hub_of(server.store)


async def until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await defer.ensureDeferred(_sleep(0.02))


async def _sleep(seconds: float) -> None:
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    await d


def events_of(notifications) -> list:
    return [(type(e).__name__, e) for n in notifications for e in n.events]


@pytest_twisted.ensureDeferred
async def test_pull_sees_lmtp_delivery_and_another_session(server):
    def subscribe():
        return account(server).inbox.subscribe_to_pull(timeout=10)

    sub_id, mark = await in_thread(subscribe)
    await in_thread(lmtp, server, numbered_message(1))

    def other_session():
        from exchangelib import Message

        other = account(server)
        Message(account=other, folder=other.inbox, subject="from another session", body="hi").save()

    await in_thread(other_session)

    def pull():
        acc = account(server)
        notifications = list(acc.inbox.get_events(sub_id, mark))
        found = events_of(notifications)
        subjects = {}
        for kind, event in found:
            if kind == "NewMailEvent" or kind == "CreatedEvent":
                [item] = acc.fetch(ids=[(event.item_id.id, event.item_id.changekey)], only_fields=["subject"])
                subjects.setdefault(kind, set()).add(item.subject)
        later = list(acc.inbox.get_events(sub_id, notifications[-1].events[-1].watermark))
        return found, subjects, later

    found, subjects, later = await in_thread(pull)
    assert subjects["CreatedEvent"] == {"message 1", "from another session"}
    assert "message 1" in subjects["NewMailEvent"]
    assert all(event.parent_folder_id is not None for _, event in found)
    # Nothing since: one StatusEvent.
    assert [kind for kind, _ in events_of(later)] == ["StatusEvent"]


@pytest_twisted.ensureDeferred
async def test_moves_and_copies_are_moved_and_copied_events(server):
    await server.deliver(numbered_message(1), numbered_message(2), numbered_message(3))

    def run():
        acc = account(server)
        target = acc.junk
        from exchangelib.folders import FolderCollection

        # The Inbox and the Junk folder, not the Deleted Items the third goes to.
        watched, mark = FolderCollection(account=acc, folders=[acc.inbox, target]).subscribe_to_pull(
            event_types=["MovedEvent", "CopiedEvent", "DeletedEvent", "CreatedEvent"])
        items = {i.subject: i for i in acc.inbox.all().only("subject")}
        old_ids = {s: i.id for s, i in items.items()}
        items["message 1"].move(target)
        items["message 2"].copy(target)
        items["message 3"].move_to_trash()
        time.sleep(0.5)
        seen = events_of(acc.inbox.get_events(watched, mark))
        return old_ids, target.id, acc.trash.id, seen

    old_ids, target_id, trash_id, seen = await in_thread(run)
    kinds = sorted(kind for kind, _ in seen)
    assert kinds == ["CopiedEvent", "MovedEvent", "MovedEvent"], kinds
    by_old = {event.old_item_id.id: (kind, event) for kind, event in seen}
    kind, moved = by_old[old_ids["message 1"]]
    assert kind == "MovedEvent" and moved.parent_folder_id.id == target_id
    assert moved.item_id.id != old_ids["message 1"]
    kind, copied = by_old[old_ids["message 2"]]
    assert kind == "CopiedEvent" and copied.parent_folder_id.id == target_id
    kind, trashed = by_old[old_ids["message 3"]]
    assert kind == "MovedEvent" and trashed.parent_folder_id.id == trash_id


@pytest_twisted.ensureDeferred
async def test_streaming_new_mail_within_a_second_of_lmtp(server):
    def subscribe():
        return account(server).inbox.subscribe_to_streaming(event_types=["NewMailEvent"])

    sub_id = await in_thread(subscribe)
    seen = {}

    def listen():
        acc = account(server)
        for notification in acc.inbox.get_streaming_events(sub_id, connection_timeout=1):
            for event in notification.events:
                if type(event).__name__ == "NewMailEvent":
                    seen["at"] = time.monotonic()
                    seen["id"] = event.item_id.id
                    return

    listening = in_thread(listen)
    await until(lambda: hub(server).streams)
    before = time.monotonic()
    await in_thread(lmtp, server, numbered_message(7))
    await listening
    assert seen["at"] - before < 1.0, seen["at"] - before

    def check():
        acc = account(server)
        [item] = acc.fetch(ids=[(seen["id"], None)], only_fields=["subject"])
        return item.subject

    assert await in_thread(check) == "message 7"


@pytest_twisted.ensureDeferred
async def test_unsubscribe(server):
    def run():
        from exchangelib.errors import ErrorSubscriptionNotFound

        acc = account(server)
        sub_id, mark = acc.inbox.subscribe_to_pull()
        acc.inbox.unsubscribe(sub_id)
        with pytest.raises(ErrorSubscriptionNotFound):
            list(acc.inbox.get_events(sub_id, mark))
        with pytest.raises(ErrorSubscriptionNotFound):
            acc.inbox.unsubscribe(sub_id)
        stream_id = acc.inbox.subscribe_to_streaming()
        acc.inbox.unsubscribe(stream_id)

    await in_thread(run)
    assert hub(server).count() == 0


class _PushListener(Resource):
    """A push client: records each SendNotification, answers OK, then Unsubscribe."""

    isLeaf = True

    def __init__(self, answers):
        super().__init__()
        self.received = []
        self.answers = list(answers)

    def render_POST(self, request):
        self.received.append(request.content.read())
        status = self.answers.pop(0) if self.answers else "OK"
        request.setHeader(b"content-type", b"text/xml; charset=utf-8")
        return (f'<?xml version="1.0"?><s:Envelope xmlns:s="{soap.SOAP}"><s:Body>'
                f'<m:SendNotificationResult xmlns:m="{soap.M}"><m:SubscriptionStatus>{status}'
                "</m:SubscriptionStatus></m:SendNotificationResult></s:Body></s:Envelope>").encode()


@pytest_twisted.ensureDeferred
async def test_push_to_a_listener_until_it_unsubscribes(server):
    listener = _PushListener(["OK", "Unsubscribe"])
    port = reactor.listenTCP(0, Site(listener), interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/ews-push"

        def subscribe():
            return account(server).inbox.subscribe_to_push(url, status_frequency=5)

        sub_id, _mark = await in_thread(subscribe)
        await in_thread(lmtp, server, numbered_message(3))
        await until(lambda: listener.received)
        answer = soap.read_response(listener.received[0])
        assert answer.payload.tag == soap.m("SendNotification")
        notification = answer.payload.find(".//" + soap.m("Notification"))
        assert notification.findtext(soap.t("SubscriptionId")) == sub_id
        kinds = [child.tag.rpartition("}")[2] for child in notification]
        assert "NewMailEvent" in kinds and "CreatedEvent" in kinds
        assert hub(server).count() == 1
        await server.deliver(numbered_message(4))
        await until(lambda: len(listener.received) == 2)
        await until(lambda: hub(server).count() == 0)
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_push_to_a_dead_url_is_dropped(server, monkeypatch):
    monkeypatch.setattr(subscriptions, "PUSH_RETRY", 0.05)
    probe = reactor.listenTCP(0, Site(Resource()), interface="127.0.0.1")
    dead = probe.getHost().port
    await probe.stopListening()
    answer = await in_thread(call, server.port("http"), "Subscribe", _push(f"http://127.0.0.1:{dead}/x"))
    assert codes(answer) == ["NoError"]
    await server.deliver(numbered_message(1))
    await until(lambda: hub(server).count() == 0)


def _push(url: str, frequency: int = 1) -> str:
    return ('<m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
            "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>"
            f"<t:StatusFrequency>{frequency}</t:StatusFrequency><t:URL>{url}</t:URL>"
            "</m:PushSubscriptionRequest>")


def _pull(folders='<t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>', events=None,
          timeout="10", attrs="") -> str:
    events = events if events is not None else ["NewMailEvent", "CreatedEvent", "DeletedEvent",
                                                "ModifiedEvent"]
    types = "".join(f"<t:EventType>{e}</t:EventType>" for e in events)
    return (f"<m:PullSubscriptionRequest{attrs}>{folders}<t:EventTypes>{types}</t:EventTypes>"
            f"<t:Timeout>{timeout}</t:Timeout></m:PullSubscriptionRequest>")


def _subscribe(port, body: str, **kwargs):
    answer = call(port, "Subscribe", body, **kwargs)
    [message] = soap.messages_of(answer.payload)
    return (message.findtext(soap.m("ResponseCode")), message.findtext(soap.m("SubscriptionId")),
            message.findtext(soap.m("Watermark")))


def _get_events(port, sub_id, mark, **kwargs):
    answer = call(port, "GetEvents", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>"
                  f"<m:Watermark>{mark}</m:Watermark>", **kwargs)
    [message] = soap.messages_of(answer.payload)
    code = message.findtext(soap.m("ResponseCode"))
    notification = message.find(".//" + soap.m("Notification"))
    events = [] if notification is None else [
        (child.tag.rpartition("}")[2], child) for child in notification
        if child.tag.endswith("Event")]
    more = None if notification is None else notification.findtext(soap.t("MoreEvents"))
    return code, events, more


@pytest_twisted.ensureDeferred
async def test_errors_are_response_codes(server, monkeypatch):
    port = server.port("http")
    code, sub_id, mark = await in_thread(_subscribe, port, _pull())
    assert code == "NoError" and sub_id and mark

    def get(sub, wm, **kwargs):
        return _get_events(port, sub, wm, **kwargs)[0]

    assert await in_thread(get, sub_id, "bm9uc2Vuc2U=") == "ErrorInvalidWatermark"
    assert await in_thread(get, sub_id, subscriptions.watermark(sub_id, 5)) == "ErrorInvalidWatermark"
    assert await in_thread(get, "%%%", mark) == "ErrorInvalidSubscription"
    assert await in_thread(get, subscriptions.new_subscription_id(), mark) == "ErrorSubscriptionNotFound"
    # Another account's subscription is not found, not shown.
    assert await in_thread(get, sub_id, mark, user=OTHER, password=PASSWORD) == "ErrorSubscriptionNotFound"
    # A watermark of another subscription.
    _, other_id, other_mark = await in_thread(_subscribe, port, _pull())
    assert await in_thread(get, sub_id, other_mark) == "ErrorInvalidWatermark"
    # Streaming subscriptions are not pulled.
    streaming = ('<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                 "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>"
                 "</m:StreamingSubscriptionRequest>")
    code, stream_id, none = await in_thread(_subscribe, port, streaming)
    assert code == "NoError" and none is None
    assert await in_thread(get, stream_id, mark) == "ErrorInvalidSubscription"
    # An expired pull subscription says so.
    hub(server).subs[other_id].expires = time.time() - 1
    assert await in_thread(get, other_id, other_mark) == "ErrorExpiredSubscription"
    # Bad requests.
    assert (await in_thread(_subscribe, port, _pull(events=[])))[0] == "ErrorInvalidSubscriptionRequest"
    assert (await in_thread(_subscribe, port, _pull(events=["Bogus"])))[0] == "ErrorInvalidSubscriptionRequest"
    assert (await in_thread(_subscribe, port, _pull(timeout="0")))[0] == "ErrorInvalidSubscriptionRequest"
    assert (await in_thread(_subscribe, port, _pull(folders="")))[0] == "ErrorInvalidSubscriptionRequest"
    assert (await in_thread(_subscribe, port, _pull(
        folders='<t:FolderIds><t:FolderId Id="garbage"/></t:FolderIds>')))[0] == "ErrorInvalidIdMalformed"
    assert (await in_thread(_subscribe, port, _push("file:///etc/passwd")))[0] == "ErrorInvalidPushSubscriptionUrl"
    # Streaming errors: an unknown id, a pull subscription, a timeout out of range.
    for ids_xml, timeout, expected in (
            (f"<t:SubscriptionId>{subscriptions.new_subscription_id()}</t:SubscriptionId>", 1,
             "ErrorSubscriptionNotFound"),
            (f"<t:SubscriptionId>{sub_id}</t:SubscriptionId>", 1, "ErrorInvalidSubscription"),
            (f"<t:SubscriptionId>{stream_id}</t:SubscriptionId>", 31, "ErrorInvalidSubscriptionRequest")):
        answer = await in_thread(call, port, "GetStreamingEvents",
                                 f"<m:SubscriptionIds>{ids_xml}</m:SubscriptionIds>"
                                 f"<m:ConnectionTimeout>{timeout}</m:ConnectionTimeout>")
        assert codes(answer) == [expected]
    # The per-account bound.
    monkeypatch.setattr(subscriptions, "MAX_PER_ACCOUNT", hub(server).count(USER))
    assert (await in_thread(_subscribe, port, _pull()))[0] == "ErrorExceededSubscriptionCount"


@pytest_twisted.ensureDeferred
async def test_all_folders_more_events_and_acknowledgement(server):
    port = server.port("http")
    code, sub_id, mark = await in_thread(_subscribe, port, _pull(
        folders="", attrs=' SubscribeToAllFolders="true"'))
    assert code == "NoError"
    mail = await server.store.mail(USER)
    await mail.create_mailbox("Projects")
    await until(lambda: hub(server).feeds[USER].folders and any(
        f.name == "Projects" for f in hub(server).feeds[USER].folders.values()))
    await server.deliver(*(numbered_message(n) for n in range(30)), folder="Projects")
    await server.deliver(numbered_message(99))
    await until(lambda: hub(server).subs[sub_id].seq >= 63)  # 1 folder, 31 x (Created, NewMail)

    code, first, more = await in_thread(_get_events, port, sub_id, mark)
    assert code == "NoError" and len(first) == subscriptions.MAX_PER_GET and more == "true"
    assert first[0][0] == "CreatedEvent" and first[0][1].find(soap.t("FolderId")) is not None
    last = first[-1][1].findtext(soap.t("Watermark"))
    code, second, more = await in_thread(_get_events, port, sub_id, last)
    assert code == "NoError" and more == "false"
    kinds = [kind for kind, _ in first + second]
    assert kinds.count("CreatedEvent") == 32 and kinds.count("NewMailEvent") == 31
    # Acknowledged: the first watermark is now too old.
    assert (await in_thread(_get_events, port, sub_id, mark))[0] == "ErrorInvalidWatermark"
    # Flags and expunges: Modified, Deleted.
    box = await server.mailbox("Projects")
    from smsync.model import FlagMode, UIDSet

    uids = await box.uids()
    before = hub(server).subs[sub_id].seq
    await box.store_flags(UIDSet.of(uids[:2]), FlagMode.ADD, ["\\Seen"])
    await box.remove(UIDSet.of(uids[2:3]))
    await until(lambda: hub(server).subs[sub_id].seq >= before + 3)
    code, third, _ = await in_thread(_get_events, port, sub_id, second[-1][1].findtext(soap.t("Watermark")))
    assert sorted(kind for kind, _ in third) == ["DeletedEvent", "ModifiedEvent", "ModifiedEvent"]


def _stream_raw(port, sub_id, chunks: list, stop: threading.Event):
    """Read a GetStreamingEvents answer, collecting each piece, until it ends."""
    import base64

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = soap.request_envelope(soap.etree.fromstring(
        f'<m:GetStreamingEvents xmlns:m="{soap.M}" xmlns:t="{soap.T}"><m:SubscriptionIds>'
        f"<t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
        "<m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("POST", "/EWS/Exchange.asmx", body=body,
                 headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"})
    response = conn.getresponse()
    assert response.status == 200
    while not stop.is_set():
        piece = response.read1(65536)
        if not piece:
            break
        chunks.append(piece)
    conn.close()


@pytest_twisted.ensureDeferred
async def test_stream_keep_alives_events_and_close(server, monkeypatch):
    monkeypatch.setattr(subscriptions, "HEARTBEAT", 0.2)
    monkeypatch.setattr(subscriptions, "TICK", 0.05)
    port = server.port("http")
    streaming = ('<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                 "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType>"
                 "<t:EventType>DeletedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest>")
    code, sub_id, _ = await in_thread(_subscribe, port, streaming)
    # Events before a connection wait for it.
    await server.deliver(numbered_message(1))
    await until(lambda: hub(server).subs[sub_id].events)
    chunks, stop_reading = [], threading.Event()
    reading = in_thread(_stream_raw, port, sub_id, chunks, stop_reading)
    await until(lambda: b"NewMailEvent" in b"".join(chunks))
    await until(lambda: b"".join(chunks).count(b"<m:ConnectionStatus>OK") >= 3)
    [stream] = hub(server).streams
    stream.deadline = time.time()
    await reading
    data = b"".join(chunks)
    assert data.rstrip().endswith(b"</s:Envelope>") and b"<m:ConnectionStatus>Closed" in data
    # The subscription outlives its connection, then expires.
    assert sub_id in hub(server).subs and not hub(server).streams
    hub(server).subs[sub_id].expires = time.time() - 1
    answer = await in_thread(call, port, "GetStreamingEvents",
                             f"<m:SubscriptionIds><t:SubscriptionId>{sub_id}</t:SubscriptionId>"
                             "</m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout>")
    assert codes(answer) == ["ErrorExpiredSubscription"]


@pytest_twisted.ensureDeferred
async def test_a_dropped_stream_connection_detaches(server):
    port = server.port("http")
    streaming = ('<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                 "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>"
                 "</m:StreamingSubscriptionRequest>")
    _, sub_id, _ = await in_thread(_subscribe, port, streaming)
    chunks, stop_reading = [], threading.Event()
    reading = in_thread(_stream_raw, port, sub_id, chunks, stop_reading)
    await until(lambda: hub(server).streams and chunks)
    stop_reading.set()
    await server.deliver(numbered_message(2))  # wakes the reader, which then hangs up
    await reading
    await until(lambda: not hub(server).streams)
    assert hub(server).subs[sub_id].stream is None


def test_watermarks_round_trip():
    sub_id = subscriptions.new_subscription_id()
    for seq in (0, 1, 2 ** 40):
        assert subscriptions.parse_watermark(sub_id, subscriptions.watermark(sub_id, seq)) == seq
    with pytest.raises(subscriptions.NotifyError):
        subscriptions.parse_watermark(subscriptions.new_subscription_id(), subscriptions.watermark(sub_id, 1))

