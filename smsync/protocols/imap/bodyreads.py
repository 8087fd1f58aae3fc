"""Reading the message bytes a FETCH or SEARCH needs in few store round trips.

Commands collect the byte ranges their messages need (header blocks, small sections,
text parts) and read them with ``smsync.sync.reads.read_ranges``, a group of messages
at a time, so that a FETCH of 100 headers is one trip to storage rather than 100. ``plan_groups``
cuts the messages into groups whose reads stay under a byte budget, so a command never
holds much more than that in memory; sections too big for a group are streamed by the
FETCH code with ``read_body`` instead.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional, TypeVar


#: Bytes asked of the store in one ``read_ranges`` call (a group may exceed it only
#: when a single message's reads do).
READ_BATCH_BYTES = 1 << 20

T = TypeVar("T")


def plan_groups(items: Iterable[T], cost: Callable[[T], int], budget: Optional[int] = None) -> Iterator[list[T]]:
    """Cut ``items`` (kept in order) into consecutive groups whose summed ``cost`` stays
    within ``budget`` (default ``READ_BATCH_BYTES``); an item costing more than that
    forms a group of its own. Every item is in exactly one group; no group is empty."""
    if budget is None:
        budget = READ_BATCH_BYTES
    group: list[T] = []
    total = 0
    for item in items:
        c = cost(item)
        if group and total + c > budget:
            yield group
            group, total = [], 0
        group.append(item)
        total += c
    if group:
        yield group
