"""An in-memory interval index over calendar instance spans, for ``time_range``.

Each item contributes the ``(start, end)`` spans (UTC epoch seconds) that
``smsync.formats.icalendar.summarize_calendar`` computed once when it was stored. The
index answers "which items have an instance overlapping ``[s, e)``" without parsing any
item, by bucketing spans into fixed weeks and testing each candidate with a bisection.
It applies the span rule every store shares (``icalendar.span_matches``): ``(a, b)``
matches when ``a < e and b > s``; the formats module encodes RFC 4791's inclusive edges
into the spans themselves.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterable, Optional

#: Width of one bucket, in seconds. A week keeps a month's query to ~5 buckets while a
#: daily event over three years still costs only ~160 bucket entries.
BUCKET = 7 * 86400

#: Spans covering more buckets than this (open-ended to-dos, multi-year events) are kept
#: on a "wide" list that every query checks, rather than filling thousands of buckets.
WIDE_BUCKETS = 64

#: Queries spanning more buckets than this scan every item instead of walking buckets.
SCAN_BUCKETS = 512


class _Spans:
    """One item's spans as parallel sorted arrays, with a running maximum of the ends so
    an overlap test is one bisection, and the buckets the item was filed under."""

    __slots__ = ("starts", "max_ends", "buckets")

    def __init__(self, ordered: list[tuple[int, int]]):
        self.starts = [a for a, _ in ordered]
        self.max_ends = []
        highest = None
        for _, b in ordered:
            highest = b if highest is None or b > highest else highest
            self.max_ends.append(highest)
        self.buckets: tuple[int, ...] = ()

    def overlaps(self, s: Optional[int], e: Optional[int]) -> bool:
        """True if some span ``(a, b)`` matches ``[s, e)`` (None: unbounded) by the rule
        every store shares (``smsync.formats.icalendar.span_matches``): ``a < e and b > s``.
        """
        idx = len(self.starts) if e is None else bisect_left(self.starts, e)
        if idx == 0:
            return False
        # Spans before idx all start before e; one of them matches iff the furthest
        # reaching end among them passes s.
        return s is None or self.max_ends[idx - 1] > s


class SpanIndex:
    """Maps item names to their spans and finds the items overlapping a range."""

    def __init__(self):
        self._items: dict[str, _Spans] = {}
        self._buckets: dict[int, set[str]] = {}
        self._wide: set[str] = set()
        # name -> epoch second up to which the item's spans are complete (infinite RRULE).
        self._partial: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, name: str, spans, expanded_until: Optional[int] = None) -> None:
        """Index ``name`` with ``spans`` (pairs of epoch seconds), replacing whatever it
        had. ``expanded_until``: where the spans stop being complete, None if they are."""
        self.remove(name)
        ordered = sorted((int(a), int(b)) for a, b in spans)
        entry = _Spans(ordered)
        self._items[name] = entry
        if expanded_until is not None:
            self._partial[name] = int(expanded_until)
        keys: set[int] = set()
        for a, b in ordered:
            first, last = _bucket(a), _bucket(max(a, b - 1))
            if last - first > WIDE_BUCKETS:
                self._wide.add(name)
            else:
                keys.update(range(first, last + 1))
        for k in keys:
            self._buckets.setdefault(k, set()).add(name)
        entry.buckets = tuple(keys)

    def remove(self, name: str) -> None:
        """Forget ``name``; nothing happens if it is not indexed."""
        entry = self._items.pop(name, None)
        if entry is None:
            return
        self._partial.pop(name, None)
        self._wide.discard(name)
        for k in entry.buckets:
            names = self._buckets[k]
            names.discard(name)
            if not names:
                del self._buckets[k]

    def matches(self, name: str, s: Optional[int], e: Optional[int]) -> bool:
        """Whether indexed item ``name`` has a span matching ``[s, e)``."""
        entry = self._items.get(name)
        return entry is not None and entry.overlaps(s, e)

    def query(self, s: Optional[int], e: Optional[int]) -> tuple[set[str], set[str]]:
        """Items overlapping ``[s, e)`` by their spans, and items to test exactly.

        Returns:
            ``(matched, unsure)``: ``matched`` overlap by their indexed spans;
            ``unsure`` did not, but their spans stop (``expanded_until``) before ``e``,
            so only a full expansion of their content can say.
        """
        if s is not None and e is not None and e <= s:
            return set(), set()
        if s is None or e is None or _bucket(e - 1) - _bucket(s) > SCAN_BUCKETS:
            candidates: Iterable[str] = self._items.keys()
        else:
            found: set[str] = set(self._wide)
            for k in range(_bucket(s), _bucket(e - 1) + 1):
                names = self._buckets.get(k)
                if names:
                    found |= names
            candidates = found
        matched = {name for name in candidates if self._items[name].overlaps(s, e)}
        unsure = {
            name
            for name, until in self._partial.items()
            if name not in matched and (e is None or e > until)
        }
        return matched, unsure


def _bucket(t: int) -> int:
    return t // BUCKET
