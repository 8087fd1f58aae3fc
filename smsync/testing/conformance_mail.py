"""Conformance of ``IMailbox``: storing and reading messages and the folder status
(UIDNEXT, HIGHESTMODSEQ, counts) IMAP SELECT and STATUS report."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import attrs
import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IMailboxRangeReads, IMailboxRecent, IMailboxSelect, IMailboxUIDWindow
from smsync.model import AppendResult, FlagMode, MailboxInfo, MessageInfo, UIDSet
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call


class MailConformance(StoreHarness):
    @pytest.fixture
    def inbox(self, mail):
        return pytest_twisted.blockon(call(mail.mailbox, "INBOX"))

    @pytest.fixture
    def ranges_inbox(self, inbox):
        """The INBOX, for the tests of the optional ``IMailboxRangeReads``."""
        if not IMailboxRangeReads.providedBy(inbox):
            pytest.skip("the backend's mailboxes do not provide IMailboxRangeReads")
        return inbox

    @pytest_twisted.ensureDeferred
    async def test_append_bytes(self, inbox):
        before = await call(inbox.info)
        assert isinstance(before, MailboxInfo)
        body = samples.message("first")
        result = await call(inbox.append, body)
        assert isinstance(result, AppendResult)
        info = await call(inbox.info)
        assert result.uidvalidity == info.uidvalidity == before.uidvalidity
        assert result.uid >= before.uidnext
        assert info.uidnext > result.uid
        assert result.modseq > before.highestmodseq
        assert info.highestmodseq == result.modseq
        assert (info.exists, info.size) == (1, len(body))
        assert await call(inbox.read_body, result.uid) == body
        [msg] = await call(inbox.messages, None)
        assert isinstance(msg, MessageInfo)
        assert (msg.uid, msg.size, msg.modseq, msg.flags) == (result.uid, len(body), result.modseq, frozenset())

    @pytest_twisted.ensureDeferred
    async def test_append_file_objects(self, inbox, tmp_path):
        small = samples.message("from BytesIO")
        r1 = await call(inbox.append, io.BytesIO(small))
        big = samples.message("from a file", size=300_000)
        path = tmp_path / "msg.eml"
        path.write_bytes(big)
        with open(path, "rb") as fh:
            r2 = await call(inbox.append, fh)
        assert await call(inbox.read_body, r1.uid) == small
        assert await call(inbox.read_body, r2.uid) == big
        sizes = {m.uid: m.size for m in await call(inbox.messages, None)}
        assert sizes == {r1.uid: len(small), r2.uid: len(big)}

    @pytest_twisted.ensureDeferred
    async def test_append_binary_and_bare_lf_kept_verbatim(self, inbox):
        body = b"Subject: raw\n\nline one\nbinary \x00\x01\xfe\xff\r\nend"
        r = await call(inbox.append, body)
        assert await call(inbox.read_body, r.uid) == body

    @pytest_twisted.ensureDeferred
    async def test_flags_canonicalised(self, inbox):
        r = await call(inbox.append, samples.message(), ["\\seen", "\\FLAGGED", "$Label1", "\\SEEN", "\\draft"])
        [msg] = await call(inbox.messages, UIDSet.of([r.uid]))
        assert msg.flags == {"\\Seen", "\\Flagged", "$Label1", "\\Draft"}
        assert isinstance(msg.flags, frozenset)

    @pytest.mark.parametrize("bad", ["has space", "(paren", "", "\\", "quo\"te"])
    @pytest_twisted.ensureDeferred
    async def test_bad_flag_stores_nothing(self, inbox, bad):
        before = await call(inbox.info)
        with pytest.raises(InvalidData):
            await call(inbox.append, samples.message(), ["\\Seen", bad])
        after = await call(inbox.info)
        assert after.exists == 0 and await call(inbox.uids) == []
        assert after.highestmodseq == before.highestmodseq

    @pytest_twisted.ensureDeferred
    async def test_internal_date(self, inbox):
        given = datetime(2021, 6, 1, 12, 30, 15, tzinfo=timezone(timedelta(hours=-4)))
        lo = datetime.now(timezone.utc).replace(microsecond=0)
        r1 = await call(inbox.append, samples.message("dated"), (), given)
        r2 = await call(inbox.append, samples.message("now"))
        hi = datetime.now(timezone.utc) + timedelta(seconds=1)
        msgs = {m.uid: m for m in await call(inbox.messages, None)}
        assert msgs[r1.uid].internal_date == given
        assert msgs[r1.uid].internal_date.utcoffset() is not None
        assert lo <= msgs[r2.uid].internal_date <= hi
        for m in msgs.values():
            assert lo <= m.saved_date <= hi

    @pytest_twisted.ensureDeferred
    async def test_read_body_ranges(self, inbox):
        body = samples.message("ranges", size=5000)
        uid = (await call(inbox.append, body)).uid
        assert await call(inbox.read_body, uid, 0, 10) == body[:10]
        assert await call(inbox.read_body, uid, 100, 50) == body[100:150]
        assert await call(inbox.read_body, uid, 4000) == body[4000:]
        assert await call(inbox.read_body, uid, len(body) - 5, 100) == body[-5:]
        assert await call(inbox.read_body, uid, len(body) + 10, 10) == b""
        assert await call(inbox.read_body, uid, 7, 0) == b""
        with pytest.raises(NotFound):
            await call(inbox.read_body, uid + 1000)

    @pytest_twisted.ensureDeferred
    async def test_read_body_of_other_folders_uid(self, mail, inbox):
        r = await call(inbox.append, samples.message())
        drafts = await call(mail.mailbox, "Drafts")
        with pytest.raises(NotFound):
            await call(drafts.read_body, r.uid)

    @pytest_twisted.ensureDeferred
    async def test_read_ranges(self, ranges_inbox):
        inbox = ranges_inbox
        plain = samples.message("ranges one", size=3000)
        multi = samples.multipart_message("ranges two")
        u1 = (await call(inbox.append, plain)).uid
        u2 = (await call(inbox.append, multi)).uid
        absent = u2 + 1000
        asked = [
            (u2, 0, 40),
            (u1, 0, 10),
            (absent, 0, 10),
            (u1, 2990, None),
            (u1, len(plain) - 5, 100),
            (u2, 17, 0),
            (u1, len(plain) + 10, 10),
            (u2, 0, None),
            (u1, 100, 50),
        ]
        got = await call(inbox.read_ranges, asked)
        assert isinstance(got, list) and len(got) == len(asked)
        bodies = {u1: plain, u2: multi}
        for (uid, offset, length), data in zip(asked, got):
            if uid == absent:
                assert data is None
                continue
            end = None if length is None else offset + length
            assert data == bodies[uid][offset:end], (uid, offset, length)
            assert data == await call(inbox.read_body, uid, offset, length)
        assert await call(inbox.read_ranges, []) == []

    @pytest_twisted.ensureDeferred
    async def test_read_ranges_of_other_folders_and_expunged_uids(self, mail, ranges_inbox):
        inbox = ranges_inbox
        kept = (await call(inbox.append, samples.message("kept"))).uid
        gone = (await call(inbox.append, samples.message("gone"), ["\\Deleted"])).uid
        big = samples.message("big", size=300_000)
        large = (await call(inbox.append, big)).uid
        await call(inbox.expunge)
        got = await call(inbox.read_ranges, [(gone, 0, 10), (kept, 0, 4), (large, 250_000, None)])
        assert got == [None, b"From", big[250_000:]]
        drafts = await call(mail.mailbox, "Drafts")
        assert await call(drafts.read_ranges, [(kept, 0, 4), (large, 0, 4)]) == [None, None]

    @pytest_twisted.ensureDeferred
    async def test_info_and_uids(self, inbox):
        if not IMailboxSelect.providedBy(inbox):
            pytest.skip("the backend's mailboxes do not provide IMailboxSelect")
        for n in range(3):
            await call(inbox.append, samples.message(f"select {n}"), ["\\Seen"] if n else [])
        info, uids = await call(inbox.info_and_uids)
        assert info == await call(inbox.info)
        assert uids == await call(inbox.uids)
        assert len(uids) == info.exists == 3 and info.first_unseen_uid == uids[0]

    @pytest_twisted.ensureDeferred
    async def test_uids_after(self, inbox):
        if not IMailboxUIDWindow.providedBy(inbox):
            pytest.skip("the backend's mailboxes do not provide IMailboxUIDWindow")
        assert await call(inbox.uids_after, 0, 5) == []
        for n in range(8):
            await call(inbox.append, samples.message(f"window {n}"), ["\\Deleted"] if n % 3 == 1 else [])
        await call(inbox.expunge)
        uids = await call(inbox.uids)
        assert len(uids) == 5
        # The same as cutting ``uids()``, from anywhere, in any window size.
        for after in [-5, 0, *range(1, 10), 2**32 - 1, 2**40]:
            for limit in (1, 2, 3, 100):
                above = [u for u in uids if u > after]
                assert await call(inbox.uids_after, after, limit) == above[:limit], (after, limit)
        for after, limit in [(0, 0), (0, -1), ("1", 2), (1, None), (True, 3), (0, 2.0)]:
            with pytest.raises(InvalidData):
                await call(inbox.uids_after, after, limit)

    @pytest_twisted.ensureDeferred
    async def test_recent_mark(self, mail, inbox):
        if not IMailboxRecent.providedBy(inbox):
            pytest.skip("the backend's mailboxes do not provide IMailboxRecent")
        await call(inbox.append, samples.message("recent"))
        info = await call(inbox.info)
        assert await call(inbox.recent_mark) == 0
        assert await call(inbox.claim_recent, 5) == 0
        # A lower claim takes nothing and leaves the mark.
        assert await call(inbox.claim_recent, 3) == 5
        assert await call(inbox.claim_recent, 9) == 5
        # The mark is the folder's: another handle sees it, another folder has its own.
        again = await call(mail.mailbox, "INBOX")
        assert await call(again.recent_mark) == 9
        assert await call(again.claim_recent, 9) == 9
        drafts = await call(mail.mailbox, "Drafts")
        assert await call(drafts.recent_mark) == 0
        # Not a change of the folder; an info that reports the mark reports the new one.
        after = await call(inbox.info)
        assert attrs.evolve(after, recent_mark=None) == attrs.evolve(info, recent_mark=None)
        assert info.recent_mark in (None, 0) and after.recent_mark in (None, 9)
        for bad in ("1", None, 1.0, True):
            with pytest.raises(InvalidData):
                await call(inbox.claim_recent, bad)
        # A folder made again under an old name starts afresh.
        await call(mail.create_mailbox, "Marks")
        marks = await call(mail.mailbox, "Marks")
        await call(marks.claim_recent, 7)
        await call(mail.delete_mailbox, "Marks")
        with pytest.raises(NotFound):
            await call(marks.claim_recent, 8)
        await call(mail.create_mailbox, "Marks")
        assert await call((await call(mail.mailbox, "Marks")).recent_mark) == 0

    @pytest.mark.parametrize("bad", [(1, -1, 10), (1, 0, -1)])
    @pytest_twisted.ensureDeferred
    async def test_read_ranges_refuses_negative_ranges(self, ranges_inbox, bad):
        inbox = ranges_inbox
        uid = (await call(inbox.append, samples.message())).uid
        with pytest.raises(InvalidData):
            await call(inbox.read_ranges, [(uid, 0, 4), (uid, bad[1], bad[2])])

    @pytest_twisted.ensureDeferred
    async def test_structures(self, inbox):
        plain = samples.message("Plain one")
        multi = samples.multipart_message("Has parts")
        u1 = (await call(inbox.append, plain)).uid
        u2 = (await call(inbox.append, multi)).uid
        structures = await call(inbox.structures, [u1, u2])
        assert set(structures) == {u1, u2}
        assert structures[u1].subject == "Plain one"
        assert structures[u2].subject == "Has parts"
        assert structures[u1].size == len(plain)
        assert structures[u2].size == len(multi)
        assert plain[structures[u1].header_size - 2:structures[u1].header_size] == b"\r\n"
        assert plain[structures[u1].header_size:] == b"Hi there.\r\n"
        only = await call(inbox.structures, [u2])
        assert set(only) == {u2}

    @pytest_twisted.ensureDeferred
    async def test_uids_and_messages_selection(self, inbox):
        uids = [(await call(inbox.append, samples.message(f"m{i}"))).uid for i in range(5)]
        assert uids == sorted(uids) and len(set(uids)) == 5
        assert await call(inbox.uids) == uids
        all_msgs = await call(inbox.messages, UIDSet.all())
        assert [m.uid for m in all_msgs] == uids
        assert [m.uid for m in await call(inbox.messages)] == uids
        chosen = [uids[3], uids[0], uids[4] + 100]
        got = await call(inbox.messages, UIDSet.of(chosen))
        assert [m.uid for m in got] == [uids[0], uids[3]]
        got = await call(inbox.messages, UIDSet.range(uids[1], uids[3]))
        assert [m.uid for m in got] == uids[1:4]
        got = await call(inbox.messages, UIDSet.range(uids[2], None))
        assert [m.uid for m in got] == uids[2:]
        assert await call(inbox.messages, UIDSet.of([uids[4] + 1, uids[4] + 50])) == []

    @pytest_twisted.ensureDeferred
    async def test_info_counts(self, inbox):
        empty = await call(inbox.info)
        assert (empty.exists, empty.unseen, empty.size, empty.first_unseen_uid) == (0, 0, 0, None)
        bodies = [samples.message(f"c{i}", size=100 * (i + 1)) for i in range(4)]
        flags = [["\\Seen"], [], ["\\Flagged"], ["\\Seen", "\\Deleted"]]
        uids = [(await call(inbox.append, b, f)).uid for b, f in zip(bodies, flags)]
        info = await call(inbox.info)
        assert info.exists == 4
        assert info.unseen == 2
        assert info.first_unseen_uid == uids[1]
        assert info.size == sum(len(b) for b in bodies)
        assert info.uidnext > uids[-1]
        msgs = await call(inbox.messages)
        assert info.highestmodseq == max(m.modseq for m in msgs)
        await call(inbox.store_flags, UIDSet.of(uids[1:3]), FlagMode.ADD, ["\\Seen"])
        info = await call(inbox.info)
        assert (info.unseen, info.first_unseen_uid) == (0, None)
        await call(inbox.store_flags, UIDSet.of([uids[2]]), FlagMode.REMOVE, ["\\Seen"])
        info = await call(inbox.info)
        assert (info.unseen, info.first_unseen_uid) == (1, uids[2])

    @pytest_twisted.ensureDeferred
    async def test_uidnext_and_uids_never_reused(self, inbox):
        uids = [(await call(inbox.append, samples.message(f"r{i}"), ["\\Deleted"])).uid for i in range(3)]
        await call(inbox.expunge)
        info = await call(inbox.info)
        assert info.exists == 0 and info.uidnext > uids[-1]
        fresh = (await call(inbox.append, samples.message("after"))).uid
        assert fresh > uids[-1]
        await call(inbox.remove, UIDSet.of([fresh]))
        again = (await call(inbox.append, samples.message("again"))).uid
        assert again > fresh
        assert (await call(inbox.info)).uidvalidity == info.uidvalidity

    @pytest_twisted.ensureDeferred
    async def test_modseq_rises_with_every_change(self, inbox):
        seen = [(await call(inbox.info)).highestmodseq]
        r = await call(inbox.append, samples.message())
        seen.append(r.modseq)
        res = await call(inbox.store_flags, UIDSet.of([r.uid]), FlagMode.ADD, ["\\Seen"])
        seen.append(res.changed[0].modseq)
        await call(inbox.store_flags, UIDSet.of([r.uid]), FlagMode.ADD, ["\\Deleted"])
        seen.append((await call(inbox.info)).highestmodseq)
        await call(inbox.expunge)
        seen.append((await call(inbox.info)).highestmodseq)
        assert seen == sorted(seen) and len(set(seen)) == len(seen), seen

    @pytest_twisted.ensureDeferred
    async def test_two_handles_see_each_other(self, mail):
        await call(mail.create_mailbox, "Shared")
        one = await call(mail.mailbox, "Shared")
        two = await call(mail.mailbox, "Shared")
        three = await call(mail.mailbox_by_id, one.id)
        r = await call(one.append, samples.message("seen by two"))
        assert await call(two.uids) == [r.uid]
        assert (await call(three.info)).exists == 1
        await call(two.store_flags, UIDSet.of([r.uid]), FlagMode.ADD, ["\\Answered"])
        [m] = await call(one.messages)
        assert m.flags == {"\\Answered"}
        assert (await call(one.info)).highestmodseq == (await call(two.info)).highestmodseq == m.modseq
        await call(three.remove, UIDSet.of([r.uid]))
        assert await call(one.uids) == []
        assert (await call(two.changes_since, r.modseq)).expunged == (r.uid,)
