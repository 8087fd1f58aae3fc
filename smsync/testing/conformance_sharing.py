"""Conformance of the store's optional ``sharing`` (``IFolderSharing``: folders' access
control lists) and ``annotations`` (``IAnnotations``): entries kept as given, replaced
and removed, refused when malformed, following their folder through a rename and gone
with its deletion, gone with the account (and, for access lists, every entry naming
it), and -- for persistent backends -- there after a restart.

A backend without an ability skips its tests."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import MAX_ANNOTATION, MAX_ANNOTATION_NAME, IAnnotations, IFolderSharing
from smsync.model import FolderGrant
from smsync.testing.base import HASH_1, StoreHarness, call


def _sharing(store):
    sharing = getattr(store, "sharing", None)
    if not IFolderSharing.providedBy(sharing):
        pytest.skip("the store has no IFolderSharing")
    return sharing


def _annotations(store):
    annotations = getattr(store, "annotations", None)
    if not IAnnotations.providedBy(annotations):
        pytest.skip("the store has no IAnnotations")
    return annotations


async def _folder_id(store, account, name):
    mail = await call(store.mail, account)
    for entry in await call(mail.list_mailboxes):
        if entry.name == name:
            return entry.id
    raise AssertionError(f"{account} has no folder {name!r}")


class FolderSharingConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_entries_are_kept_per_folder_and_identifier(self, store, mail):
        sharing = _sharing(store)
        await call(mail.create_mailbox, "Project")
        project = await _folder_id(store, self.ACCOUNT, "Project")
        inbox = await _folder_id(store, self.ACCOUNT, "INBOX")
        assert await call(sharing.get, self.ACCOUNT, project) == {}
        await call(sharing.set, self.ACCOUNT, project, self.OTHER_ACCOUNT, "lrs")
        await call(sharing.set, self.ACCOUNT.upper(), project, "anyone", "l")
        await call(sharing.set, self.ACCOUNT, project, "-" + self.OTHER_ACCOUNT, "s")
        assert await call(sharing.get, self.ACCOUNT, project) == {
            self.OTHER_ACCOUNT: "lrs", "anyone": "l", "-" + self.OTHER_ACCOUNT: "s"}
        assert await call(sharing.get, self.ACCOUNT.upper(), project) == {
            self.OTHER_ACCOUNT: "lrs", "anyone": "l", "-" + self.OTHER_ACCOUNT: "s"}
        assert await call(sharing.get, self.ACCOUNT, inbox) == {}
        assert await call(sharing.get, self.OTHER_ACCOUNT, project) == {}, \
            "a folder id is only a folder of its owner"
        await call(sharing.set, self.ACCOUNT, project, self.OTHER_ACCOUNT, "lrswi")
        await call(sharing.set, self.ACCOUNT, project, "anyone", None)
        await call(sharing.set, self.ACCOUNT, project, "-" + self.OTHER_ACCOUNT, "")
        await call(sharing.set, self.ACCOUNT, project, "never-set", None)
        assert await call(sharing.get, self.ACCOUNT, project) == {self.OTHER_ACCOUNT: "lrswi"}
        for owner, folder in (("nobody@example.com", project), (self.ACCOUNT, "no-such-id"),
                              ("not an account", project)):
            assert await call(sharing.get, owner, folder) == {}

    @pytest_twisted.ensureDeferred
    async def test_granted_lists_the_entries_naming_an_identifier(self, store, mail):
        sharing = _sharing(store)
        await call(mail.create_mailbox, "A")
        await call(mail.create_mailbox, "B")
        a = await _folder_id(store, self.ACCOUNT, "A")
        b = await _folder_id(store, self.ACCOUNT, "B")
        theirs = await _folder_id(store, self.OTHER_ACCOUNT, "INBOX")
        assert await call(sharing.granted, self.OTHER_ACCOUNT) == []
        await call(sharing.set, self.ACCOUNT, b, self.OTHER_ACCOUNT, "lr")
        await call(sharing.set, self.ACCOUNT, a, self.OTHER_ACCOUNT, "l")
        await call(sharing.set, self.ACCOUNT, a, "-" + self.OTHER_ACCOUNT, "r")
        await call(sharing.set, self.OTHER_ACCOUNT, theirs, "anyone", "lr")
        await call(sharing.set, self.OTHER_ACCOUNT, theirs, self.ACCOUNT, "lrs")
        expected = sorted([FolderGrant(self.ACCOUNT, a, self.OTHER_ACCOUNT, "l"),
                           FolderGrant(self.ACCOUNT, b, self.OTHER_ACCOUNT, "lr")],
                          key=lambda g: (g.owner, g.folder_id))
        assert await call(sharing.granted, self.OTHER_ACCOUNT) == expected
        assert await call(sharing.granted, "anyone") == [
            FolderGrant(self.OTHER_ACCOUNT, theirs, "anyone", "lr")]
        assert await call(sharing.granted, "-" + self.OTHER_ACCOUNT) == [
            FolderGrant(self.ACCOUNT, a, "-" + self.OTHER_ACCOUNT, "r")]
        assert await call(sharing.granted, "nobody@example.com") == []

    @pytest_twisted.ensureDeferred
    async def test_sharing_refuses_bad_input(self, store, mail):
        sharing = _sharing(store)
        inbox = await _folder_id(store, self.ACCOUNT, "INBOX")
        for identifier, rights in (("", "l"), ("x" * 201, "l"), (None, "l"), ("anyone", "L"),
                                   ("anyone", "l r"), ("anyone", 5), ("anyone", b"l"),
                                   ("anyone", "é"), ("anyone", "l" * 65)):
            with pytest.raises(InvalidData):
                await call(sharing.set, self.ACCOUNT, inbox, identifier, rights)
        await call(sharing.set, self.ACCOUNT, inbox, "x" * 200, "0123456789lrswipkxtea")
        assert await call(sharing.get, self.ACCOUNT, inbox) == {"x" * 200: "0123456789lrswipkxtea"}
        theirs = await _folder_id(store, self.OTHER_ACCOUNT, "INBOX")
        for owner, folder in (("nobody@example.com", inbox), ("not an account", inbox),
                              (self.ACCOUNT, "no-such-id"), (self.ACCOUNT, theirs)):
            with pytest.raises(NotFound):
                await call(sharing.set, owner, folder, "anyone", "l")
        assert await call(sharing.get, self.OTHER_ACCOUNT, theirs) == {}

    @pytest_twisted.ensureDeferred
    async def test_entries_follow_their_folder(self, store, mail):
        sharing = _sharing(store)
        await call(mail.create_mailbox, "Project")
        project = await _folder_id(store, self.ACCOUNT, "Project")
        await call(sharing.set, self.ACCOUNT, project, self.OTHER_ACCOUNT, "lr")
        await call(mail.rename_mailbox, "Project", "Archive/Project")
        assert await _folder_id(store, self.ACCOUNT, "Archive/Project") == project
        assert await call(sharing.get, self.ACCOUNT, project) == {self.OTHER_ACCOUNT: "lr"}
        await call(mail.delete_mailbox, "Archive/Project")
        assert await call(sharing.get, self.ACCOUNT, project) == {}
        assert await call(sharing.granted, self.OTHER_ACCOUNT) == [], \
            "a deleted folder is shared with nobody"
        await call(mail.create_mailbox, "Archive/Project")
        again = await _folder_id(store, self.ACCOUNT, "Archive/Project")
        assert again != project
        assert await call(sharing.get, self.ACCOUNT, again) == {}, \
            "a new folder of an old name starts with no entries"
        with pytest.raises(NotFound):
            await call(sharing.set, self.ACCOUNT, project, "anyone", "l")

    @pytest_twisted.ensureDeferred
    async def test_entries_go_with_the_accounts_they_concern(self, store, mail):
        sharing = _sharing(store)
        mine = await _folder_id(store, self.ACCOUNT, "INBOX")
        theirs = await _folder_id(store, self.OTHER_ACCOUNT, "INBOX")
        await call(sharing.set, self.ACCOUNT, mine, self.OTHER_ACCOUNT, "lr")
        await call(sharing.set, self.ACCOUNT, mine, "-" + self.OTHER_ACCOUNT, "r")
        await call(sharing.set, self.ACCOUNT, mine, "anyone", "l")
        await call(sharing.set, self.OTHER_ACCOUNT, theirs, self.ACCOUNT, "lrs")
        await call(store.accounts.remove, self.OTHER_ACCOUNT)
        assert await call(sharing.get, self.ACCOUNT, mine) == {"anyone": "l"}, \
            "entries naming a removed account go with it"
        assert await call(sharing.granted, self.ACCOUNT) == []
        await call(store.accounts.add, self.OTHER_ACCOUNT, HASH_1)
        assert await call(sharing.granted, self.OTHER_ACCOUNT) == [], \
            "a new account of the same name inherits nothing"
        assert await call(sharing.get, self.ACCOUNT, mine) == {"anyone": "l"}

    @pytest_twisted.ensureDeferred
    async def test_entries_survive_reopen(self, store, reopen):
        sharing = _sharing(store)
        inbox = await _folder_id(store, self.ACCOUNT, "INBOX")
        await call(sharing.set, self.ACCOUNT, inbox, self.OTHER_ACCOUNT, "lrswi")
        await call(sharing.set, self.ACCOUNT, inbox, "anyone", "l")
        await call(sharing.set, self.ACCOUNT, inbox, "anyone", None)
        store = await reopen()
        sharing = _sharing(store)
        assert await call(sharing.get, self.ACCOUNT, inbox) == {self.OTHER_ACCOUNT: "lrswi"}
        assert await call(sharing.granted, self.OTHER_ACCOUNT) == [
            FolderGrant(self.ACCOUNT, inbox, self.OTHER_ACCOUNT, "lrswi")]


class AnnotationsConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_annotations_are_kept_per_account_and_folder(self, store):
        annotations = _annotations(store)
        inbox = await _folder_id(store, self.ACCOUNT, "INBOX")
        assert await call(annotations.get, self.ACCOUNT, "") == {}
        await call(annotations.set, self.ACCOUNT, "", {"/shared/comment": b"server", "/private/x": b""})
        await call(annotations.set, self.ACCOUNT.upper(), inbox, {"/private/comment": b"\x00mine\xff"})
        await call(annotations.set, self.OTHER_ACCOUNT, inbox, {"/private/comment": b"theirs"})
        assert await call(annotations.get, self.ACCOUNT, "") == {
            "/shared/comment": b"server", "/private/x": b""}
        assert await call(annotations.get, self.ACCOUNT, inbox) == {"/private/comment": b"\x00mine\xff"}
        assert await call(annotations.get, self.OTHER_ACCOUNT, inbox) == {"/private/comment": b"theirs"}
        assert await call(annotations.get, self.OTHER_ACCOUNT, "") == {}
        await call(annotations.set, self.ACCOUNT, "", {"/shared/comment": None, "/private/x": b"y",
                                                       "/never": None})
        assert await call(annotations.get, self.ACCOUNT, "") == {"/private/x": b"y"}
        assert await call(annotations.get, self.ACCOUNT, "/PRIVATE/X") == {}, "names are kept as given"
        for account in ("nobody@example.com", "not an account"):
            assert await call(annotations.get, account, "") == {}

    @pytest_twisted.ensureDeferred
    async def test_annotations_refuse_bad_input_whole(self, store):
        annotations = _annotations(store)
        await call(annotations.set, self.ACCOUNT, "", {"/a": b"kept"})
        bad = ({"": b"x"}, {"n" * (MAX_ANNOTATION_NAME + 1): b"x"}, {5: b"x"}, {"/a": "text"},
               {"/a": 5}, {"/a": b"x" * (MAX_ANNOTATION + 1)}, [("/a", b"x")])
        for changes in bad:
            with pytest.raises(InvalidData):
                await call(annotations.set, self.ACCOUNT, "", changes)
        with pytest.raises(InvalidData):
            await call(annotations.set, self.ACCOUNT, "", {"/b": b"new", "/a": "not bytes"})
        with pytest.raises(InvalidData):
            await call(annotations.set, self.ACCOUNT, None, {"/b": b"x"})
        assert await call(annotations.get, self.ACCOUNT, "") == {"/a": b"kept"}, \
            "a refused set changes nothing"
        name = "n" * MAX_ANNOTATION_NAME
        await call(annotations.set, self.ACCOUNT, "", {name: b"x" * MAX_ANNOTATION})
        assert (await call(annotations.get, self.ACCOUNT, ""))[name] == b"x" * MAX_ANNOTATION
        for account in ("nobody@example.com", "not an account"):
            with pytest.raises(NotFound):
                await call(annotations.set, account, "", {"/a": b"x"})

    @pytest_twisted.ensureDeferred
    async def test_annotations_follow_their_folder(self, store, mail):
        annotations = _annotations(store)
        await call(mail.create_mailbox, "Project")
        project = await _folder_id(store, self.ACCOUNT, "Project")
        await call(annotations.set, self.ACCOUNT, project, {"/shared/comment": b"owner's"})
        await call(annotations.set, self.OTHER_ACCOUNT, project, {"/private/comment": b"guest's"})
        await call(annotations.set, self.ACCOUNT, "", {"/private/comment": b"server"})
        await call(mail.rename_mailbox, "Project", "Renamed")
        assert await call(annotations.get, self.ACCOUNT, project) == {"/shared/comment": b"owner's"}
        await call(mail.delete_mailbox, "Renamed")
        assert await call(annotations.get, self.ACCOUNT, project) == {}
        assert await call(annotations.get, self.OTHER_ACCOUNT, project) == {}, \
            "everyone's annotations on a deleted folder go with it"
        assert await call(annotations.get, self.ACCOUNT, "") == {"/private/comment": b"server"}

    @pytest_twisted.ensureDeferred
    async def test_annotations_go_with_the_account(self, store):
        annotations = _annotations(store)
        theirs = await _folder_id(store, self.OTHER_ACCOUNT, "INBOX")
        mine = await _folder_id(store, self.ACCOUNT, "INBOX")
        await call(annotations.set, self.OTHER_ACCOUNT, "", {"/private/a": b"1"})
        await call(annotations.set, self.ACCOUNT, theirs, {"/private/b": b"2"})
        await call(annotations.set, self.ACCOUNT, mine, {"/private/c": b"3"})
        await call(store.accounts.remove, self.OTHER_ACCOUNT)
        assert await call(annotations.get, self.ACCOUNT, theirs) == {}, \
            "annotations on a removed account's folders go with it"
        await call(store.accounts.add, self.OTHER_ACCOUNT, HASH_1)
        assert await call(annotations.get, self.OTHER_ACCOUNT, "") == {}
        assert await call(annotations.get, self.ACCOUNT, mine) == {"/private/c": b"3"}

    @pytest_twisted.ensureDeferred
    async def test_annotations_survive_reopen(self, store, reopen):
        annotations = _annotations(store)
        await call(annotations.set, self.ACCOUNT, "", {"/private/a": b"persisted", "/gone": b"x"})
        await call(annotations.set, self.ACCOUNT, "", {"/gone": None})
        store = await reopen()
        annotations = _annotations(store)
        assert await call(annotations.get, self.ACCOUNT, "") == {"/private/a": b"persisted"}
