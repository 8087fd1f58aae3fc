"""Hypothesis state machines that drive a store through its interfaces and check it
against a tiny model of the one change log.

What they hold the store to: UIDs strictly increase and are never reused within a
UIDVALIDITY; MODSEQ / revision strictly increase on every change; ``changes_since(x)``
for any earlier ``x`` returns exactly what changed after ``x`` and exactly what was
expunged / deleted after it (tombstones are reported to every older token).

How they run: pytest-twisted runs test bodies on the reactor's greenlet, where
``pytest_twisted.blockon`` cannot be used, and a state machine's rules are plain
functions. So the machine runs on a worker thread (``deferToThread``) and each rule
hands its store call to the reactor with ``blockingCallFromThread``; the store itself is
only ever touched from the reactor thread, as in production.
"""

from __future__ import annotations

import itertools

import pytest_twisted
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from twisted.internet import reactor, threads

from smsync.errors import NotFound, PreconditionFailed, SyncTokenInvalid
from smsync.model import CollectionKind, FlagMode, UIDSet, canonical_flag
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call

_names = itertools.count(1)

#: Flags the machines use; "\\seen" checks canonicalisation on the way in.
FLAGS = ["\\Seen", "\\seen", "\\Flagged", "\\Deleted", "\\Answered", "$Work", "$Later"]
ITEM_NAMES = ["a.ics", "b.ics", "c.ics", "d.ics", "e.ics"]


def block(fn, *args, **kwargs):
    """From the machine's thread: run a store method on the reactor and wait for its
    Deferred (``call`` also insists that it is one)."""
    return threads.blockingCallFromThread(reactor, call, fn, *args, **kwargs)


def _canon(flags) -> frozenset:
    return frozenset(canonical_flag(f) for f in flags)


class MailboxMachine(RuleBasedStateMachine):
    """One fresh folder per example; ``store``/``account`` are set on a subclass."""

    store = None
    account = None

    @initialize()
    def open_folder(self):
        mail = block(self.store.mail, self.account)
        self.name = f"stateful-{next(_names)}"
        block(mail.create_mailbox, self.name)
        self.box = block(mail.mailbox, self.name)
        info = block(self.box.info)
        self.uidvalidity = info.uidvalidity
        self.msgs: dict[int, tuple[frozenset, int]] = {}  # uid -> (flags, modseq)
        self.expunged: dict[int, int] = {}  # uid -> modseq of its expunge
        self.max_uid = info.uidnext - 1
        self.highest = info.highestmodseq
        self.history = [0, info.highestmodseq]
        self.seq = 0

    def _pick(self, picks) -> list[int]:
        known = sorted(set(self.msgs) | set(self.expunged)) or [1]
        return sorted({known[i % len(known)] for i in picks} | ({known[-1] + 1} if 99 in picks else set()))

    def _new_modseq(self, modseq: int) -> None:
        assert modseq > self.highest, f"MODSEQ {modseq} not above {self.highest}"
        self.highest = modseq
        self.history.append(modseq)

    def _noop_modseq(self) -> None:
        # Nothing changed: HIGHESTMODSEQ may not go backwards (a no-op need not raise it).
        now = block(self.box.info).highestmodseq
        assert now >= self.highest
        self.highest = now

    @rule(flags=st.lists(st.sampled_from(FLAGS), max_size=3))
    def append(self, flags):
        self.seq += 1
        r = block(self.box.append, samples.message(f"s{self.seq}"), flags)
        assert r.uidvalidity == self.uidvalidity
        assert r.uid > self.max_uid, f"UID {r.uid} reused or not increasing (max {self.max_uid})"
        self.max_uid = r.uid
        self._new_modseq(r.modseq)
        self.msgs[r.uid] = (_canon(flags), r.modseq)

    @rule(mode=st.sampled_from(FlagMode), flags=st.lists(st.sampled_from(FLAGS), max_size=3),
          picks=st.sets(st.integers(0, 99), min_size=1, max_size=4))
    def store_flags(self, mode, flags, picks):
        uids = self._pick(picks)
        res = block(self.box.store_flags, UIDSet.of(uids), mode, flags)
        want, same = {}, []
        for uid in uids:
            if uid not in self.msgs:
                continue
            old = self.msgs[uid][0]
            new = {FlagMode.SET: _canon(flags), FlagMode.ADD: old | _canon(flags),
                   FlagMode.REMOVE: old - _canon(flags)}[mode]
            if new != old:
                want[uid] = new
            else:
                same.append(uid)
        assert {m.uid: m.flags for m in res.changed} == want
        assert [m.uid for m in res.unchanged] == same
        if want:
            modseqs = {m.modseq for m in res.changed}
            assert len(modseqs) == 1, "one store_flags, one new modseq"
            self._new_modseq(modseqs.pop())
            for uid, new in want.items():
                self.msgs[uid] = (new, self.highest)
        else:
            self._noop_modseq()

    def _removed(self, removed, expected):
        assert removed == expected, f"removed {removed}, expected {expected}"
        if expected:
            self._new_modseq(block(self.box.info).highestmodseq)
            for uid in expected:
                del self.msgs[uid]
                self.expunged[uid] = self.highest
        else:
            self._noop_modseq()

    @rule(restrict=st.booleans(), picks=st.sets(st.integers(0, 99), min_size=1, max_size=4))
    def expunge(self, restrict, picks):
        uids = self._pick(picks)
        expected = sorted(u for u, (f, _) in self.msgs.items()
                          if "\\Deleted" in f and (not restrict or u in uids))
        removed = block(self.box.expunge, UIDSet.of(uids) if restrict else None)
        self._removed(removed, expected)

    @rule(picks=st.sets(st.integers(0, 99), min_size=1, max_size=3))
    def remove(self, picks):
        uids = self._pick(picks)
        expected = sorted(u for u in uids if u in self.msgs)
        self._removed(block(self.box.remove, UIDSet.of(uids)), expected)

    @rule(picks=st.sets(st.integers(0, 99), min_size=1, max_size=3))
    def copy_into_itself(self, picks):
        uids = self._pick(picks)
        res = block(self.box.copy, UIDSet.of(uids), self.name)
        sources = [u for u in uids if u in self.msgs]
        assert list(res.source_uids) == sources
        assert len(res.dest_uids) == len(sources)
        if not sources:
            return self._noop_modseq()
        assert list(res.dest_uids) == sorted(res.dest_uids) and res.dest_uids[0] > self.max_uid
        self.max_uid = res.dest_uids[-1]
        copies = block(self.box.messages, UIDSet.of(res.dest_uids))
        modseqs = {m.modseq for m in copies}
        assert len(modseqs) == 1
        self._new_modseq(modseqs.pop())
        for src, dst in zip(res.source_uids, res.dest_uids):
            self.msgs[dst] = (self.msgs[src][0], self.highest)

    @rule()
    def changes_since(self):
        # Every token handed out so far, not a random one: a missed tombstone must not
        # depend on luck.
        for x in self.history:
            ch = block(self.box.changes_since, x)
            want = sorted((u, f, m) for u, (f, m) in self.msgs.items() if m > x)
            assert [(m.uid, m.flags, m.modseq) for m in ch.changed] == want, f"changed since {x}"
            assert list(ch.expunged) == sorted(u for u, m in self.expunged.items() if m > x), \
                f"expunged since {x}"
            assert ch.highestmodseq == self.highest

    @invariant()
    def status_matches_model(self):
        if not hasattr(self, "box"):
            return
        info = block(self.box.info)
        assert info.uidvalidity == self.uidvalidity
        assert info.highestmodseq == self.highest
        assert info.exists == len(self.msgs)
        unseen = sorted(u for u, (f, _) in self.msgs.items() if "\\Seen" not in f)
        assert (info.unseen, info.first_unseen_uid) == (len(unseen), unseen[0] if unseen else None)
        assert info.uidnext > self.max_uid
        assert [(m.uid, m.flags, m.modseq) for m in block(self.box.messages)] == \
            sorted((u, f, m) for u, (f, m) in self.msgs.items())


class CollectionMachine(RuleBasedStateMachine):
    """One fresh calendar per example; ``store``/``account`` are set on a subclass."""

    store = None
    account = None

    @initialize()
    def open_collection(self):
        cols = block(self.store.collections, self.account)
        info = block(cols.create_collection, f"stateful-{next(_names)}", CollectionKind.CALENDAR)
        self.col = block(cols.collection, info.name)
        self.items: dict[str, tuple[str, int]] = {}  # name -> (etag, revision)
        self.deleted: dict[str, int] = {}  # name -> revision of its latest deletion
        self.revision = info.revision
        self.history = [0, info.revision]
        self.seq = 0

    def _new_revision(self, revision: int) -> None:
        assert revision > self.revision, f"revision {revision} not above {self.revision}"
        self.revision = revision
        self.history.append(revision)

    @rule(name=st.sampled_from(ITEM_NAMES), if_none_match=st.booleans(), stale_etag=st.booleans())
    def put(self, name, if_none_match, stale_etag):
        self.seq += 1
        content = samples.event(name.removesuffix(".ics"), summary=f"version {self.seq}")
        exists = name in self.items
        if_match = '"stale"' if stale_etag else None
        if (if_none_match and exists) or stale_etag:
            try:
                block(self.col.put, name, content, if_match, if_none_match)
            except PreconditionFailed as e:
                assert e.current_etag == (self.items[name][0] if exists else None)
                assert block(self.col.info).revision == self.revision
                return
            raise AssertionError("precondition should have failed")
        info = block(self.col.put, name, content, None, if_none_match)
        self._new_revision(info.revision)
        if exists:
            assert info.etag != self.items[name][0], "etag must change with the content"
        self.items[name] = (info.etag, info.revision)

    @rule(name=st.sampled_from(ITEM_NAMES), use_etag=st.booleans())
    def delete(self, name, use_etag):
        if name not in self.items:
            try:
                block(self.col.delete, name)
            except NotFound:
                return
            raise AssertionError("deleting a missing item must be NotFound")
        revision = block(self.col.delete, name, self.items[name][0] if use_etag else None)
        self._new_revision(revision)
        del self.items[name]
        self.deleted[name] = revision

    def _expected(self, x):
        changed = {n for n, (_, r) in self.items.items() if r > x}
        deleted = set() if x == 0 else {n for n, r in self.deleted.items() if r > x and n not in self.items}
        return changed, deleted

    @rule()
    def changes_since(self):
        for x in self.history:  # every token handed out so far
            ch = block(self.col.changes_since, x)
            changed, deleted = self._expected(x)
            assert not ch.truncated and ch.revision == self.revision
            assert [(c.name, c.etag, c.revision) for c in ch.changed] == sorted(
                ((n, self.items[n][0], self.items[n][1]) for n in changed), key=lambda t: (t[2], t[0])
            ), f"changed since {x}"
            assert set(ch.deleted) == deleted and len(ch.deleted) == len(deleted), f"deleted since {x}"

    @rule(i=st.integers(0, 10_000), limit=st.integers(1, 3))
    def page_changes(self, i, limit):
        x = cursor = self.history[i % len(self.history)]
        changed, deleted = [], []
        for _ in range(len(ITEM_NAMES) * 2 + 2):
            page = block(self.col.changes_since, cursor, limit)
            assert len(page.changed) + len(page.deleted) <= limit
            changed += [c.name for c in page.changed]
            deleted += page.deleted
            cursor = page.revision
            if not page.truncated:
                break
        else:
            raise AssertionError("paging did not complete")
        want_changed, want_deleted = self._expected(x)
        assert cursor == self.revision
        assert sorted(changed) == sorted(want_changed)
        if x:
            assert sorted(deleted) == sorted(want_deleted)
        else:  # later pages are ordinary tokens: they may name tombstones, of gone names only
            assert set(deleted) <= {n for n in self.deleted if n not in self.items}

    @rule()
    def future_token(self):
        try:
            block(self.col.changes_since, self.revision + 1)
        except SyncTokenInvalid:
            return
        raise AssertionError("a token above the current revision must be SyncTokenInvalid")

    @invariant()
    def listing_matches_model(self):
        if not hasattr(self, "col"):
            return
        info = block(self.col.info)
        assert (info.revision, info.count) == (self.revision, len(self.items))
        assert [(i.name, i.etag, i.revision) for i in block(self.col.items)] == \
            sorted((n, e, r) for n, (e, r) in self.items.items())


def _bound(machine, store, account):
    return type(machine.__name__, (machine,), {"store": store, "account": account})


class StatefulConformance(StoreHarness):
    """Runs the state machines; tune ``stateful_settings`` for slow backends."""

    stateful_settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                 database=None, suppress_health_check=list(HealthCheck))

    def _run(self, machine, store):
        bound = _bound(machine, store, self.ACCOUNT)
        return threads.deferToThread(run_state_machine_as_test, bound, settings=self.stateful_settings)

    @pytest_twisted.ensureDeferred
    async def test_mailbox_state_machine(self, store):
        await self._run(MailboxMachine, store)

    @pytest_twisted.ensureDeferred
    async def test_collection_state_machine(self, store):
        await self._run(CollectionMachine, store)


__all__ = ["CollectionMachine", "MailboxMachine", "StatefulConformance"]
