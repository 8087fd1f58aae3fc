"""``ICollectionStore`` and ``ICollection`` of the memory store.

Handles, like the mail ones: they look their collection up by id on every call.
Content is validated and summarised with ``smsync.formats`` once, when stored; the
summary feeds the UID index and the time-range index, so reads never parse.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Optional

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import (
    AlreadyExists,
    InvalidData,
    NotFound,
    PreconditionFailed,
    UidConflict,
)
from smsync.interfaces import ICollection, ICollectionStore
from smsync.model import (
    ChangeEvent,
    ChangeKind,
    CollectionChanges,
    CollectionInfo,
    Item,
    ItemInfo,
)
from smsync.store.common import (
    check_properties,
    collection_components,
    collection_kind,
    etag_matches,
    make_etag,
    new_id,
    normalize_collection_name,
    normalize_item_name,
    summarize_item,
)
from smsync.store.memory.items import CollectionState, StoredItem

if TYPE_CHECKING:
    from smsync.store.memory.accounts import AccountData
    from smsync.store.memory.backend import MemoryStore

@implementer(ICollectionStore)
class MemoryCollectionStore:
    """One account's collections."""

    def __init__(self, store: "MemoryStore", account: str):
        self._store = store
        self.account = account

    def _data(self) -> "AccountData":
        return self._store._account_data(self.account)

    def _named(self, name: str) -> CollectionState:
        coll = self._data().collections.get(name)
        if coll is None:
            raise NotFound(f"no collection {name!r}")
        return coll

    def _hierarchy_changed(self) -> None:
        self._store.notifier.notify(ChangeEvent(account=self.account, kind=ChangeKind.HIERARCHY))

    @deferred
    async def list_collections(self, kind=None) -> list[CollectionInfo]:
        colls = self._data().collections
        if kind is not None:
            kind = collection_kind(kind)
        return [
            colls[n].info() for n in sorted(colls) if kind is None or colls[n].kind is kind
        ]

    @deferred
    async def collection(self, name: str) -> "MemoryCollection":
        return MemoryCollection(self._store, self.account, self._named(name).id)

    @deferred
    async def collection_by_id(self, collection_id: str) -> "MemoryCollection":
        if collection_id not in self._data().collections_by_id:
            raise NotFound(f"no collection with id {collection_id!r}")
        return MemoryCollection(self._store, self.account, collection_id)

    @deferred
    async def create_collection(
        self, name: str, kind, components=None, properties=None
    ) -> CollectionInfo:
        data = self._data()
        name = normalize_collection_name(name)
        kind = collection_kind(kind)
        chosen = collection_components(kind, components)
        props = {k: v for k, v in check_properties(properties or {}).items() if v is not None}
        if name in data.collections:
            raise AlreadyExists(f"collection {name!r} already exists")
        coll = CollectionState(new_id(), name, kind, chosen, props)
        data.add_collection(coll)
        self._hierarchy_changed()
        return coll.info()

    @deferred
    async def rename_collection(self, old: str, new: str) -> None:
        data = self._data()
        coll = self._named(old)
        new = normalize_collection_name(new)
        if new in data.collections:
            raise AlreadyExists(f"collection {new!r} already exists")
        data.drop_collection(coll)
        coll.name = new
        data.add_collection(coll)
        self._hierarchy_changed()

    @deferred
    async def delete_collection(self, name: str) -> None:
        data = self._data()
        data.drop_collection(self._named(name))
        self._hierarchy_changed()


@implementer(ICollection)
class MemoryCollection:
    """A handle on one collection, found by id on every call."""

    def __init__(self, store: "MemoryStore", account: str, collection_id: str):
        self._store = store
        self.account = account
        self.id = collection_id

    def __repr__(self) -> str:
        return f"<MemoryCollection {self.account} {self.id}>"

    def _coll(self) -> CollectionState:
        coll = self._store._account_data(self.account).collections_by_id.get(self.id)
        if coll is None:
            raise NotFound("the collection no longer exists")
        return coll

    def _changed(self, coll: CollectionState) -> None:
        self._store.notifier.notify(
            ChangeEvent(
                account=self.account,
                kind=ChangeKind.COLLECTION,
                name=coll.name,
                revision=coll.revision,
                folder_id=coll.id,
            )
        )

    @deferred
    async def info(self) -> CollectionInfo:
        return self._coll().info()

    @deferred
    async def set_properties(self, changes) -> CollectionInfo:
        coll = self._coll()
        before = dict(coll.properties)
        for name, value in check_properties(changes).items():
            if value is None:
                coll.properties.pop(name, None)
            else:
                coll.properties[name] = value
        if coll.properties != before:
            # A property change is a committed change too: clients polling the revision
            # (CTag, EAS folder sync) must see it.
            coll.next_revision()
            self._changed(coll)
        return coll.info()

    @deferred
    async def items(self) -> list[ItemInfo]:
        items = self._coll().items
        return [items[name].info for name in sorted(items)]

    @deferred
    async def get(self, names) -> list[Item]:
        items = self._coll().items
        out = []
        for name in names:
            stored = items.get(name)
            if stored is not None:
                out.append(stored.item())
        return out

    @deferred
    async def get_by_uid(self, uid: str) -> Item:
        coll = self._coll()
        name = coll.name_for_uid(uid)
        if name is None:
            raise NotFound(f"no item with UID {uid!r}")
        return coll.items[name].item()

    @deferred
    async def put(
        self, name: str, content, if_match: Optional[str] = None, if_none_match: bool = False
    ) -> ItemInfo:
        coll = self._coll()
        name = normalize_item_name(name)
        summary = summarize_item(content, coll.components)
        content = bytes(content)
        existing = coll.items.get(name)
        current_etag = existing.info.etag if existing is not None else None
        if if_none_match and existing is not None:
            raise PreconditionFailed(f"item {name!r} already exists", current_etag=current_etag)
        if if_match is not None and (
            existing is None or not etag_matches(current_etag, if_match)
        ):
            raise PreconditionFailed(f"item {name!r} has another etag", current_etag=current_etag)
        uid, component = summary.uid, summary.component
        spans, expanded_until = summary.spans, summary.expanded_until
        holder = coll.name_for_uid(uid)
        if holder is not None and holder != name:
            raise UidConflict(uid, holder)
        info = ItemInfo(
            name=name,
            uid=uid,
            etag=make_etag(content),
            revision=coll.next_revision(),
            size=len(content),
            component=component,
        )
        coll.store(StoredItem(info, content, expanded_until), spans)
        self._changed(coll)
        return info

    @deferred
    async def delete(self, name: str, if_match: Optional[str] = None) -> int:
        coll = self._coll()
        existing = coll.items.get(name)
        if existing is None:
            raise NotFound(f"no item {name!r}")
        if if_match is not None and not etag_matches(existing.info.etag, if_match):
            raise PreconditionFailed(
                f"item {name!r} has another etag", current_etag=existing.info.etag
            )
        revision = coll.next_revision()
        coll.delete(name, revision)
        self._changed(coll)
        return revision

    @deferred
    async def changes_since(self, revision: int, limit: Optional[int] = None) -> CollectionChanges:
        return self._coll().changes_since(revision, limit)

    @deferred
    async def time_range(
        self, start: Optional[datetime], end: Optional[datetime], components=None
    ) -> list[ItemInfo]:
        coll = self._coll()
        start, end = _aware(start), _aware(end)
        # Spans are whole seconds: widen a fractional range outwards, never inwards.
        s = None if start is None else math.floor(start.timestamp())
        e = None if end is None else math.ceil(end.timestamp())
        matched, unsure = coll.spans.query(s, e)
        for name in unsure:
            if _beyond_horizon(coll, name, start, end, s, e):
                matched.add(name)
        wanted = None if components is None else {str(c).upper() for c in components}
        infos = [coll.items[name].info for name in matched]
        return sorted(
            (i for i in infos if wanted is None or i.component in wanted), key=lambda i: i.name
        )


#: How far past a query's end an infinite recurrence is re-expanded when a query reaches
#: beyond its indexed spans, so that browsing on through later months stays indexed.
EXTEND_MARGIN = timedelta(days=366)


def _beyond_horizon(coll: CollectionState, name: str, start, end, s, e) -> bool:
    """Whether item ``name``, whose indexed spans stop before ``e``, overlaps the range.

    Rather than expand the item on every such query (``icalendar.overlaps``), its spans
    are re-computed once up to ``end + EXTEND_MARGIN`` and kept; only when that still
    cannot reach ``e`` (an open end, or the formats' instance cap) is ``overlaps`` asked.
    """
    from smsync.formats import icalendar

    content = coll.items[name].content
    if end is not None:
        summary = icalendar.summarize_calendar(content, horizon=end + EXTEND_MARGIN)
        until = summary.expanded_until
        current = coll.items[name].expanded_until
        if until is None or current is None or until > current:
            coll.extend_spans(name, summary.spans, until)
        if until is None or e <= until:
            return coll.spans.matches(name, s, e)
    return icalendar.overlaps(content, start, end)


def _aware(when: Optional[datetime]) -> Optional[datetime]:
    if when is None:
        return None
    if not isinstance(when, datetime):
        raise InvalidData("time-range bounds are datetimes")
    # Naive bounds are taken as UTC, as floating times are.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
