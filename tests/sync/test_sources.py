"""``MailSource.scan``, the walk of a folder by UID that a mail initial sync makes, with
and without the mailbox's ``IMailboxUIDWindow`` fast path."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from smsync.interfaces import IMailboxUIDWindow
from smsync.model import FlagMode, UIDSet
from smsync.store.registry import open_store
from smsync.sync.sources import MailSource
from smsync.sync.state import UIDRanges
from tests.sync.helpers import ACCOUNT, message, now


class PlainMailbox:
    """A mailbox with only what every ``IMailbox`` has (a third-party store's)."""

    def __init__(self, box):
        self._box = box

    def uids(self):
        return self._box.uids()

    def messages(self, uids=None):
        return self._box.messages(uids)


def _folder(present: list[bool]):
    """A memory folder whose UIDs 1..n exist where ``present`` says so."""
    store = now(open_store("memory:"))
    now(store.accounts.add(ACCOUNT, "hash"))
    box = now(now(store.mail(ACCOUNT)).mailbox("INBOX"))
    for _ in present:
        now(box.append(message()))
    gone = [uid for uid, here in enumerate(present, 1) if not here]
    if gone:
        now(box.store_flags(UIDSet.of(gone), FlagMode.ADD, ["\\Deleted"]))
        now(box.expunge())
    return store, box


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.booleans(), max_size=30), st.data())
def test_scan_takes_the_next_window_the_device_lacks(present, data):
    store, box = _folder(present)
    uids = now(box.uids())
    after = data.draw(st.integers(0, len(present) + 2))
    limit = data.draw(st.integers(1, 8))
    known = UIDRanges([[u, u] for u in data.draw(st.lists(st.sampled_from(uids), max_size=10))]
                      if uids else [])
    # The model: walk the UIDs above ``after``, skipping held ones, until the window is
    # full; the end is reached when no UID is left beyond the last one looked at.
    above = [u for u in uids if u > after]
    picked, last, i = [], after, 0
    while i < len(above) and len(picked) < limit:
        if str(above[i]) not in known:
            picked.append(above[i])
        last = above[i]
        i += 1
    expected = (picked, last, i >= len(above))
    assert IMailboxUIDWindow.providedBy(box)
    for mailbox in (box, PlainMailbox(box)):
        entries, got_last, done = now(MailSource(store.mail, mailbox).scan(after, limit, known))
        assert ([int(e.server_id) for e in entries], got_last, done) == expected
        assert all(e.payload.uid == int(e.server_id) for e in entries)
