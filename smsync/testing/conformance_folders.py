"""Conformance of ``IMailStore``: the folder hierarchy, roles, renames, deletes and
subscriptions, and the UIDVALIDITY rules that go with them."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.model import MailboxEntry, Role, UIDSet
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call


async def _names(mail) -> list[str]:
    return [e.name for e in await call(mail.list_mailboxes)]


async def _entry(mail, name) -> MailboxEntry:
    for e in await call(mail.list_mailboxes):
        if e.name == name:
            return e
    raise AssertionError(f"{name!r} not listed")


class FolderConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_list_sorted(self, mail):
        for name in ["zeta", "Alpha", "beta/child", "INBOX/sub"]:
            await call(mail.create_mailbox, name)
        entries = await call(mail.list_mailboxes)
        assert all(isinstance(e, MailboxEntry) for e in entries)
        names = [e.name for e in entries]
        assert names == sorted(names)

    @pytest_twisted.ensureDeferred
    async def test_create_with_parents(self, mail):
        entry = await call(mail.create_mailbox, "a/b/c")
        assert isinstance(entry, MailboxEntry)
        assert entry.name == "a/b/c" and entry.role is None
        names = await _names(mail)
        for name in ("a", "a/b", "a/b/c"):
            assert name in names
        assert (await _entry(mail, "a")).role is None
        box = await call(mail.mailbox, "a/b/c")
        assert box.id == entry.id
        assert (await call(mail.mailbox_by_id, entry.id)).id == entry.id
        info = await call(box.info)
        assert (info.id, info.name, info.role, info.exists) == (entry.id, "a/b/c", None, 0)
        # The parent created implicitly is a real folder that takes messages.
        parent = await call(mail.mailbox, "a/b")
        await call(parent.append, samples.message())
        assert (await call(parent.info)).exists == 1

    @pytest_twisted.ensureDeferred
    async def test_create_existing(self, mail):
        await call(mail.create_mailbox, "Work")
        with pytest.raises(AlreadyExists):
            await call(mail.create_mailbox, "Work")
        for inbox in ("INBOX", "inbox", "InBoX"):
            with pytest.raises(AlreadyExists):
                await call(mail.create_mailbox, inbox)

    @pytest.mark.parametrize("bad", ["", "/", "a//b", "/a", "a/", "a\x01b", "tab\there", "del\x7f"])
    @pytest_twisted.ensureDeferred
    async def test_create_bad_name(self, mail, bad):
        before = await _names(mail)
        with pytest.raises(InvalidData):
            await call(mail.create_mailbox, bad)
        assert await _names(mail) == before

    @pytest_twisted.ensureDeferred
    async def test_lookup_missing(self, mail):
        with pytest.raises(NotFound):
            await call(mail.mailbox, "Nope")
        with pytest.raises(NotFound):
            await call(mail.mailbox_by_id, "no-such-id")

    @pytest_twisted.ensureDeferred
    async def test_inbox_is_case_insensitive_others_are_not(self, mail):
        ids = {(await call(mail.mailbox, n)).id for n in ("INBOX", "inbox", "Inbox")}
        assert len(ids) == 1
        entry = await call(mail.create_mailbox, "inbox/Child")
        assert entry.name == "INBOX/Child"
        assert (await call(mail.mailbox, "Inbox/Child")).id == entry.id
        work = await call(mail.create_mailbox, "Work")
        lower = await call(mail.create_mailbox, "work")
        assert work.id != lower.id
        with pytest.raises(NotFound):
            await call(mail.mailbox, "WORK")

    @pytest_twisted.ensureDeferred
    async def test_roles(self, mail):
        with pytest.raises(Conflict):
            await call(mail.create_mailbox, "Sent2", Role.SENT)
        assert "Sent2" not in await _names(mail)
        await call(mail.set_role, "Sent", None)
        assert (await _entry(mail, "Sent")).role is None
        with pytest.raises(NotFound):
            await call(mail.mailbox_by_role, Role.SENT)
        entry = await call(mail.create_mailbox, "Sent Items", Role.SENT)
        assert entry.role == Role.SENT
        assert (await call(mail.mailbox_by_role, Role.SENT)).id == entry.id
        with pytest.raises(Conflict):
            await call(mail.set_role, "Sent", Role.SENT)
        await call(mail.create_mailbox, "Old")
        with pytest.raises(Conflict):
            await call(mail.set_role, "Old", Role.TRASH)
        await call(mail.set_role, "Trash", None)
        await call(mail.set_role, "Old", Role.TRASH)
        assert (await call(mail.mailbox_by_role, Role.TRASH)).id == (await _entry(mail, "Old")).id
        info = await call((await call(mail.mailbox, "Old")).info)
        assert info.role == Role.TRASH
        with pytest.raises(NotFound):
            await call(mail.set_role, "Nope", Role.ARCHIVE)

    @pytest_twisted.ensureDeferred
    async def test_rename_keeps_identity_and_moves_children(self, mail):
        await call(mail.create_mailbox, "p/q/r")
        await call(mail.set_role, "Archive", None)
        await call(mail.set_role, "p", Role.ARCHIVE)
        box = await call(mail.mailbox, "p")
        result = await call(box.append, samples.message("kept"), ["\\Flagged"])
        before = {n: await _entry(mail, n) for n in ("p", "p/q", "p/q/r")}
        info_before = await call(box.info)

        await call(mail.rename_mailbox, "p", "x")

        names = await _names(mail)
        assert not {"p", "p/q", "p/q/r"} & set(names)
        assert {"x", "x/q", "x/q/r"} <= set(names)
        for old, new in (("p", "x"), ("p/q", "x/q"), ("p/q/r", "x/q/r")):
            assert (await _entry(mail, new)).id == before[old].id
        renamed = await call(mail.mailbox, "x")
        info = await call(renamed.info)
        assert info.id == info_before.id and info.name == "x"
        assert info.uidvalidity == info_before.uidvalidity
        assert info.uidnext == info_before.uidnext
        assert info.role == Role.ARCHIVE
        assert await call(renamed.uids) == [result.uid]
        [msg] = await call(renamed.messages)
        assert msg.flags == {"\\Flagged"}
        # A handle taken before the rename follows the folder: it is keyed by id.
        assert (await call(box.info)).name == "x"
        with pytest.raises(NotFound):
            await call(mail.mailbox, "p")

    @pytest_twisted.ensureDeferred
    async def test_rename_errors(self, mail):
        await call(mail.create_mailbox, "a/b")
        await call(mail.create_mailbox, "c")
        with pytest.raises(NotFound):
            await call(mail.rename_mailbox, "missing", "z")
        with pytest.raises(AlreadyExists):
            await call(mail.rename_mailbox, "a", "c")
        with pytest.raises(Conflict):
            await call(mail.rename_mailbox, "INBOX", "OldInbox")
        with pytest.raises(Conflict):
            await call(mail.rename_mailbox, "inbox", "OldInbox")
        with pytest.raises(Conflict):  # a folder cannot become its own descendant
            await call(mail.rename_mailbox, "a", "a/b/a")
        with pytest.raises(InvalidData):
            await call(mail.rename_mailbox, "c", "bad//name")
        assert set(await _names(mail)) >= {"a", "a/b", "c", "INBOX"}
        assert "OldInbox" not in await _names(mail)

    @pytest_twisted.ensureDeferred
    async def test_delete_keeps_children(self, mail):
        await call(mail.create_mailbox, "d/e")
        box = await call(mail.mailbox, "d")
        await call(box.append, samples.message())
        await call(mail.delete_mailbox, "d")
        names = await _names(mail)
        assert "d" not in names and "d/e" in names
        with pytest.raises(NotFound):
            await call(mail.mailbox, "d")
        with pytest.raises(NotFound):
            await call(mail.delete_mailbox, "d")
        with pytest.raises(NotFound):  # the handle reads current state: the folder is gone
            await call(box.info)

    @pytest_twisted.ensureDeferred
    async def test_delete_inbox_is_conflict(self, mail):
        for name in ("INBOX", "inbox"):
            with pytest.raises(Conflict):
                await call(mail.delete_mailbox, name)
        assert "INBOX" in await _names(mail)

    @pytest_twisted.ensureDeferred
    async def test_recreated_folder_has_new_id_and_uidvalidity(self, mail):
        first = await call(mail.create_mailbox, "Again")
        box = await call(mail.mailbox, "Again")
        info1 = await call(box.info)
        await call(box.append, samples.message())
        seen = {info1.uidvalidity}
        ids = {first.id}
        for _ in range(3):
            await call(mail.delete_mailbox, "Again")
            entry = await call(mail.create_mailbox, "Again")
            info = await call((await call(mail.mailbox, "Again")).info)
            assert info.exists == 0
            assert info.uidvalidity not in seen, "UIDVALIDITY reused for a re-created folder"
            assert entry.id not in ids
            seen.add(info.uidvalidity)
            ids.add(entry.id)

    @pytest_twisted.ensureDeferred
    async def test_rename_away_then_create_gets_new_uidvalidity(self, mail):
        await call(mail.create_mailbox, "Name")
        old = await call((await call(mail.mailbox, "Name")).info)
        await call(mail.rename_mailbox, "Name", "Other")
        await call(mail.create_mailbox, "Name")
        new = await call((await call(mail.mailbox, "Name")).info)
        assert new.uidvalidity != old.uidvalidity and new.id != old.id

    @pytest_twisted.ensureDeferred
    async def test_subscribe(self, mail):
        await call(mail.create_mailbox, "News")
        await call(mail.subscribe, "News", False)
        assert (await _entry(mail, "News")).subscribed is False
        await call(mail.subscribe, "News")
        assert (await _entry(mail, "News")).subscribed is True
        await call(mail.subscribe, "News", False)
        await call(mail.rename_mailbox, "News", "Old News")
        assert (await _entry(mail, "Old News")).subscribed is False
        with pytest.raises(NotFound):
            await call(mail.subscribe, "Nope")

    @pytest_twisted.ensureDeferred
    async def test_folders_belong_to_one_account(self, store, mail):
        await call(mail.create_mailbox, "Private")
        other = await call(store.mail, self.OTHER_ACCOUNT)
        assert "Private" not in await _names(other)
        entry = await _entry(mail, "Private")
        with pytest.raises(NotFound):
            await call(other.mailbox_by_id, entry.id)
        inbox = await call(mail.mailbox, "INBOX")
        await call(inbox.append, samples.message())
        other_inbox = await call(other.mailbox, "INBOX")
        assert other_inbox.id != inbox.id
        assert (await call(other_inbox.info)).exists == 0
        assert await call(other_inbox.messages, UIDSet.all()) == []
