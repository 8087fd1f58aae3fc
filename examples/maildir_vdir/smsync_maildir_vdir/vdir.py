"""``ICollectionStore`` and ``ICollection`` over a vdir.

Layout of one account's collections (``ACCOUNT/vdir``)::

    vdir/calendar/                       one directory per collection
    vdir/calendar/team-meeting.ics       one file per item, content exactly as PUT
    vdir/calendar/.smsync-state.json     the CollectionState
    vdir/contacts/4f1c....vcf

This is the layout vdirsyncer, khal and todoman read. The state file adds what a vdir
cannot hold: the collection's id, kind and properties, the revision counter, each item's
name, revision and time-range index, and the tombstones of deleted items.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Iterator, Optional

import attrs
from zope.interface import implementer

from smsync.errors import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    SyncTokenInvalid,
    UidConflict,
)
from smsync.formats import icalendar
from smsync.interfaces import ICollection, ICollectionStore
from smsync.model import (
    ChangeEvent,
    ChangeKind,
    CollectionChanges,
    CollectionInfo,
    CollectionKind,
    Item,
    ItemInfo,
)
from smsync.store.base import CollectionBase, CollectionStoreBase
from smsync.store.common import (
    check_change_limit,
    check_properties,
    collection_components,
    collection_kind,
    epoch_bounds,
    etag_matches,
    make_etag,
    new_id,
    normalize_collection_name,
    normalize_item_name,
    summarize_item,
)

from .files import item_file_name, path_segment, read_json, write_atomic, write_json
from .worker import on_disk

STATE_FILE = ".smsync-state.json"


@attrs.define
class ItemRecord:
    file: str
    uid: str
    etag: str
    revision: int
    size: int
    component: str
    #: [start, end) of every instance as UTC epoch seconds, from summarize_calendar.
    spans: list = attrs.field(factory=list)
    #: None when ``spans`` is complete; else the epoch second it was expanded up to.
    expanded_until: Optional[int] = None

    def info(self, name: str) -> ItemInfo:
        return ItemInfo(name, self.uid, self.etag, self.revision, self.size, self.component)


@attrs.define
class CollectionState:
    id: str
    name: str
    kind: str
    components: list
    properties: dict = attrs.field(factory=dict)
    revision: int = 0
    items: dict = attrs.field(factory=dict)  # name -> ItemRecord
    tombstones: dict = attrs.field(factory=dict)  # name -> revision of its deletion

    @classmethod
    def load(cls, path: str) -> Optional["CollectionState"]:
        doc = read_json(os.path.join(path, STATE_FILE))
        if doc is None:
            return None
        doc["items"] = {name: ItemRecord(**rec) for name, rec in doc["items"].items()}
        return cls(**doc)

    def save(self, path: str) -> None:
        write_json(os.path.join(path, STATE_FILE), attrs.asdict(self))

    def info(self) -> CollectionInfo:
        return CollectionInfo(
            id=self.id,
            name=self.name,
            kind=CollectionKind(self.kind),
            components=frozenset(self.components),
            properties=dict(self.properties),
            revision=self.revision,
            count=len(self.items),
        )


class _Vdir:
    """The collection directories of one account. Blocking; worker threads only."""

    def __init__(self, root: str):
        self.root = root

    def path(self, name: str) -> str:
        return os.path.join(self.root, path_segment(name, keep_dots=True))

    def all(self) -> Iterator[tuple[str, CollectionState]]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        for entry in names:
            path = os.path.join(self.root, entry)
            state = None if entry.startswith(".") else CollectionState.load(path)
            if state is not None:
                yield path, state

    def find(self, name: str) -> Optional[tuple[str, CollectionState]]:
        path = self.path(name)
        state = CollectionState.load(path)
        return (path, state) if state is not None and state.name == name else None

    def get(self, name: str) -> tuple[str, CollectionState]:
        found = self.find(normalize_collection_name(name))
        if found is None:
            raise NotFound(f"no collection {name!r}")
        return found

    def get_by_id(self, collection_id: str, hint: Optional[str] = None):
        if hint is not None:
            state = CollectionState.load(hint)
            if state is not None and state.id == collection_id:
                return hint, state
        for path, state in self.all():
            if state.id == collection_id:
                return path, state
        raise NotFound(f"no collection with id {collection_id!r}")


@implementer(ICollectionStore)
class CollectionStore(CollectionStoreBase):
    """One account's collections, one directory each."""

    def __init__(self, disk, account: str, root: str):
        self._disk = disk
        self.account = account
        self._vdir = _Vdir(root)

    def _handle(self, path, state) -> "Collection":
        return Collection(self._disk, self.account, self._vdir, state.id, path)

    def _hierarchy_changed(self) -> None:
        self._disk.changed(ChangeEvent(self.account, ChangeKind.HIERARCHY))

    @on_disk
    def list_collections(self, kind=None):
        kind = None if kind is None else CollectionKind(kind).value
        infos = [s.info() for _, s in self._vdir.all() if kind is None or s.kind == kind]
        return sorted(infos, key=lambda info: info.name)

    @on_disk
    def collection(self, name):
        return self._handle(*self._vdir.get(name))

    @on_disk
    def create_collection(self, name, kind, components=None, properties=None):
        return self.make(name, kind, components, properties).info()

    def make(self, name, kind, components=None, properties=None) -> CollectionState:
        """``create_collection`` without the thread hop, for ``accounts.add``."""
        name = normalize_collection_name(name)
        kind = collection_kind(kind)
        components = collection_components(kind, components)
        properties = check_properties(properties)
        properties = {name: value for name, value in properties.items() if value is not None}
        path = self._vdir.path(name)
        if os.path.exists(path):
            raise AlreadyExists(f"collection {name!r} exists")
        os.makedirs(path)
        state = CollectionState(new_id(), name, kind.value, sorted(components), properties)
        state.save(path)
        self._hierarchy_changed()
        return state

    @on_disk
    def rename_collection(self, old, new):
        path, state = self._vdir.get(old)
        new = normalize_collection_name(new)
        new_path = self._vdir.path(new)
        if os.path.exists(new_path):
            raise AlreadyExists(f"collection {new!r} exists")
        os.rename(path, new_path)
        state.name = new
        state.save(new_path)
        self._hierarchy_changed()

    @on_disk
    def delete_collection(self, name):
        path, _ = self._vdir.get(name)
        doomed = os.path.join(self._vdir.root, f".deleted-{uuid.uuid4().hex}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)
        self._hierarchy_changed()



@implementer(ICollection)
class Collection(CollectionBase):
    """A handle on one collection, found by id on every call so it survives renames.
    Every change bumps the collection's revision once and is announced as
    ``ChangeKind.COLLECTION``."""

    def __init__(self, disk, account: str, vdir: _Vdir, collection_id: str, path: str):
        self._disk = disk
        self.account = account
        self._vdir = vdir
        self.id = collection_id
        self._path = path

    def _open(self) -> tuple[str, CollectionState]:
        self._path, state = self._vdir.get_by_id(self.id, hint=self._path)
        return self._path, state

    def _commit(self, path: str, state: CollectionState) -> None:
        state.save(path)
        self._disk.changed(
            ChangeEvent(self.account, ChangeKind.COLLECTION, state.name, state.revision, state.id)
        )

    @staticmethod
    def _read(path: str, record: ItemRecord) -> bytes:
        with open(os.path.join(path, record.file), "rb") as f:
            return f.read()

    @on_disk
    def info(self):
        return self._open()[1].info()

    @on_disk
    def set_properties(self, changes):
        changes = check_properties(changes)
        path, state = self._open()
        for name, value in changes.items():
            if value is None:
                state.properties.pop(name, None)
            else:
                state.properties[name] = value
        # Every committed change raises the revision, so clients polling the
        # collection's ctag notice a new display name or colour too.
        state.revision += 1
        self._commit(path, state)
        return state.info()

    @on_disk
    def items(self):
        _, state = self._open()
        return [rec.info(name) for name, rec in sorted(state.items.items())]

    @on_disk
    def get(self, names):
        path, state = self._open()
        return [
            Item(state.items[name].info(name), self._read(path, state.items[name]))
            for name in names
            if name in state.items
        ]

    @on_disk
    def put(self, name, content, if_match=None, if_none_match=False):
        name = normalize_item_name(name)
        path, state = self._open()
        existing = state.items.get(name)
        current = existing.etag if existing else None
        if if_none_match and existing is not None:
            raise PreconditionFailed("item exists", current_etag=current)
        if if_match is not None and not etag_matches(current, if_match):
            raise PreconditionFailed("etag does not match", current_etag=current)
        summary = summarize_item(content, frozenset(state.components))
        uid, component = summary.uid, summary.component
        spans = [list(span) for span in summary.spans]
        expanded_until = summary.expanded_until
        for other, rec in state.items.items():
            if rec.uid == uid and other != name:
                raise UidConflict(uid, other)
        if existing is not None:
            file = existing.file
        else:
            extension = ".vcf" if component == "VCARD" else ".ics"
            file = item_file_name(name, extension)
            if file in {rec.file for rec in state.items.values()}:
                file = new_id() + extension
        write_atomic(os.path.join(path, file), content)
        state.revision += 1
        state.items[name] = ItemRecord(
            file, uid, make_etag(content), state.revision, len(content), component, spans,
            expanded_until,
        )
        state.tombstones.pop(name, None)
        self._commit(path, state)
        return state.items[name].info(name)

    @on_disk
    def delete(self, name, if_match=None):
        path, state = self._open()
        record = state.items.get(name)
        if record is None:
            raise NotFound(f"no item {name!r}")
        if if_match is not None and not etag_matches(record.etag, if_match):
            raise PreconditionFailed("etag does not match", current_etag=record.etag)
        state.revision += 1
        del state.items[name]
        state.tombstones[name] = state.revision
        self._commit(path, state)
        os.unlink(os.path.join(path, record.file))
        return state.revision

    @on_disk
    def changes_since(self, revision, limit=None):
        _, state = self._open()
        if not isinstance(revision, int) or revision < 0 or revision > state.revision:
            raise SyncTokenInvalid(f"revision {revision!r} is not one this collection issued")
        check_change_limit(limit)
        # One list of (revision, name, ItemInfo or None for a deletion) in change order,
        # so a limit cuts at one place. Revision 0 asks for every item and no deletions.
        entries = [
            (rec.revision, name, rec.info(name))
            for name, rec in state.items.items()
            if rec.revision > revision
        ]
        if revision > 0:
            gone = state.tombstones.items()
            entries += [(rev, name, None) for name, rev in gone if rev > revision]
        entries.sort(key=lambda entry: entry[:2])
        complete_to, truncated = state.revision, False
        if limit is not None and len(entries) > limit:
            # Never split one revision's entries: the token we hand out must mean
            # "everything up to here".
            cut = entries[limit][0]
            kept = [e for e in entries if e[0] < cut]
            if not kept:  # one revision larger than the limit: send it whole
                kept = [e for e in entries if e[0] <= cut]
            truncated = len(kept) < len(entries)
            complete_to = kept[-1][0] if truncated else state.revision
            entries = kept
        return CollectionChanges(
            revision=complete_to,
            changed=tuple(info for _, _, info in entries if info is not None),
            deleted=tuple(name for _, name, info in entries if info is None),
            truncated=truncated,
        )

    @on_disk
    def time_range(self, start, end, components=None):
        path, state = self._open()
        wanted = None if components is None else {c.upper() for c in components}
        lo, hi = epoch_bounds(start, end)
        found = []
        for name, rec in sorted(state.items.items()):
            if rec.component == "VCARD" or (wanted is not None and rec.component not in wanted):
                continue
            if any(icalendar.span_matches(span, lo, hi) for span in rec.spans):
                found.append(rec.info(name))
            elif rec.expanded_until is not None and hi > rec.expanded_until:
                # Past the indexed horizon of an endless recurrence: ask the parser.
                if icalendar.overlaps(self._read(path, rec), start, end):
                    found.append(rec.info(name))
        return found
