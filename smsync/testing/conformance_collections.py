"""Conformance of ``ICollectionStore`` and ``ICollection``: collections and their
properties, items with etags and preconditions, tombstones and sync tokens."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import (AlreadyExists, InvalidData, NotFound, PreconditionFailed,
                           SyncTokenInvalid, UidConflict, UnsupportedComponent)
from smsync.model import (CollectionChanges, CollectionInfo, CollectionKind, DEFAULT_COMPONENTS,
                          Item, ItemInfo, PROP_COLOR, PROP_DESCRIPTION, PROP_DISPLAYNAME)
from smsync.testing import samples
from smsync.testing.base import StoreHarness, call

DEAD = "{http://example.com/ns/}custom"
DEAD_VALUE = '<x:custom xmlns:x="http://example.com/ns/">  spaced &amp; <x:b>kept</x:b> </x:custom>'


class CollectionConformance(StoreHarness):
    @pytest.fixture
    def calendar(self, collections):
        return pytest_twisted.blockon(call(collections.collection, "calendar"))

    # -- collections ------------------------------------------------------------------

    @pytest_twisted.ensureDeferred
    async def test_list_by_kind_sorted(self, collections):
        await call(collections.create_collection, "work", CollectionKind.CALENDAR)
        await call(collections.create_collection, "a-team", CollectionKind.ADDRESSBOOK)
        infos = await call(collections.list_collections)
        assert all(isinstance(i, CollectionInfo) for i in infos)
        names = [i.name for i in infos]
        assert names == sorted(names) and {"work", "a-team"} <= set(names)
        cals = await call(collections.list_collections, CollectionKind.CALENDAR)
        assert [i.name for i in cals] == ["calendar", "work"]
        books = await call(collections.list_collections, CollectionKind.ADDRESSBOOK)
        assert [i.name for i in books] == ["a-team", "contacts"]

    @pytest_twisted.ensureDeferred
    async def test_create_kinds_and_components(self, collections):
        for kind in CollectionKind:
            info = await call(collections.create_collection, f"new-{kind.value}", kind)
            assert (info.name, info.kind, info.count) == (f"new-{kind.value}", kind, 0)
            assert info.components == DEFAULT_COMPONENTS[kind]
            assert (await call(collections.collection_by_id, info.id)).id == info.id
            col = await call(collections.collection, info.name)
            assert col.id == info.id and (await call(col.info)).kind == kind
        info = await call(collections.create_collection, "events-only", CollectionKind.CALENDAR,
                          frozenset({"VEVENT"}), {PROP_DISPLAYNAME: "Events", PROP_COLOR: "#ff0000"})
        assert info.components == {"VEVENT"}
        assert info.properties[PROP_DISPLAYNAME] == "Events"
        assert info.properties[PROP_COLOR] == "#ff0000"
        ids = [i.id for i in await call(collections.list_collections)]
        assert len(set(ids)) == len(ids)

    @pytest_twisted.ensureDeferred
    async def test_create_errors(self, collections):
        with pytest.raises(AlreadyExists):
            await call(collections.create_collection, "calendar", CollectionKind.CALENDAR)
        for bad in ("", "a/b", "..", ".", "ctl\x01"):
            with pytest.raises(InvalidData):
                await call(collections.create_collection, bad, CollectionKind.CALENDAR)
        with pytest.raises(NotFound):
            await call(collections.collection, "nope")
        with pytest.raises(NotFound):
            await call(collections.collection_by_id, "no-such-id")

    @pytest_twisted.ensureDeferred
    async def test_properties(self, collections):
        await call(collections.create_collection, "props", CollectionKind.CALENDAR,
                   None, {DEAD: DEAD_VALUE})
        col = await call(collections.collection, "props")
        assert (await call(col.info)).properties[DEAD] == DEAD_VALUE
        info = await call(col.set_properties, {PROP_DISPLAYNAME: "Team", PROP_DESCRIPTION: "Shared",
                                               "{urn:x}other": "<o xmlns='urn:x'/>"})
        assert isinstance(info, CollectionInfo)
        assert info.properties[PROP_DISPLAYNAME] == "Team"
        assert info.properties["{urn:x}other"] == "<o xmlns='urn:x'/>"
        info = await call(col.set_properties, {DEAD: None, PROP_DESCRIPTION: None, PROP_DISPLAYNAME: "Team 2"})
        assert DEAD not in info.properties and PROP_DESCRIPTION not in info.properties
        assert info.properties[PROP_DISPLAYNAME] == "Team 2"
        fresh = await call((await call(collections.collection, "props")).info)
        assert fresh.properties == info.properties
        # Removing a property that is not there is not an error.
        await call(col.set_properties, {"{urn:x}never": None})

    @pytest_twisted.ensureDeferred
    async def test_rename_keeps_everything(self, collections, calendar):
        await call(calendar.put, "a.ics", samples.event("a"))
        await call(calendar.put, "b.ics", samples.event("b"))
        token = (await call(calendar.info)).revision
        await call(calendar.delete, "b.ics")
        before = await call(calendar.info)
        await call(collections.rename_collection, "calendar", "renamed")
        with pytest.raises(NotFound):
            await call(collections.collection, "calendar")
        col = await call(collections.collection, "renamed")
        info = await call(col.info)
        assert (info.id, info.revision, info.count) == (before.id, before.revision, 1)
        assert [i.name for i in await call(col.items)] == ["a.ics"]
        changes = await call(col.changes_since, token)
        assert changes.deleted == ("b.ics",)
        assert (await call(calendar.info)).name == "renamed"
        with pytest.raises(NotFound):
            await call(collections.rename_collection, "missing", "x")
        with pytest.raises(AlreadyExists):
            await call(collections.rename_collection, "renamed", "contacts")
        with pytest.raises(InvalidData):
            await call(collections.rename_collection, "renamed", "a/b")

    @pytest_twisted.ensureDeferred
    async def test_delete_collection(self, collections, calendar):
        await call(calendar.put, "a.ics", samples.event("a"))
        old_id = calendar.id
        await call(collections.delete_collection, "calendar")
        assert "calendar" not in [i.name for i in await call(collections.list_collections)]
        with pytest.raises(NotFound):
            await call(collections.delete_collection, "calendar")
        with pytest.raises(NotFound):
            await call(collections.collection_by_id, old_id)
        info = await call(collections.create_collection, "calendar", CollectionKind.CALENDAR)
        assert info.id != old_id and info.count == 0
        assert await call((await call(collections.collection, "calendar")).items) == []

    @pytest_twisted.ensureDeferred
    async def test_collections_belong_to_one_account(self, store, collections, calendar):
        await call(calendar.put, "mine.ics", samples.event("mine"))
        other = await call(store.collections, self.OTHER_ACCOUNT)
        with pytest.raises(NotFound):
            await call(other.collection_by_id, calendar.id)
        theirs = await call(other.collection, "calendar")
        assert theirs.id != calendar.id and await call(theirs.items) == []

    # -- items ------------------------------------------------------------------------

    @pytest_twisted.ensureDeferred
    async def test_put_and_get(self, calendar):
        content = samples.event("uid-1", summary="Lunch")
        before = await call(calendar.info)
        info = await call(calendar.put, "lunch.ics", content)
        assert isinstance(info, ItemInfo)
        assert (info.name, info.uid, info.component, info.size) == ("lunch.ics", "uid-1", "VEVENT", len(content))
        assert info.etag and info.revision > before.revision
        col = await call(calendar.info)
        assert (col.revision, col.count) == (info.revision, 1)
        [item] = await call(calendar.get, ["lunch.ics"])
        assert isinstance(item, Item) and item.content == content and item.info == info
        by_uid = await call(calendar.get_by_uid, "uid-1")
        assert by_uid.content == content and by_uid.info.name == "lunch.ics"
        assert await call(calendar.items) == [info]
        with pytest.raises(NotFound):
            await call(calendar.get_by_uid, "nope")

    @pytest_twisted.ensureDeferred
    async def test_get_order_and_missing(self, calendar):
        for n in ("c", "a", "b"):
            await call(calendar.put, f"{n}.ics", samples.event(n))
        got = await call(calendar.get, ["b.ics", "zz.ics", "c.ics", "a.ics"])
        assert [i.info.name for i in got] == ["b.ics", "c.ics", "a.ics"]
        assert [i.info.uid for i in got] == ["b", "c", "a"]
        assert [i.name for i in await call(calendar.items)] == ["a.ics", "b.ics", "c.ics"]
        assert await call(calendar.get, []) == []

    @pytest_twisted.ensureDeferred
    async def test_content_stored_verbatim_and_etag_follows_content(self, calendar):
        first = samples.event("e", summary="One").replace(b"\r\n", b"\n")
        i1 = await call(calendar.put, "e.ics", first)
        assert (await call(calendar.get, ["e.ics"]))[0].content == first
        i2 = await call(calendar.put, "e.ics", samples.event("e", summary="Two"))
        assert i2.etag != i1.etag and i2.revision > i1.revision
        i3 = await call(calendar.put, "e.ics", first)
        assert i3.etag != i2.etag
        assert [i.etag for i in await call(calendar.items)] == [i3.etag]

    @pytest_twisted.ensureDeferred
    async def test_preconditions(self, calendar):
        info = await call(calendar.put, "p.ics", samples.event("p"), None, True)
        with pytest.raises(PreconditionFailed) as e:
            await call(calendar.put, "p.ics", samples.event("p", summary="x"), None, True)
        assert e.value.current_etag == info.etag
        with pytest.raises(PreconditionFailed) as e:
            await call(calendar.put, "p.ics", samples.event("p", summary="x"), '"wrong"')
        assert e.value.current_etag == info.etag
        with pytest.raises(PreconditionFailed) as e:
            await call(calendar.put, "new.ics", samples.event("n"), info.etag)
        assert e.value.current_etag is None
        assert [i.name for i in await call(calendar.items)] == ["p.ics"]
        updated = await call(calendar.put, "p.ics", samples.event("p", summary="y"), info.etag)
        assert updated.etag != info.etag
        assert (await call(calendar.info)).revision == updated.revision
        with pytest.raises(PreconditionFailed):
            await call(calendar.delete, "p.ics", info.etag)
        assert await call(calendar.delete, "p.ics", updated.etag) > updated.revision

    @pytest_twisted.ensureDeferred
    async def test_uid_conflict(self, calendar):
        await call(calendar.put, "one.ics", samples.event("same-uid"))
        rev = (await call(calendar.info)).revision
        with pytest.raises(UidConflict) as e:
            await call(calendar.put, "two.ics", samples.event("same-uid", summary="dup"))
        assert e.value.uid == "same-uid" and e.value.existing_name == "one.ics"
        assert (await call(calendar.info)).revision == rev
        assert [i.name for i in await call(calendar.items)] == ["one.ics"]
        # Changing an item's own UID is allowed, and frees the old one.
        await call(calendar.put, "one.ics", samples.event("new-uid"))
        await call(calendar.put, "two.ics", samples.event("same-uid"))

    @pytest_twisted.ensureDeferred
    async def test_invalid_content(self, collections, calendar):
        contacts = await call(collections.collection, "contacts")
        cases = [
            (calendar, samples.GARBAGE), (calendar, samples.no_uid_calendar()),
            (calendar, samples.two_uid_calendar()), (calendar, b""),
            (contacts, samples.GARBAGE), (contacts, samples.no_uid_vcard()),
            (contacts, samples.vcard("a") + samples.vcard("b")),
            (calendar, samples.vcard("card-in-calendar")),
            (contacts, samples.event("event-in-contacts")),
        ]
        for col, content in cases:
            before = await call(col.info)
            with pytest.raises(InvalidData):
                await call(col.put, "bad.item", content)
            after = await call(col.info)
            assert (after.revision, after.count) == (before.revision, before.count), content
        for bad_name in ("", "a/b", ".."):
            with pytest.raises(InvalidData):
                await call(calendar.put, bad_name, samples.event("named"))

    @pytest_twisted.ensureDeferred
    async def test_unsupported_component(self, collections, calendar):
        tasks = await call(collections.collection, "tasks")
        notes = await call(collections.collection, "notes")
        with pytest.raises(UnsupportedComponent):
            await call(tasks.put, "e.ics", samples.event("e"))
        with pytest.raises(UnsupportedComponent):
            await call(notes.put, "t.ics", samples.todo("t"))
        with pytest.raises(UnsupportedComponent):
            await call(calendar.put, "j.ics", samples.journal("j"))
        assert (await call(tasks.put, "t.ics", samples.todo("t"))).component == "VTODO"
        assert (await call(notes.put, "j.ics", samples.journal("j"))).component == "VJOURNAL"
        assert (await call(calendar.put, "t.ics", samples.todo("t2"))).component == "VTODO"
        await call(collections.create_collection, "ev", CollectionKind.CALENDAR, frozenset({"VEVENT"}))
        events_only = await call(collections.collection, "ev")
        with pytest.raises(UnsupportedComponent):
            await call(events_only.put, "t.ics", samples.todo("t3"))
        contacts = await call(collections.collection, "contacts")
        card = await call(contacts.put, "jane.vcf", samples.vcard("jane-uid"))
        assert (card.uid, card.component) == ("jane-uid", "VCARD")
        assert (await call(contacts.get_by_uid, "jane-uid")).info == card

    @pytest_twisted.ensureDeferred
    async def test_delete_leaves_tombstone(self, calendar):
        a = await call(calendar.put, "a.ics", samples.event("a"))
        await call(calendar.put, "b.ics", samples.event("b"))
        with pytest.raises(NotFound):
            await call(calendar.delete, "missing.ics")
        rev = await call(calendar.delete, "a.ics")
        info = await call(calendar.info)
        assert rev == info.revision and info.count == 1
        assert await call(calendar.get, ["a.ics"]) == []
        with pytest.raises(NotFound):
            await call(calendar.get_by_uid, "a")
        changes = await call(calendar.changes_since, a.revision)
        assert changes.deleted == ("a.ics",) and [i.name for i in changes.changed] == ["b.ics"]
        with pytest.raises(NotFound):
            await call(calendar.delete, "a.ics")
        # The UID is free again once its item is gone.
        await call(calendar.put, "c.ics", samples.event("a"))

    @pytest_twisted.ensureDeferred
    async def test_changes_since(self, calendar):
        start = (await call(calendar.info)).revision
        a = await call(calendar.put, "a.ics", samples.event("a"))
        b = await call(calendar.put, "b.ics", samples.event("b"))
        everything = await call(calendar.changes_since, 0)
        assert isinstance(everything, CollectionChanges)
        assert [i.name for i in everything.changed] == ["a.ics", "b.ics"]
        assert everything.deleted == () and not everything.truncated
        assert everything.revision == b.revision
        assert [i.name for i in (await call(calendar.changes_since, start)).changed] == ["a.ics", "b.ics"]
        nothing = await call(calendar.changes_since, b.revision)
        assert (nothing.changed, nothing.deleted, nothing.revision) == ((), (), b.revision)

        c = await call(calendar.put, "c.ics", samples.event("c"))
        a2 = await call(calendar.put, "a.ics", samples.event("a", summary="changed"))
        await call(calendar.delete, "b.ics")
        changes = await call(calendar.changes_since, b.revision)
        assert [i.name for i in changes.changed] == ["c.ics", "a.ics"], "sorted by revision"
        assert changes.changed[1] == a2 and changes.changed[0] == c
        assert changes.deleted == ("b.ics",)
        assert changes.revision == (await call(calendar.info)).revision
        assert "b.ics" not in [i.name for i in (await call(calendar.changes_since, 0)).changed]
        assert (await call(calendar.changes_since, 0)).deleted == ()
        # Deleted then re-created: present now, so changed and not deleted.
        await call(calendar.put, "b.ics", samples.event("b", summary="back"))
        again = await call(calendar.changes_since, a.revision)
        assert "b.ics" in [i.name for i in again.changed] and "b.ics" not in again.deleted
        # Changed then deleted: only deleted.
        await call(calendar.delete, "c.ics")
        last = await call(calendar.changes_since, b.revision)
        assert "c.ics" in last.deleted and "c.ics" not in [i.name for i in last.changed]

    @pytest_twisted.ensureDeferred
    async def test_changes_since_future_token(self, calendar):
        await call(calendar.put, "a.ics", samples.event("a"))
        current = (await call(calendar.info)).revision
        await call(calendar.changes_since, current)
        for bad in (current + 1, current + 1000):
            with pytest.raises(SyncTokenInvalid):
                await call(calendar.changes_since, bad)

    @pytest_twisted.ensureDeferred
    async def test_changes_since_paging(self, calendar):
        names = [f"i{n}.ics" for n in range(7)]
        for n in names:
            await call(calendar.put, n, samples.event(n))
        token = (await call(calendar.info)).revision
        for n in names[:3]:
            await call(calendar.put, n, samples.event(n, summary="edited"))
        for n in names[3:5]:
            await call(calendar.delete, n)
        await call(calendar.put, "late.ics", samples.event("late"))
        expected_changed = set(names[:3]) | {"late.ics"}
        expected_deleted = set(names[3:5])

        for start, want_changed, want_deleted in ((token, expected_changed, expected_deleted),
                                                  (0, set(names[:3] + names[5:]) | {"late.ics"}, set())):
            changed, deleted, pages, cursor = [], [], 0, start
            while True:
                page = await call(calendar.changes_since, cursor, 2)
                pages += 1
                assert len(page.changed) + len(page.deleted) <= 2
                assert page.revision >= cursor
                changed += [i.name for i in page.changed]
                deleted += list(page.deleted)
                cursor = page.revision
                if not page.truncated:
                    break
                assert pages < 20, "paging does not converge"
            assert sorted(changed) == sorted(want_changed) and len(changed) == len(set(changed))
            if start:
                assert sorted(deleted) == sorted(want_deleted)
            else:
                # Pages after the first are ordinary tokens: they may report tombstones
                # newer than themselves, but only of names that are gone.
                assert set(deleted) <= expected_deleted
            assert pages >= 2
            assert cursor == (await call(calendar.info)).revision
        whole = await call(calendar.changes_since, token, 100)
        assert not whole.truncated
        assert {i.name for i in whole.changed} == expected_changed

    @pytest_twisted.ensureDeferred
    async def test_changes_since_limit_is_a_positive_count(self, calendar):
        # ``limit`` is a number of entries: a bool is not one, even though Python counts
        # True as 1, and neither is anything below 1.
        await call(calendar.put, "a.ics", samples.event("a"))
        await call(calendar.put, "b.ics", samples.event("b"))
        for bad in (True, False, 0, -1, 1.0, "1"):
            with pytest.raises(InvalidData):
                await call(calendar.changes_since, 0, bad)
        one = await call(calendar.changes_since, 0, 1)
        assert len(one.changed) == 1 and one.truncated

    @pytest_twisted.ensureDeferred
    async def test_count_follows_puts_and_deletes(self, calendar):
        start = (await call(calendar.info)).count
        await call(calendar.put, "a.ics", samples.event("a"))
        await call(calendar.put, "b.ics", samples.event("b"))
        await call(calendar.put, "a.ics", samples.event("a", summary="again"))
        assert (await call(calendar.info)).count == start + 2
        await call(calendar.delete, "a.ics")
        assert (await call(calendar.info)).count == start + 1
