"""EWS subscriptions across the workers of ``smsync serve --workers 2``: a real server
run as users run it, each request sent to the worker we choose by freezing the other
(SIGSTOP: it accepts nothing meanwhile, so a new connection reaches the other one).

* a pull subscription made through one worker is pulled through the other: the message
  delivered over LMTP meanwhile is there, once (not lost, not doubled when the next
  pull reaches the first worker again), and exchangelib pulls it too; Unsubscribe
  through the other worker ends it for both;
* a streaming subscription made through one worker streams through the other;
* Subscribe with the Watermark of a subscription that is gone gets the events since;
* the watermark is a position: a made-up or damaged one, or another account's, is
  refused.

And two servers in this process over one SQLite or PostgreSQL store (two hubs, as two workers have):
an all-folders subscription taken up by the other hub tells the calendar's changes and
the mail since its watermark, and nothing again back on the first; a stream that ended
on one hub goes on from where it stood on the other (the message streamed before is not
told again, the one delivered between the two connections is).
"""

from __future__ import annotations

import base64
import http.client
import os
import smtplib
import threading
import time
from pathlib import Path

import pytest
import pytest_twisted

from smsync.protocols.ews import marks, soap, subscriptions
from smsync.testing import servers
from tests.store import pg_support
from tests.cli.test_serve_workers import Serve, _site, stopped

USER = "alice@example.org"
PASSWORD = "wonderland"
ROOT = Path(__file__).resolve().parents[3]

PULL_INBOX = ('<m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
              "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType>"
              "<t:EventType>CreatedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>"
              "<t:EventType>ModifiedEvent</t:EventType></t:EventTypes>{mark}"
              "<t:Timeout>10</t:Timeout></m:PullSubscriptionRequest>")
STREAM_INBOX = ('<m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                "</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType>"
                "</t:EventTypes></m:StreamingSubscriptionRequest>")


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    root = _site(tmp_path_factory.mktemp("workers"))
    old = os.environ.get("PYTHONPATH")
    # The workers run this checkout's code.
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    try:
        server = Serve(root, "--workers", "2")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    try:
        deadline = time.monotonic() + 60
        while len(server.ports().get("http", [])) < 1 or len(server.worker_pids()) < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        server.root = root
        _wait_ready(server)
        yield server
    finally:
        server.stop()


def _wait_ready(server) -> None:
    deadline = time.monotonic() + 60
    for pid in server.worker_pids().values():
        others = [p for p in server.worker_pids().values() if p != pid]
        with stopped(others[0]):
            while True:
                try:
                    soap_call(server, "GetFolder", '<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>'
                              '</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                              "</m:FolderIds>", timeout=5)
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)


def pids(server) -> list:
    return [pid for _, pid in sorted(server.worker_pids().items())]


def soap_call(server, operation: str, inner: str, timeout: float = 30, user: str = USER) -> bytes:
    """One SOAP request on a new connection (so the kernel hands it to a worker that
    is accepting)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.ports()["http"][0], timeout=timeout)
    body = soap.request_envelope(soap.etree.fromstring(
        f'<m:{operation} xmlns:m="{soap.M}" xmlns:t="{soap.T}">{inner}</m:{operation}>'))
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    try:
        conn.request("POST", "/EWS/Exchange.asmx", body=body,
                     headers={"Content-Type": "text/xml; charset=utf-8",
                              "Authorization": f"Basic {token}"})
        answer = conn.getresponse()
        data = answer.read()
        assert answer.status == 200, (answer.status, data[:500])
        return data
    finally:
        conn.close()


def on(server, worker: int, operation: str, inner: str, **kwargs) -> bytes:
    """``soap_call`` reaching worker ``worker`` (0 or 1): the other one is frozen."""
    other = pids(server)[1 - worker]
    with stopped(other):
        return soap_call(server, operation, inner, **kwargs)


def code_of(data: bytes) -> str:
    root = soap.etree.fromstring(data)
    return root.findtext(f".//{soap.m('ResponseCode')}")


def subscribe(server, worker: int, request: str) -> tuple:
    data = on(server, worker, "Subscribe", request)
    root = soap.etree.fromstring(data)
    assert code_of(data) == "NoError", data[:800]
    return root.findtext(f".//{soap.m('SubscriptionId')}"), root.findtext(f".//{soap.m('Watermark')}")


def get_events(server, worker: int, sub_id: str, mark: str) -> tuple:
    """``(code, [(event name, item id, watermark)], more)``"""
    data = on(server, worker, "GetEvents", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>"
              f"<m:Watermark>{mark}</m:Watermark>")
    root = soap.etree.fromstring(data)
    events = []
    for node in root.iter():
        if not isinstance(node.tag, str) or not node.tag.endswith("Event"):
            continue
        name = soap.etree.QName(node).localname
        item = node.find(soap.t("ItemId"))
        events.append((name, item.get("Id") if item is not None else None,
                       node.findtext(soap.t("Watermark"))))
    return code_of(data), events, root.findtext(f".//{soap.t('MoreEvents')}")


def deliver(server, subject: str) -> None:
    body = (f"From: sender@example.net\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.net>\r\n\r\nhello\r\n").encode()
    with smtplib.LMTP(str(server.root / "lmtp.sock"), timeout=20) as client:
        client.sendmail("sender@example.net", [USER], body)


def _items(events, name) -> list:
    return [item for kind, item, _ in events if kind == name]


def test_pull_subscribed_on_one_worker_is_pulled_and_ended_on_the_other(serve):
    sub_id, mark = subscribe(serve, 0, PULL_INBOX.format(mark=""))
    deliver(serve, "across workers 1")
    time.sleep(0.3)
    code, events, more = get_events(serve, 1, sub_id, mark)
    assert code == "NoError", events
    created = _items(events, "CreatedEvent")
    assert len(created) == 1 and _items(events, "NewMailEvent") == created, events
    last = events[-1][2]
    # Acknowledged on worker 1: worker 0 (which made it, and queued the same event in
    # its own copy) gives nothing again from that watermark.
    code, again, _ = get_events(serve, 0, sub_id, last)
    assert code == "NoError" and [kind for kind, _, _ in again] == ["StatusEvent"], again
    # A second message, pulled through worker 1 with worker 0's watermark: once.
    deliver(serve, "across workers 2")
    time.sleep(0.3)
    code, second, _ = get_events(serve, 1, sub_id, again[-1][2])
    assert code == "NoError" and len(_items(second, "CreatedEvent")) == 1, second
    assert _items(second, "CreatedEvent") != created
    # Replaying a watermark (an answer lost) gives the same events again, anywhere.
    code, replay, _ = get_events(serve, 0, sub_id, again[-1][2])
    assert _items(replay, "CreatedEvent") == _items(second, "CreatedEvent"), replay
    # Unsubscribe through the other worker ends it for both.
    data = on(serve, 1, "Unsubscribe", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>")
    assert code_of(data) == "NoError"
    for worker in (0, 1):
        code, _, _ = get_events(serve, worker, sub_id, second[-1][2])
        assert code == "ErrorSubscriptionNotFound", (worker, code)


def test_exchangelib_pulls_through_the_other_worker(serve):
    from exchangelib import Account, BASIC, Configuration, Credentials, DELEGATE
    from exchangelib.protocol import BaseProtocol

    def account():
        BaseProtocol.USERAGENT = "workers-test"
        config = Configuration(service_endpoint=f"http://127.0.0.1:{serve.ports()['http'][0]}"
                               "/EWS/Exchange.asmx", credentials=Credentials(USER, PASSWORD),
                               auth_type=BASIC)
        return Account(USER, config=config, autodiscover=False, access_type=DELEGATE)

    with stopped(pids(serve)[1]):
        acc = account()
        sub_id, mark = acc.inbox.subscribe_to_pull(timeout=10)
        acc.protocol.close()
    deliver(serve, "exchangelib across workers")
    time.sleep(0.3)
    with stopped(pids(serve)[0]):
        acc = account()
        notifications = list(acc.inbox.get_events(sub_id, mark))
        kinds = [type(e).__name__ for n in notifications for e in n.events]
        [item] = acc.fetch(ids=[(e.item_id.id, None) for n in notifications for e in n.events
                                if type(e).__name__ == "CreatedEvent"], only_fields=["subject"])
        acc.inbox.unsubscribe(sub_id)
        acc.protocol.close()
    assert kinds.count("CreatedEvent") == 1 and kinds.count("NewMailEvent") == 1, kinds
    assert item.subject == "exchangelib across workers"


def _stream(serve, sub_id: str, chunks: list, done: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", serve.ports()["http"][0], timeout=30)
    body = soap.request_envelope(soap.etree.fromstring(
        f'<m:GetStreamingEvents xmlns:m="{soap.M}" xmlns:t="{soap.T}"><m:SubscriptionIds>'
        f"<t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
        "<m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("POST", "/EWS/Exchange.asmx", body=body,
                 headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"})
    answer = conn.getresponse()
    chunks.append(str(answer.status).encode())
    done.set()
    while True:
        piece = answer.read1(65536)
        if not piece:
            break
        chunks.append(piece)
    conn.close()


def test_streaming_subscribed_on_one_worker_streams_on_the_other(serve):
    sub_id, _ = subscribe(serve, 0, STREAM_INBOX)
    chunks, started = [], threading.Event()
    with stopped(pids(serve)[0]):
        reader = threading.Thread(target=_stream, args=(serve, sub_id, chunks, started), daemon=True)
        reader.start()
        assert started.wait(20), chunks
    assert chunks[0] == b"200"
    deliver(serve, "streamed across workers")
    deadline = time.monotonic() + 20
    while b"NewMailEvent" not in b"".join(chunks):
        assert time.monotonic() < deadline, b"".join(chunks)[-2000:]
        time.sleep(0.05)
    data = b"".join(chunks)
    assert data.count(b"<t:NewMailEvent>") == 1
    # The stream ends at its ConnectionTimeout (a minute); the subscription is ended
    # through the worker that made it.
    assert code_of(on(serve, 0, "Unsubscribe",
                      f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>")) == "NoError"
    answer = on(serve, 1, "GetStreamingEvents",
                f"<m:SubscriptionIds><t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
                "<m:ConnectionTimeout>1</m:ConnectionTimeout>")
    assert code_of(answer) == "ErrorSubscriptionNotFound"


def test_subscribe_with_an_old_watermark_gets_the_events_since(serve):
    sub_id, mark = subscribe(serve, 0, PULL_INBOX.format(mark=""))
    deliver(serve, "before the loss")
    time.sleep(0.3)
    code, events, _ = get_events(serve, 0, sub_id, mark)
    assert len(_items(events, "CreatedEvent")) == 1
    seen = events[-1][2]
    assert code_of(on(serve, 1, "Unsubscribe", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>")) == "NoError"
    # The subscription is gone; mail comes meanwhile.
    deliver(serve, "while unsubscribed 1")
    deliver(serve, "while unsubscribed 2")
    new_id, new_mark = subscribe(serve, 1, PULL_INBOX.format(mark=f"<t:Watermark>{seen}</t:Watermark>"))
    assert new_id != sub_id
    code, since, _ = get_events(serve, 0, new_id, new_mark)
    assert code == "NoError" and len(_items(since, "CreatedEvent")) == 2, since
    assert len(_items(since, "NewMailEvent")) == 2
    # From the first watermark (before "before the loss"): three.
    other_id, other_mark = subscribe(serve, 0, PULL_INBOX.format(mark=f"<t:Watermark>{mark}</t:Watermark>"))
    code, three, _ = get_events(serve, 1, other_id, other_mark)
    assert len(_items(three, "CreatedEvent")) == 3, three
    for gone in (new_id, other_id):
        on(serve, 0, "Unsubscribe", f"<m:SubscriptionId>{gone}</m:SubscriptionId>")


def test_watermarks_are_checked(serve):
    sub_id, mark = subscribe(serve, 0, PULL_INBOX.format(mark=""))
    raw = bytearray(base64.b64decode(mark))
    raw[-6] ^= 1
    damaged = base64.b64encode(bytes(raw)).decode()
    for bad in (damaged, "bm9uc2Vuc2U=", subscriptions.watermark(sub_id, 0, account="bob@example.org")):
        assert get_events(serve, 1, sub_id, bad)[0] == "ErrorInvalidWatermark"
        data = on(serve, 1, "Subscribe", PULL_INBOX.format(mark=f"<t:Watermark>{bad}</t:Watermark>"))
        assert code_of(data) == "ErrorInvalidWatermark"
    decoded = marks.decode(USER, mark)
    assert decoded.seq == 0 and len(decoded.positions) == 1  # the Inbox
    on(serve, 0, "Unsubscribe", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>")


# -- two servers in this process over one SQLite store: each its own store object, so
# its own hub (as two workers have), with the store's doorbell between them.


pg_database = pg_support.pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request):
    from twisted.internet.defer import ensureDeferred

    from smsync.testing.servers import SQLITE, RunningServers
    from tests.protocols.ews.ews_support import stop

    uri = SQLITE
    if request.param == "postgresql":
        uri = pg_support.fresh_schema_uri(request.getfixturevalue("pg_database"))
    first = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("ews", "lmtp"), uri)))
    second = pytest_twisted.blockon(ensureDeferred(RunningServers.start(
        ("ews",), first.store_uri, accounts=())))
    assert subscriptions.hub_of(first.store) is not subscriptions.hub_of(second.store)
    yield first, second
    stop(second)
    stop(first)


def _pull_all(port) -> tuple:
    from tests.protocols.ews.ews_support import call

    answer = call(port, "Subscribe", '<m:PullSubscriptionRequest SubscribeToAllFolders="true">'
                  "<t:EventTypes><t:EventType>CreatedEvent</t:EventType>"
                  "<t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>"
                  "</t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest>")
    root = answer.payload
    return root.findtext(f".//{soap.m('SubscriptionId')}"), root.findtext(f".//{soap.m('Watermark')}")


def _get(port, sub_id, mark) -> list:
    from tests.protocols.ews.ews_support import call, codes

    answer = call(port, "GetEvents", f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>"
                  f"<m:Watermark>{mark}</m:Watermark>")
    assert codes(answer) == ["NoError"], codes(answer)
    found = []
    for node in answer.payload.iter():
        if isinstance(node.tag, str) and node.tag.endswith("Event"):
            item = node.find(soap.t("ItemId"))
            found.append((soap.etree.QName(node).localname,
                          item.get("Id") if item is not None else None,
                          node.findtext(soap.t("Watermark"))))
    return found


VEVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
          b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
          b"SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_all_folders_with_a_calendar_taken_up_by_the_other_hub(pair):
    from smsync.model import CollectionKind
    from smsync.testing.servers import in_thread

    first, second = pair
    colls = await first.store.collections(servers.USER)
    calendars = await colls.list_collections(CollectionKind.CALENDAR)
    calendar = calendars[0] if calendars else await colls.create_collection(
        "calendar", CollectionKind.CALENDAR)
    cal = await colls.collection(calendar.name)
    await cal.put("old.ics", VEVENT % (b"old", b"there before"))
    sub_id, mark = await in_thread(_pull_all, first.port("http"))
    await cal.put("new.ics", VEVENT % (b"new", b"made after"))
    await cal.put("old.ics", VEVENT % (b"old", b"changed after"))
    await cal.delete("old.ics")
    await first.deliver(b"Subject: after\r\n\r\nhi\r\n")
    # The second hub never saw the subscription: it reads from the watermark.
    found = await in_thread(_get, second.port("http"), sub_id, mark)
    kinds = sorted(kind for kind, _, _ in found)
    assert kinds == ["CreatedEvent", "CreatedEvent", "DeletedEvent"], found
    # Back to the first hub with the second's watermark: nothing again.
    again = await in_thread(_get, first.port("http"), sub_id, found[-1][2])
    assert [kind for kind, _, _ in again] == ["StatusEvent"], again


@pytest_twisted.ensureDeferred
async def test_a_stream_goes_on_from_where_the_other_hub_streamed(pair):
    from smsync.testing.servers import in_thread

    first, second = pair
    from tests.protocols.ews.ews_support import call

    answer = await in_thread(call, first.port("http"), "Subscribe", STREAM_INBOX)
    sub_id = answer.payload.findtext(f".//{soap.m('SubscriptionId')}")

    def read(server, until: bytes, chunks: list):
        conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
        body = soap.request_envelope(soap.etree.fromstring(
            f'<m:GetStreamingEvents xmlns:m="{soap.M}" xmlns:t="{soap.T}"><m:SubscriptionIds>'
            f"<t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
            "<m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"))
        token = base64.b64encode(f"{servers.USER}:{servers.PASSWORD}".encode()).decode()
        conn.request("POST", "/EWS/Exchange.asmx", body=body, headers={
            "Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"})
        answer = conn.getresponse()
        assert answer.status == 200
        while until not in b"".join(chunks):
            piece = answer.read1(65536)
            if not piece:
                break
            chunks.append(piece)
        conn.close()  # the client hangs up

    chunks: list = []
    reading = in_thread(read, first, b"NewMailEvent", chunks)
    await _until(lambda: subscriptions.hub_of(first.store).streams or chunks)
    assert subscriptions.hub_of(first.store).streams, (sub_id, chunks)
    await first.deliver(b"Subject: one\r\n\r\nhi\r\n")
    await reading
    await _until(lambda: not subscriptions.hub_of(first.store).streams)
    await _sleep(0.3)  # the first hub writes where the stream stood
    await first.deliver(b"Subject: two\r\n\r\nhi\r\n")
    later: list = []
    await in_thread(read, second, b"NewMailEvent", later)
    data = b"".join(later)
    assert data.count(b"<t:NewMailEvent>") == 1, data
    first_id = _item_ids(b"".join(chunks))
    second_id = _item_ids(data)
    assert len(first_id) == 1 and len(second_id) == 1 and first_id != second_id


def _item_ids(data: bytes) -> set:
    import re

    return set(re.findall(rb'<t:ItemId Id="([^"]+)"', data))


async def _until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await _sleep(0.02)


async def _sleep(seconds: float) -> None:
    from twisted.internet import defer, reactor

    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    await d


@pytest_twisted.ensureDeferred
async def test_taken_up_during_a_read_of_the_other_hub_tells_each_event_once(pair, monkeypatch):
    """The hub taking a subscription up is reading the folder for its other
    subscriptions at that moment, a read that ends past the watermark: the new copy
    takes nothing of it, its own read from the watermark tells the message once."""
    from twisted.internet import defer, reactor

    from smsync.testing.servers import in_thread
    from tests.protocols.ews.ews_support import call

    first, second = pair
    hub_b = subscriptions.hub_of(second.store)
    # The second hub already follows the Inbox for another subscription.
    await in_thread(call, second.port("http"), "Subscribe", STREAM_INBOX)
    inbox_pull = PULL_INBOX.format(mark="")
    answer = await in_thread(call, first.port("http"), "Subscribe", inbox_pull)
    sub_id = answer.payload.findtext(f".//{soap.m('SubscriptionId')}")
    mark = answer.payload.findtext(f".//{soap.m('Watermark')}")
    feed = hub_b.feeds[servers.USER]
    await feed.settle()

    gate = defer.Deferred()
    read = subscriptions.Feed._read

    async def held(self, cursor, shared=True):
        if shared and self is feed and not gate.called:
            await gate
        return await read(self, cursor, shared)

    monkeypatch.setattr(subscriptions.Feed, "_read", held)
    await first.deliver(b"Subject: during a read\r\n\r\nhi\r\n")
    await _until(lambda: feed.running)
    reactor.callLater(0.5, gate.callback, None)
    found = await in_thread(_get, second.port("http"), sub_id, mark)
    created = [item for kind, item, _ in found if kind == "CreatedEvent"]
    assert len(created) == 1, found
    assert [kind for kind, _, _ in found].count("NewMailEvent") == 1, found


@pytest_twisted.ensureDeferred
async def test_unsubscribed_through_the_other_hub_the_open_stream_closes(pair, monkeypatch):
    """Unsubscribe reaching the other hub removes the record; the hub streaming it
    finds that out when it checks its copies (once a minute; made to happen here) and
    closes the stream with ConnectionStatus Closed."""
    from smsync.testing.servers import in_thread
    from tests.protocols.ews.ews_support import call, codes

    monkeypatch.setattr(subscriptions, "TICK", 0.05)
    first, second = pair
    hub_a = subscriptions.hub_of(first.store)
    answer = await in_thread(call, first.port("http"), "Subscribe", STREAM_INBOX)
    sub_id = answer.payload.findtext(f".//{soap.m('SubscriptionId')}")
    chunks, started = [], threading.Event()

    def read():
        conn = http.client.HTTPConnection("127.0.0.1", first.port("http"), timeout=30)
        body = soap.request_envelope(soap.etree.fromstring(
            f'<m:GetStreamingEvents xmlns:m="{soap.M}" xmlns:t="{soap.T}"><m:SubscriptionIds>'
            f"<t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
            "<m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>"))
        token = base64.b64encode(f"{servers.USER}:{servers.PASSWORD}".encode()).decode()
        conn.request("POST", "/EWS/Exchange.asmx", body=body, headers={
            "Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"})
        answer = conn.getresponse()
        started.set()
        while True:
            piece = answer.read1(65536)
            if not piece:
                break
            chunks.append(piece)
        conn.close()

    reading = in_thread(read)
    await _until(lambda: hub_a.streams and chunks)
    gone = await in_thread(call, second.port("http"), "Unsubscribe",
                           f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>")
    assert codes(gone) == ["NoError"]
    assert hub_a.streams  # not known there yet
    hub_a._taken.clear()
    hub_a._last_sweep = 0.0  # the minute's check, now
    await reading
    assert b"<m:ConnectionStatus>Closed" in b"".join(chunks)
    assert sub_id not in hub_a.subs and not hub_a.streams
