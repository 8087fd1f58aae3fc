"""The Email converter: message text decoded whatever its transfer encoding and charset,
truncation, and the device's Read/Flag changes as flag deltas that reproduce the
server's flags (the round trip an EAS edit makes)."""

from __future__ import annotations

import base64
import quopri

import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.structure import BodyPart
from smsync.model import UIDSet
from smsync.protocols.eas.convert import BodyOptions
from smsync.protocols.eas.email import EMAIL, application_data, decode_body, flag_changes
from smsync.store.registry import open_store
from tests.sync.helpers import now

texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200)


@given(texts, st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]), st.sampled_from(["base64", "quoted-printable", "8bit"]))
def test_decode_body_undoes_any_encoding(text, charset, encoding):
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError:
        return
    if encoding == "base64":
        raw = base64.encodebytes(raw)
    elif encoding == "quoted-printable":
        raw = quopri.encodestring(raw)
    part = BodyPart(encoding=encoding, params=(("charset", charset),))
    assert decode_body(raw, part) == text


FLAG_SETS = st.sets(st.sampled_from(["\\Seen", "\\Flagged", "\\Answered", "$Work"]))


@settings(max_examples=30, deadline=None)
@given(FLAG_SETS)
def test_read_and_flag_survive_a_round_trip(flags):
    """The device is shown Read/Flag/Categories from the server's flags; sending those
    values back as a Change asks for exactly the server's flags again: \\Seen,
    \\Flagged and the keywords, nothing else.
    (The memory store answers at once, so ``now`` runs each coroutine to its end.)"""
    store = now(open_store("memory:"))
    try:
        now(store.accounts.add("a@example.org", "!"))
        box = now(now(store.mail("a@example.org")).mailbox("INBOX"))
        uid = now(box.append(b"Subject: x\r\n\r\nbody\r\n", flags=flags)).uid
        (info,) = now(box.messages(UIDSet.of([uid])))
        structure = now(box.structures([uid]))[uid]
        data = now(application_data(box, info, structure))
        add, remove = flag_changes(data, current=info.flags)
        shown = set(flags) & {"\\Seen", "\\Flagged"}
        assert add - shown == set(flags) - shown - {"\\Answered"}  # keywords, as Categories
        assert remove == {"\\Seen", "\\Flagged"} - shown
        assert (set(flags) | add) - remove == set(flags)
    finally:
        now(store.close())


@pytest_twisted.ensureDeferred
async def test_truncation_and_size():
    store = await open_store("memory:")
    try:
        await store.accounts.add("a@example.org", "!")
        box = await (await store.mail("a@example.org")).mailbox("INBOX")
        uid = (await box.append(b"Subject: long\r\n\r\n" + b"x" * 5000 + b"\r\n")).uid
        (info,) = await box.messages(UIDSet.of([uid]))
        structure = (await box.structures([uid]))[uid]
        data = await application_data(box, info, structure, BodyOptions(truncation=100))
        body = data.find("AirSyncBase:", "Body")
        assert len(body.find("AirSyncBase:", "Data").text) == 100
        assert body.find("AirSyncBase:", "Truncated").text == "1"
        assert int(body.find("AirSyncBase:", "EstimatedDataSize").text) >= 5000
        assert data.find(EMAIL, "Subject").text == "long"
    finally:
        await store.close()
