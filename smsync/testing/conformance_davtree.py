"""Conformance of ``IDavTree`` (the store's optional ``dav_tree``): plain WebDAV
resources and collections kept per account, their parents required, replaced,
deleted and moved with everything below them, dead properties kept, gone with the
account, and -- for persistent backends -- there after a restart.

A backend without the ability skips these tests."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
from smsync.interfaces import IDavTree
from smsync.testing.base import HASH_1, StoreHarness, call


def _tree(store):
    tree = getattr(store, "dav_tree", None)
    if not IDavTree.providedBy(tree):
        pytest.skip("the store has no IDavTree")
    return tree


class DavTreeConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_dav_tree_keeps_resources_and_collections(self, store):
        tree = _tree(store)
        assert await call(tree.node, self.ACCOUNT, "top") is None
        top = await call(tree.mkcol, self.ACCOUNT, "top")
        assert top.collection and top.path == "top" and top.size == 0 and top.properties == {}
        first = await call(tree.put, self.ACCOUNT, "top/a.txt", b"one\x00\xff", "text/plain")
        assert not first.collection and first.size == 5 and first.content_type == "text/plain"
        assert first.name == "a.txt"
        assert await call(tree.read, self.ACCOUNT, "top/a.txt") == b"one\x00\xff"
        assert await call(tree.read, self.ACCOUNT, "top") is None, "a collection has no content"
        assert (await call(tree.node, self.ACCOUNT, "top/a.txt")).etag == first.etag
        second = await call(tree.put, self.ACCOUNT, "top/a.txt", b"two")
        assert second.etag != first.etag and second.content_type is None
        assert await call(tree.read, self.ACCOUNT.upper(), "top/a.txt") == b"two"
        await call(tree.mkcol, self.ACCOUNT, "top/sub")
        await call(tree.put, self.ACCOUNT, "top/sub/deep \u20ac", b"")
        await call(tree.put, self.ACCOUNT, "top/B", b"b")
        members = await call(tree.members, self.ACCOUNT, "top")
        assert [n.path for n in members] == ["top/B", "top/a.txt", "top/sub"]
        assert [n.collection for n in members] == [False, False, True]
        assert await call(tree.members, self.ACCOUNT, "top/a.txt") == []
        assert await call(tree.members, self.ACCOUNT, "nothing") == []
        assert [n.path for n in await call(tree.members, self.ACCOUNT, "top/sub")] == ["top/sub/deep \u20ac"]
        assert await call(tree.node, self.OTHER_ACCOUNT, "top") is None, "trees are per account"
        assert await call(tree.node, "nobody@example.com", "top") is None
        assert await call(tree.read, "nobody@example.com", "top/a.txt") is None
        assert await call(tree.members, "nobody@example.com", "top") == []

    @pytest_twisted.ensureDeferred
    async def test_dav_tree_requires_parents_and_refuses_clashes(self, store):
        tree = _tree(store)
        await call(tree.mkcol, self.ACCOUNT, "top")
        await call(tree.put, self.ACCOUNT, "top/file", b"x")
        for path in ("missing/file", "top/missing/file", "top/file/below"):
            with pytest.raises(Conflict):
                await call(tree.put, self.ACCOUNT, path, b"x")
            with pytest.raises(Conflict):
                await call(tree.mkcol, self.ACCOUNT, path)
        with pytest.raises(Conflict):
            await call(tree.put, self.ACCOUNT, "top", b"x")
        for path in ("top", "top/file"):
            with pytest.raises(AlreadyExists):
                await call(tree.mkcol, self.ACCOUNT, path)
        for path in ("", "/top", "top/", "top//file", "a\x00b", None, 5):
            with pytest.raises(InvalidData):
                await call(tree.put, self.ACCOUNT, path, b"x")
            with pytest.raises(InvalidData):
                await call(tree.node, self.ACCOUNT, path)
        with pytest.raises(InvalidData):
            await call(tree.put, self.ACCOUNT, "top/text", "not bytes")
        with pytest.raises(NotFound):
            await call(tree.mkcol, "nobody@example.com", "top")
        with pytest.raises(NotFound):
            await call(tree.put, "nobody@example.com", "top", b"x")
        assert await call(tree.node, self.ACCOUNT, "missing") is None
        assert [n.path for n in await call(tree.members, self.ACCOUNT, "top")] == ["top/file"]

    @pytest_twisted.ensureDeferred
    async def test_dav_tree_properties(self, store):
        tree = _tree(store)
        await call(tree.put, self.ACCOUNT, "file", b"x")
        name, other = "{http://example.com/ns/}p", "{}bare"
        value = '<p xmlns="http://example.com/ns/">\U00010000 &amp; <q xmlns="x"/></p>'
        node = await call(tree.set_properties, self.ACCOUNT, "file", {name: value, other: "v"})
        assert node.properties == {name: value, other: "v"}
        node = await call(tree.set_properties, self.ACCOUNT, "file", {other: None, "{x}never": None})
        assert node.properties == {name: value}
        replaced = await call(tree.put, self.ACCOUNT, "file", b"new content")
        assert replaced.properties == {name: value}, "PUT over a resource keeps its properties"
        assert (await call(tree.node, self.ACCOUNT, "file")).properties == {name: value}
        with pytest.raises(InvalidData):
            await call(tree.set_properties, self.ACCOUNT, "file", {name: 5})
        with pytest.raises(InvalidData):
            await call(tree.set_properties, self.ACCOUNT, "file", {name: None, 7: "x"})
        assert (await call(tree.node, self.ACCOUNT, "file")).properties == {name: value}
        with pytest.raises(NotFound):
            await call(tree.set_properties, self.ACCOUNT, "missing", {name: "x"})
        coll = await call(tree.mkcol, self.ACCOUNT, "coll")
        assert coll.properties == {}
        coll = await call(tree.set_properties, self.ACCOUNT, "coll", {name: "c"})
        assert coll.collection and coll.properties == {name: "c"}

    @pytest_twisted.ensureDeferred
    async def test_dav_tree_delete_and_move_whole_subtrees(self, store):
        tree = _tree(store)
        await call(tree.mkcol, self.ACCOUNT, "src")
        await call(tree.mkcol, self.ACCOUNT, "src/sub")
        await call(tree.put, self.ACCOUNT, "src/sub/f", b"f")
        await call(tree.put, self.ACCOUNT, "src/g", b"g")
        await call(tree.put, self.ACCOUNT, "srcx", b"sibling with the same prefix")
        await call(tree.set_properties, self.ACCOUNT, "src/g", {"{n}p": "v"})
        etag = (await call(tree.node, self.ACCOUNT, "src/g")).etag
        with pytest.raises(InvalidData):
            await call(tree.move, self.ACCOUNT, "src", "src/sub/inside")
        with pytest.raises(InvalidData):
            await call(tree.move, self.ACCOUNT, "src", "src")
        with pytest.raises(AlreadyExists):
            await call(tree.move, self.ACCOUNT, "src", "srcx")
        with pytest.raises(Conflict):
            await call(tree.move, self.ACCOUNT, "src", "nowhere/dest")
        with pytest.raises(NotFound):
            await call(tree.move, self.ACCOUNT, "missing", "dest")
        moved = await call(tree.move, self.ACCOUNT, "src", "dest")
        assert moved.path == "dest" and moved.collection
        assert await call(tree.node, self.ACCOUNT, "src") is None
        assert await call(tree.node, self.ACCOUNT, "src/g") is None
        g = await call(tree.node, self.ACCOUNT, "dest/g")
        assert g.etag == etag and g.properties == {"{n}p": "v"}
        assert await call(tree.read, self.ACCOUNT, "dest/sub/f") == b"f"
        assert [n.path for n in await call(tree.members, self.ACCOUNT, "dest")] == ["dest/g", "dest/sub"]
        assert [n.path for n in await call(tree.members, self.ACCOUNT, "dest/sub")] == ["dest/sub/f"]
        await call(tree.move, self.ACCOUNT, "srcx", "dest/sub/x")
        assert await call(tree.read, self.ACCOUNT, "dest/sub/x") == b"sibling with the same prefix"
        await call(tree.put, self.ACCOUNT, "destx", b"kept")
        await call(tree.delete, self.ACCOUNT, "dest/sub")
        assert await call(tree.node, self.ACCOUNT, "dest/sub/f") is None
        assert await call(tree.node, self.ACCOUNT, "dest/sub") is None
        assert await call(tree.read, self.ACCOUNT, "dest/g") == b"g"
        await call(tree.delete, self.ACCOUNT, "dest")
        assert await call(tree.node, self.ACCOUNT, "dest/g") is None
        assert await call(tree.read, self.ACCOUNT, "destx") == b"kept"
        with pytest.raises(NotFound):
            await call(tree.delete, self.ACCOUNT, "dest")
        # A name freed by a delete or a move may be used again, as anything.
        await call(tree.put, self.ACCOUNT, "dest", b"now a file")
        await call(tree.mkcol, self.ACCOUNT, "src")
        assert (await call(tree.node, self.ACCOUNT, "src")).collection

    @pytest_twisted.ensureDeferred
    async def test_dav_tree_goes_with_the_account(self, store):
        tree = _tree(store)
        await call(tree.put, self.ACCOUNT, "file", b"mine")
        await call(tree.put, self.OTHER_ACCOUNT, "file", b"kept")
        await call(store.accounts.remove, self.ACCOUNT)
        assert await call(tree.node, self.ACCOUNT, "file") is None
        await call(store.accounts.add, self.ACCOUNT, HASH_1)
        assert await call(tree.node, self.ACCOUNT, "file") is None, \
            "a new account of the same name starts without the old one's files"
        assert await call(tree.read, self.OTHER_ACCOUNT, "file") == b"kept"

    @pytest_twisted.ensureDeferred
    async def test_dav_tree_survives_reopen(self, store, reopen):
        tree = _tree(store)
        await call(tree.mkcol, self.ACCOUNT, "dir")
        node = await call(tree.put, self.ACCOUNT, "dir/file", b"persisted", "text/plain")
        await call(tree.set_properties, self.ACCOUNT, "dir/file", {"{n}p": "v"})
        await call(tree.put, self.ACCOUNT, "gone", b"x")
        await call(tree.delete, self.ACCOUNT, "gone")
        store = await reopen()
        tree = _tree(store)
        again = await call(tree.node, self.ACCOUNT, "dir/file")
        assert again.etag == node.etag and again.content_type == "text/plain"
        assert again.properties == {"{n}p": "v"} and again.modified == node.modified
        assert await call(tree.read, self.ACCOUNT, "dir/file") == b"persisted"
        assert await call(tree.node, self.ACCOUNT, "gone") is None
