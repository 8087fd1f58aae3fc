"""One collection's items, change log and indexes, held in dicts.

``CollectionState`` is synchronous; ``smsync.store.memory.collections`` wraps it into
the ``ICollection`` contract. Indexes:

* ``_log_revs``/``_log``: every change (store or delete) in revision order, so
  ``changes_since`` bisects to its token and walks forward over what changed after it
  only -- and stops after ``limit`` entries, so paging through 100,000 items is linear.
  An entry is stale once its item changed again (checked against the item's current
  revision and skipped); stale entries are compacted away when they pile up.
* ``_tombstones``: deleted names -> revision; a name stored again loses its tombstone
  (it is then reported as changed, not deleted).
* ``_by_uid``: iCalendar/vCard UID -> name, for ``get_by_uid`` and ``UidConflict``.
* ``spans``: a ``SpanIndex`` of calendar instances, for ``time_range``.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Optional

from smsync.errors import SyncTokenInvalid
from smsync.model import CollectionChanges, CollectionInfo, CollectionKind, Item, ItemInfo
from smsync.store.common import check_change_limit
from smsync.store.memory.timeindex import SpanIndex


class StoredItem:
    """An item as kept: its ``ItemInfo``, content, and where its spans stop being complete
    (``expanded_until``; None when complete or not a calendar item)."""

    __slots__ = ("info", "content", "expanded_until")

    def __init__(self, info: ItemInfo, content: bytes, expanded_until: Optional[int] = None):
        self.info = info
        self.content = content
        self.expanded_until = expanded_until

    def item(self) -> Item:
        return Item(info=self.info, content=self.content)


class CollectionState:
    """The state of one collection. ``name`` is changed by the owning account on rename."""

    def __init__(
        self,
        collection_id: str,
        name: str,
        kind: CollectionKind,
        components: frozenset[str],
        properties: Optional[dict] = None,
    ):
        self.id = collection_id
        self.name = name
        self.kind = kind
        self.components = frozenset(components)
        self.properties: dict[str, str] = dict(properties or {})
        # A new collection is at revision 0: changes_since(0) is "everything".
        self.revision = 0
        self.items: dict[str, StoredItem] = {}
        self._log_revs: list[int] = []
        self._log: list[tuple[str, bool]] = []  # (name, is_deletion), parallel to _log_revs
        self._stale = 0
        self._tombstones: dict[str, int] = {}
        self._by_uid: dict[str, str] = {}
        self.spans = SpanIndex()

    def info(self) -> CollectionInfo:
        return CollectionInfo(
            id=self.id,
            name=self.name,
            kind=self.kind,
            components=self.components,
            properties=dict(self.properties),
            revision=self.revision,
            count=len(self.items),
        )

    def next_revision(self) -> int:
        """Allocate the revision of the operation about to change this collection."""
        self.revision += 1
        return self.revision

    def name_for_uid(self, uid: str) -> Optional[str]:
        return self._by_uid.get(uid)

    # -- changing -----------------------------------------------------------------------

    def store(self, stored: StoredItem, spans=None) -> None:
        """Put ``stored`` under its name (its info carries the new revision), replacing
        any previous item of that name and clearing a tombstone of the name."""
        name = stored.info.name
        old = self.items.get(name)
        if old is not None and self._by_uid.get(old.info.uid) == name:
            del self._by_uid[old.info.uid]
        if old is not None or self._tombstones.pop(name, None) is not None:
            self._stale += 1
        self.items[name] = stored
        self._by_uid[stored.info.uid] = name
        self._logged(stored.info.revision, name, False)
        if spans is not None:
            self.spans.add(name, spans, stored.expanded_until)
        else:
            self.spans.remove(name)

    def extend_spans(self, name: str, spans, expanded_until: Optional[int]) -> None:
        """Re-index item ``name`` with spans expanded further (same content, so no new
        revision: this only caches what ``icalendar.overlaps`` would compute)."""
        stored = self.items[name]
        stored.expanded_until = expanded_until
        self.spans.add(name, spans, expanded_until)

    def delete(self, name: str, revision: int) -> None:
        """Remove item ``name`` (which exists), leaving a tombstone at ``revision``."""
        stored = self.items.pop(name)
        if self._by_uid.get(stored.info.uid) == name:
            del self._by_uid[stored.info.uid]
        self._tombstones[name] = revision
        self._stale += 1
        self._logged(revision, name, True)
        self.spans.remove(name)

    def _logged(self, revision: int, name: str, deleted: bool) -> None:
        self._log_revs.append(revision)
        self._log.append((name, deleted))
        if self._stale > max(1024, len(self.items) + len(self._tombstones)):
            self._compact()

    def _compact(self) -> None:
        """Rebuild the log from the live items and tombstones, dropping stale entries."""
        entries = sorted(
            [(stored.info.revision, name, False) for name, stored in self.items.items()]
            + [(rev, name, True) for name, rev in self._tombstones.items()]
        )
        self._log_revs = [e[0] for e in entries]
        self._log = [(e[1], e[2]) for e in entries]
        self._stale = 0

    def _current(self, index: int) -> bool:
        """Whether log entry ``index`` still describes its item (not superseded)."""
        name, deleted = self._log[index]
        revision = self._log_revs[index]
        if deleted:
            return self._tombstones.get(name) == revision
        stored = self.items.get(name)
        return stored is not None and stored.info.revision == revision

    # -- change log ---------------------------------------------------------------------

    def changes_since(self, revision: int, limit: Optional[int] = None) -> CollectionChanges:
        """See ``ICollection.changes_since``."""
        check_change_limit(limit)
        if not isinstance(revision, int) or revision < 0 or revision > self.revision:
            raise SyncTokenInvalid(
                f"revision {revision!r} is not one of this collection (now {self.revision})"
            )
        changed: list[ItemInfo] = []
        deleted: list[str] = []
        taken = 0
        last = revision
        for index in range(bisect_right(self._log_revs, revision), len(self._log_revs)):
            if not self._current(index):
                continue
            name, is_deletion = self._log[index]
            if is_deletion and revision == 0:
                continue  # from 0 the answer is the current items, nothing deleted
            entry_revision = self._log_revs[index]
            if limit is not None and taken >= limit and entry_revision != last:
                # More remains: the answer is complete up to the last revision taken.
                # (Each operation here touches one item, so one revision is one entry
                # and cutting between revisions keeps within the limit.)
                return CollectionChanges(
                    revision=last, changed=tuple(changed), deleted=tuple(deleted), truncated=True
                )
            if is_deletion:
                deleted.append(name)
            else:
                changed.append(self.items[name].info)
            taken += 1
            last = entry_revision
        return CollectionChanges(revision=self.revision, changed=tuple(changed), deleted=tuple(deleted))
