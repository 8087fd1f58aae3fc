"""Conformance of ``IMailbox`` changes: flags (CONDSTORE), expunge and remove, copy and
move, and ``changes_since`` (QRESYNC, EAS) over all of them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound
from smsync.model import CopyResult, FlagMode, MailboxChanges, StoreFlagsResult, UIDSet
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call


async def _fill(box, flag_lists):
    return [(await call(box.append, samples.message(f"n{i}"), flags)).uid
            for i, flags in enumerate(flag_lists)]


async def _flags(box) -> dict:
    return {m.uid: set(m.flags) for m in await call(box.messages)}


class MailChangesConformance(StoreHarness):
    @pytest.fixture
    def inbox(self, mail):
        return pytest_twisted.blockon(call(mail.mailbox, "INBOX"))

    @pytest_twisted.ensureDeferred
    async def test_store_flags_modes(self, inbox):
        a, b, c = await _fill(inbox, [["\\Seen"], ["$Work"], []])
        top = (await call(inbox.info)).highestmodseq

        res = await call(inbox.store_flags, UIDSet.of([a, b, c]), FlagMode.ADD, ["\\flagged"])
        assert isinstance(res, StoreFlagsResult)
        assert [m.uid for m in res.changed] == [a, b, c]
        modseqs = {m.modseq for m in res.changed}
        assert len(modseqs) == 1 and modseqs.pop() > top, "one operation, one new modseq"
        assert await _flags(inbox) == {a: {"\\Seen", "\\Flagged"}, b: {"$Work", "\\Flagged"}, c: {"\\Flagged"}}
        assert {m.uid: set(m.flags) for m in res.changed} == await _flags(inbox)

        res = await call(inbox.store_flags, UIDSet.of([a, b]), FlagMode.REMOVE, ["\\Flagged", "$work"])
        assert await _flags(inbox) == {a: {"\\Seen"}, b: set(), c: {"\\Flagged"}}
        assert [m.uid for m in res.changed] == [a, b]

        res = await call(inbox.store_flags, UIDSet.all(), FlagMode.SET, ["\\Answered", "$X"])
        assert await _flags(inbox) == {u: {"\\Answered", "$X"} for u in (a, b, c)}
        info = await call(inbox.info)
        assert info.highestmodseq == res.changed[0].modseq
        assert {m.uid: m.modseq for m in await call(inbox.messages)} == {u: info.highestmodseq for u in (a, b, c)}

    @pytest_twisted.ensureDeferred
    async def test_store_flags_unchanged_keeps_modseq(self, inbox):
        a, b = await _fill(inbox, [["\\Seen"], []])
        before = {m.uid: m.modseq for m in await call(inbox.messages)}
        res = await call(inbox.store_flags, UIDSet.of([a, b]), FlagMode.ADD, ["\\SEEN"])
        assert [m.uid for m in res.changed] == [b]
        assert [m.uid for m in res.unchanged] == [a]
        assert res.unchanged[0].modseq == before[a]
        assert set(res.unchanged[0].flags) == {"\\Seen"}
        after = {m.uid: m.modseq for m in await call(inbox.messages)}
        assert after[a] == before[a] and after[b] > before[b]
        changes = await call(inbox.changes_since, before[b])
        assert [m.uid for m in changes.changed] == [b]

    @pytest_twisted.ensureDeferred
    async def test_store_flags_skips_missing_and_keeps_keyword_case(self, inbox):
        [a] = await _fill(inbox, [[]])
        res = await call(inbox.store_flags, UIDSet.of([a, a + 10]), FlagMode.ADD, ["$MixedCase"])
        assert [m.uid for m in res.changed] == [a]
        await call(inbox.store_flags, UIDSet.of([a]), FlagMode.ADD, ["$mixedcase"])
        assert await _flags(inbox) == {a: {"$MixedCase"}}
        with pytest.raises(InvalidData):
            await call(inbox.store_flags, UIDSet.of([a]), FlagMode.ADD, ["bad flag"])
        assert await _flags(inbox) == {a: {"$MixedCase"}}

    @pytest_twisted.ensureDeferred
    async def test_store_flags_unchanged_since(self, inbox):
        a, b, c = await _fill(inbox, [[], [], []])
        await call(inbox.store_flags, UIDSet.of([b]), FlagMode.ADD, ["\\Seen"])
        b_modseq = (await call(inbox.info)).highestmodseq
        msgs = {m.uid: m.modseq for m in await call(inbox.messages)}
        since = msgs[c]  # a and c are at or below it, b above it
        assert msgs[a] <= since < b_modseq
        res = await call(inbox.store_flags, UIDSet.of([a, b, c]), FlagMode.ADD, ["\\Flagged"], since)
        assert tuple(res.modified) == (b,)
        assert sorted(m.uid for m in res.changed) == [a, c]
        flags = await _flags(inbox)
        assert flags[b] == {"\\Seen"}
        assert flags[a] == flags[c] == {"\\Flagged"}
        assert {m.uid: m.modseq for m in await call(inbox.messages)}[b] == b_modseq

    @pytest_twisted.ensureDeferred
    async def test_expunge_only_deleted(self, inbox):
        a, b, c, d = await _fill(inbox, [["\\Deleted"], [], ["\\Deleted", "\\Seen"], ["\\Seen"]])
        top = (await call(inbox.info)).highestmodseq
        removed = await call(inbox.expunge)
        assert removed == [a, c]
        assert await call(inbox.uids) == [b, d]
        info = await call(inbox.info)
        assert info.exists == 2 and info.highestmodseq > top
        changes = await call(inbox.changes_since, top)
        assert isinstance(changes, MailboxChanges)
        assert changes.expunged == (a, c) and changes.changed == ()
        assert changes.highestmodseq == info.highestmodseq
        with pytest.raises(NotFound):
            await call(inbox.read_body, a)

    @pytest_twisted.ensureDeferred
    async def test_expunge_limited_to_uids(self, inbox):
        a, b, c = await _fill(inbox, [["\\Deleted"], ["\\Deleted"], ["\\Deleted"]])
        assert await call(inbox.expunge, UIDSet.of([b, c + 5])) == [b]
        assert await call(inbox.uids) == [a, c]
        assert await call(inbox.expunge, UIDSet.of([a, c])) == [a, c]
        assert await call(inbox.expunge) == []

    @pytest_twisted.ensureDeferred
    async def test_remove_ignores_flags(self, inbox):
        a, b, c = await _fill(inbox, [[], ["\\Seen"], []])
        top = (await call(inbox.info)).highestmodseq
        assert await call(inbox.remove, UIDSet.of([c, a, c + 9])) == [a, c]
        assert await call(inbox.uids) == [b]
        info = await call(inbox.info)
        assert info.exists == 1 and info.highestmodseq > top
        assert (await call(inbox.changes_since, top)).expunged == (a, c)
        assert await call(inbox.remove, UIDSet.of([a])) == []

    @pytest_twisted.ensureDeferred
    async def test_copy(self, mail, inbox):
        when = datetime(2022, 2, 2, 2, 2, 2, tzinfo=timezone.utc)
        a = (await call(inbox.append, samples.message("one"), ["\\Seen", "$K"], when)).uid
        b = (await call(inbox.append, samples.message("two"), ["\\Flagged"], when)).uid
        await call(mail.create_mailbox, "Dest")
        dest = await call(mail.mailbox, "Dest")
        await call(dest.append, samples.message("already there"))
        dest_before = await call(dest.info)
        src_before = await call(inbox.info)
        started = datetime.now(timezone.utc).replace(microsecond=0)

        res = await call(inbox.copy, UIDSet.of([a, b, b + 50]), "Dest")
        assert isinstance(res, CopyResult)
        assert res.uidvalidity == dest_before.uidvalidity
        assert res.source_uids == (a, b)
        assert len(res.dest_uids) == 2 and list(res.dest_uids) == sorted(res.dest_uids)
        assert res.dest_uids[0] >= dest_before.uidnext
        copies = {m.uid: m for m in await call(dest.messages, UIDSet.of(res.dest_uids))}
        originals = {m.uid: m for m in await call(inbox.messages)}
        for src, dst in zip(res.source_uids, res.dest_uids):
            assert copies[dst].flags == originals[src].flags
            assert copies[dst].internal_date == when
            # A copy is saved into its folder when it is made (IMAP SAVEDATE).
            assert copies[dst].saved_date >= started
            assert copies[dst].modseq > dest_before.highestmodseq
            assert await call(dest.read_body, dst) == await call(inbox.read_body, src)
        dest_after = await call(dest.info)
        assert dest_after.exists == 3 and dest_after.highestmodseq > dest_before.highestmodseq
        assert await call(inbox.info) == src_before, "copy must not change the source"
        assert [m.uid for m in (await call(dest.changes_since, dest_before.highestmodseq)).changed] == list(res.dest_uids)

    @pytest_twisted.ensureDeferred
    async def test_copy_empty_and_missing_dest(self, mail, inbox):
        [a] = await _fill(inbox, [[]])
        res = await call(inbox.copy, UIDSet.of([a + 100]), "Drafts")
        assert res.source_uids == () and res.dest_uids == ()
        with pytest.raises(NotFound):
            await call(inbox.copy, UIDSet.of([a]), "No Such Folder")
        assert (await call((await call(mail.mailbox, "Drafts")).info)).exists == 0

    @pytest_twisted.ensureDeferred
    async def test_copy_within_same_folder(self, inbox):
        [a] = await _fill(inbox, [["$Dup"]])
        res = await call(inbox.copy, UIDSet.of([a]), "INBOX")
        assert res.dest_uids[0] > a
        assert await _flags(inbox) == {a: {"$Dup"}, res.dest_uids[0]: {"$Dup"}}

    @pytest_twisted.ensureDeferred
    async def test_move(self, mail, inbox):
        a, b, c = await _fill(inbox, [["\\Seen"], [], ["\\Answered"]])
        trash = await call(mail.mailbox, "Trash")
        src_top = (await call(inbox.info)).highestmodseq
        dst_top = (await call(trash.info)).highestmodseq
        bodies = {u: await call(inbox.read_body, u) for u in (a, c)}
        started = datetime.now(timezone.utc).replace(microsecond=0)

        res = await call(inbox.move, UIDSet.of([a, c]), "Trash")
        assert res.source_uids == (a, c) and len(res.dest_uids) == 2
        assert res.uidvalidity == (await call(trash.info)).uidvalidity
        assert await call(inbox.uids) == [b]
        src_changes = await call(inbox.changes_since, src_top)
        assert src_changes.expunged == (a, c)
        moved = {m.uid: m for m in await call(trash.messages)}
        assert set(moved) == set(res.dest_uids)
        for src, dst in zip(res.source_uids, res.dest_uids):
            assert await call(trash.read_body, dst) == bodies[src]
            assert moved[dst].modseq > dst_top
            assert moved[dst].saved_date >= started
        assert moved[res.dest_uids[0]].flags == {"\\Seen"}
        assert moved[res.dest_uids[1]].flags == {"\\Answered"}

    @pytest_twisted.ensureDeferred
    async def test_move_to_missing_folder_changes_nothing(self, inbox):
        uids = await _fill(inbox, [[], []])
        before = await call(inbox.info)
        with pytest.raises(NotFound):
            await call(inbox.move, UIDSet.all(), "Nowhere")
        assert await call(inbox.uids) == uids
        assert await call(inbox.info) == before

    @pytest_twisted.ensureDeferred
    async def test_changes_since(self, inbox):
        start = (await call(inbox.info)).highestmodseq
        a, b, c = await _fill(inbox, [[], [], []])
        mark = (await call(inbox.info)).highestmodseq
        all_changes = await call(inbox.changes_since, 0)
        assert [m.uid for m in all_changes.changed] == [a, b, c]
        assert [m.uid for m in (await call(inbox.changes_since, start)).changed] == [a, b, c]
        nothing = await call(inbox.changes_since, mark)
        assert (nothing.changed, nothing.expunged, nothing.highestmodseq) == ((), (), mark)

        await call(inbox.store_flags, UIDSet.of([c]), FlagMode.ADD, ["\\Seen"])
        await call(inbox.remove, UIDSet.of([a]))
        d = (await call(inbox.append, samples.message("late"))).uid
        changes = await call(inbox.changes_since, mark)
        assert [m.uid for m in changes.changed] == [c, d]
        assert all(m.modseq > mark for m in changes.changed)
        assert changes.expunged == (a,)
        assert changes.highestmodseq == (await call(inbox.info)).highestmodseq
        assert [set(m.flags) for m in changes.changed] == [{"\\Seen"}, set()]
        assert (await call(inbox.changes_since, start)).expunged == (a,)
        # A message both added and removed after the token is still reported as expunged.
        e = (await call(inbox.append, samples.message("brief"))).uid
        top = (await call(inbox.info)).highestmodseq
        await call(inbox.remove, UIDSet.of([e]))
        later = await call(inbox.changes_since, mark)
        assert later.expunged == (a, e)
        assert e not in [m.uid for m in later.changed]
        assert (await call(inbox.changes_since, top)).expunged == (e,)
