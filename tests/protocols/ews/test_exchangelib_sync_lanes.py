"""Two exchangelib sessions on one mailbox (one User-Agent, so one entry in the devices
list) synchronising the Inbox at once: each chain of SyncStates is its own lane, so
neither resets the other, and each sees the other's changes; a lost answer asked for
again is the same answer and moves nothing on."""

from __future__ import annotations

import itertools

import pytest_twisted
from lxml import etree

from smsync.testing.servers import in_thread, numbered_message
from tests.protocols.ews.ews_support import account, call, codes


def interleaved(*generators):
    """Pull one change from each generator in turn (each pulls its next page from the
    server when it needs it, so the sessions' requests alternate) until all are done:
    each generator's changes as ``(kind, subject)``."""
    out = [[] for _ in generators]
    live = list(enumerate(generators))
    while live:
        for entry in list(live):
            n, gen = entry
            try:
                kind, item = next(gen)
            except StopIteration:
                live.remove(entry)
                continue
            out[n].append((kind, getattr(item, "subject", None)))
    return out


def by_kind(changes):
    out: dict = {}
    for kind, subject in changes:
        out.setdefault(kind, []).append(subject)
    return {kind: sorted(subjects, key=str) for kind, subjects in out.items()}


@pytest_twisted.ensureDeferred
async def test_two_sessions_sync_one_folder_independently(server):
    await server.deliver(*(numbered_message(n) for n in range(1, 8)))

    def run():
        a, b = account(server), account(server)
        fields = ["subject", "is_read"]
        # Initial syncs, two changes a page, their pages alternating.
        first_a, first_b = interleaved(a.inbox.sync_items(max_changes_returned=2, only_fields=fields),
                                       b.inbox.sync_items(max_changes_returned=2, only_fields=fields))
        # A changes and deletes, B makes a message: each session's next sync sees the
        # other's work.
        items_a = {i.subject: i for i in a.inbox.all().only("subject", "is_read")}
        items_a["message 1"].is_read = True
        items_a["message 1"].save(update_fields=["is_read"])
        items_a["message 2"].delete()
        from exchangelib import Message

        Message(account=b, folder=b.inbox, subject="made by b", body="hi").save()
        second_b, second_a = interleaved(b.inbox.sync_items(max_changes_returned=1, only_fields=fields),
                                         a.inbox.sync_items(max_changes_returned=1, only_fields=fields))
        # B's sync went on after A's; A's own state still holds too.
        a_state, b_state = a.inbox.item_sync_state, b.inbox.item_sync_state
        b.inbox.all().get(subject="message 3").delete()
        third_a = list(a.inbox.sync_items(only_fields=fields))
        third_b = list(b.inbox.sync_items(only_fields=fields))
        return (first_a, first_b, second_a, second_b, a_state != b_state,
                [(k, getattr(i, "subject", None)) for k, i in third_a],
                [(k, getattr(i, "subject", None)) for k, i in third_b])

    first_a, first_b, second_a, second_b, distinct, third_a, third_b = await in_thread(run)
    everything = {"create": [f"message {n}" for n in range(1, 8)]}
    assert by_kind(first_a) == everything and by_kind(first_b) == everything
    for second in (second_a, second_b):
        kinds = by_kind(second)
        assert kinds["create"] == ["made by b"], second
        assert kinds["update"] == ["message 1"], second
        assert len(kinds["delete"]) == 1, second
    assert distinct
    assert [k for k, _ in third_a] == ["delete"] and [k for k, _ in third_b] == ["delete"]
    # One device entry for both sessions: same User-Agent.
    devices = [d for d in await server.store.devices.list("alice@example.org") if d.protocol == "ews"]
    assert len(devices) == 1


@pytest_twisted.ensureDeferred
async def test_a_session_asking_again_gets_the_same_answer(server):
    await server.deliver(*(numbered_message(n) for n in range(1, 4)))

    def run():
        a, b = account(server), account(server)
        list(a.inbox.sync_items())
        list(b.inbox.sync_items())
        before = a.inbox.item_sync_state
        b.inbox.all().get(subject="message 2").delete()
        from exchangelib import Message

        Message(account=b, folder=b.inbox, subject="from b", body="x").save()

        def changes(state):
            got = [(kind, getattr(item, "subject", None)) for kind, item in a.inbox.sync_items(sync_state=state)]
            return sorted(got, key=str), a.inbox.item_sync_state

        first, after = changes(before)
        # The answer was lost: A asks with the same SyncState again, while B syncs on.
        b_changes = sorted(kind for kind, _ in b.inbox.sync_items())
        again, after_again = changes(before)
        return first, again, after == after_again, changes(after)[0], b_changes

    first, again, same_state, then, b_changes = await in_thread(run)
    assert first == again and same_state
    assert [kind for kind, _ in first] == ["create", "delete"] and first[0][1] == "from b"
    assert then == []
    assert b_changes == ["create", "delete"]


SHAPE = "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"


def sync(port, state="", window=3):
    answer = call(port, "SyncFolderItems", SHAPE + '<m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/>'
                  f"</m:SyncFolderId><m:SyncState>{state}</m:SyncState>"
                  f"<m:MaxChangesReturned>{window}</m:MaxChangesReturned>")
    [code] = codes(answer)
    message = answer.payload.find(".//{*}SyncFolderItemsResponseMessage")
    changes = message.find("{*}Changes")
    listed = [(etree.QName(c).localname, c.find(".//{*}ItemId").get("Id")) for c in changes] \
        if changes is not None else []
    return code, message.findtext("{*}SyncState"), listed, message.findtext("{*}IncludesLastItemInRange")


@pytest_twisted.ensureDeferred
async def test_lost_answer_replayed_is_the_same_and_moves_nothing_on(server):
    await server.deliver(*(numbered_message(n) for n in range(1, 6)))
    port = server.port("http")

    def run():
        code, s1, page1, _ = sync(port)
        assert code == "NoError" and len(page1) == 3
        # Another chain starting meanwhile does not disturb this one.
        other = sync(port, window=10)
        code, s2, page2, last = sync(port, s1)
        code_again, s2_again, page2_again, last_again = sync(port, s1)
        assert (code, s2, page2, last) == (code_again, s2_again, page2_again, last_again)
        assert code == "NoError" and len(page2) == 2 and last == "true"
        # Nothing was counted twice: the next state has nothing more, and the other
        # chain still goes on.
        _, _, page3, _ = sync(port, s2)
        _, _, other_next, _ = sync(port, other[1])
        return page1, page2, page3, other[2], other_next

    page1, page2, page3, other_first, other_next = await in_thread(run)
    assert page3 == [] and other_next == []
    assert len({i for _, i in page1 + page2}) == 5
    assert sorted(page1 + page2) == sorted(other_first)


@pytest_twisted.ensureDeferred
async def test_evicted_chain_is_invalid_sync_state_data(server):
    await server.deliver(numbered_message(1))
    port = server.port("http")

    def run():
        first = sync(port)[1]
        # Seventeen more chains of the same client: the first is the least recently used.
        for _ in itertools.repeat(None, 16):
            sync(port)
        return sync(port, first)[0]

    assert await in_thread(run) == "ErrorInvalidSyncStateData"
