"""Item and folder ids: read back as made, and anything else is ``MalformedId``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.protocols.ews import ids

accounts = st.builds(lambda a: f"{a}@example.org", st.text("abcdefghij.-_", min_size=1, max_size=20))
sources = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(accounts, sources, st.integers(1, 2 ** 32 - 1))
def test_message_ids_read_back(account, source, uid):
    ref = ids.ItemRef(account, ids.MESSAGE, source, str(uid))
    assert ids.parse_item_id(ids.item_id(ref)) == ref


@given(accounts, sources, sources)
def test_collection_item_ids_read_back(account, source, name):
    ref = ids.ItemRef(account, ids.ITEM, source, name)
    assert ids.parse_item_id(ids.item_id(ref)) == ref


@given(accounts, sources, st.sampled_from([ids.MAIL_FOLDER, ids.COLLECTION]))
def test_folder_ids_read_back(account, source, kind):
    ref = ids.FolderRef(account, kind, source)
    assert ids.parse_folder_id(ids.folder_id(ref)) == ref


@given(st.integers(0, 10 ** 12))
def test_change_keys_read_back(revision):
    assert ids.parse_change_key(ids.change_key(revision)) == revision


def test_an_item_id_is_not_a_folder_id_nor_the_reverse():
    item = ids.item_id(ids.ItemRef("a@example.org", ids.MESSAGE, "f1", "3"))
    folder = ids.folder_id(ids.FolderRef("a@example.org", ids.MAIL_FOLDER, "f1"))
    with pytest.raises(ids.MalformedId):
        ids.parse_folder_id(item)
    with pytest.raises(ids.MalformedId):
        ids.parse_item_id(folder)


@given(st.binary(max_size=60))
def test_made_up_ids_are_malformed(raw):
    import base64

    for text in (raw.decode("latin-1"), base64.b64encode(raw).decode()):
        for parse in (ids.parse_item_id, ids.parse_folder_id):
            try:
                parse(text)
            except ids.MalformedId:
                continue
            raise AssertionError(f"{text!r} was taken as an id")


def test_a_changed_character_is_caught():
    text = ids.item_id(ids.ItemRef("a@example.org", ids.MESSAGE, "f1", "3"))
    for i in range(len(text) - 2):
        flipped = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
        with pytest.raises(ids.MalformedId):
            ids.parse_item_id(flipped)
