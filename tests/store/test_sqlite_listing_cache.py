"""The SQLite store's packed listing cache: what is packed comes back exactly, in both
orders, and the cache stays within its bound."""

from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.model import ItemInfo
from smsync.store.sqlite.collections import ListingCache, PackedListing

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
infos = st.lists(
    st.builds(ItemInfo, name=text, uid=text, etag=text, revision=st.integers(0, 2**62),
              size=st.integers(0, 2**40), component=st.sampled_from(["VEVENT", "VTODO", "VCARD", "VJOURNAL"])),
    min_size=1, max_size=60, unique_by=lambda i: i.name,
).map(lambda items: sorted(items, key=lambda i: i.name))


@settings(max_examples=200)
@given(infos)
def test_a_packed_listing_unpacks_to_what_was_packed(items):
    packed = PackedListing.pack(items)
    if any("\0" in f for i in items for f in (i.name, i.uid, i.etag)):
        assert packed is None  # such a listing is read from SQLite each time instead
        return
    by_name = packed.unpack()
    assert by_name == items
    assert packed.unpack_by_revision(by_name) == sorted(items, key=lambda i: (i.revision, i.name))


def _listing(n, prefix="i"):
    return [ItemInfo(f"{prefix}{k:05d}", f"u{k}", f'"{k}"', k, 10, "VEVENT") for k in range(n)]


def test_small_listings_are_not_kept_and_the_cache_is_bounded():
    cache = ListingCache()
    assert cache.put("small", 1, _listing(ListingCache.MIN_ITEMS - 1)) is None
    assert cache.get("small", 1) is None
    cache.MAX_ITEMS = 1000
    for key in range(5):
        assert cache.put(key, 7, _listing(400, str(key))) is not None
    kept = [key for key in range(5) if cache.get(key, 7) is not None]
    assert kept == [3, 4]  # the oldest went first
    assert cache.get(4, 8) is None  # another revision is another listing
    assert cache.get(4, 7).unpack() == _listing(400, "4")
