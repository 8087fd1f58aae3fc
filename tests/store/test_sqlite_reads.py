"""The read path of the ``sqlite:`` store (smsync/store/sqlite/reads.py): the structure
cache that FETCH and SEARCH lean on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.store.sqlite.reads import StructureCache

# Operations on a small key space so that hits, misses and evictions all happen.
_keys = st.integers(0, 12)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _keys, st.integers(1, 40)),
        st.tuples(st.just("get"), _keys),
        st.tuples(st.just("get_many"), st.lists(_keys, max_size=8)),
    ),
    max_size=60,
)


class _Model:
    """What the cache must behave like: an LRU of sizes within a budget."""

    def __init__(self, budget: int):
        self.budget = budget
        self.entries: dict = {}  # insertion order = recency order

    def get(self, key):
        if key not in self.entries:
            return None
        self.entries[key] = self.entries.pop(key)
        return self.entries[key][0]

    def put(self, key, value, size):
        if key in self.entries or size > self.budget:
            return
        self.entries[key] = (value, size)
        while sum(s for _, s in self.entries.values()) > self.budget:
            del self.entries[next(iter(self.entries))]


@settings(max_examples=300, deadline=None)
@given(budget=st.integers(1, 100), ops=_ops)
def test_structure_cache_is_an_lru_within_budget(budget, ops):
    cache, model = StructureCache(budget), _Model(budget)
    for op in ops:
        if op[0] == "put":
            _, key, size = op
            value = ("structure", key, size)
            cache.put(key, value, size)
            model.put(key, value, size)
        elif op[0] == "get":
            assert cache.get(op[1]) == model.get(op[1])
        else:
            # get_many is get of each key in turn (recency included), under one lock.
            assert cache.get_many(op[1]) == [model.get(k) for k in op[1]]
        assert len(cache) == len(model.entries)
        assert sum(s for _, s in model.entries.values()) <= budget
