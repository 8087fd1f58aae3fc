"""Header fields written by ``smsync.formats.headers`` read back as written: parsed
by our own message parser (unfolded, encoded words decoded) and by Python's email
package, whatever the text -- non-ASCII, quotes, commas, ``=?``, long runs -- and
every line within the RFC 5322 limit."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.headers import address_field, decode_words, encode_words, unstructured_field
from smsync.formats.message import parse_message

text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=300)
tricky = st.text(st.sampled_from(list('ab ,;:"\\<>@()=?.é日\xa0')), max_size=120)
_atom = st.text("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=8)
address = st.builds(lambda lo, do: f"{lo}@{do}.example", _atom, st.text("abcdefghij", min_size=1, max_size=8))
display = (text | tricky).map(str.strip)


def _lines_fit(field: bytes) -> bool:
    return all(len(line) <= 998 for line in field.split(b"\r\n"))


@settings(max_examples=300, deadline=None)
@given(text | tricky)
def test_encoded_words_decode_to_the_text(value):
    words = encode_words(value)
    assert all(len(w) <= 75 for w in words)
    assert decode_words("\r\n ".join(words)) == value


@settings(max_examples=300, deadline=None)
@given(text | tricky)
def test_an_unstructured_field_reads_back(value):
    value = value.strip()
    field = unstructured_field("Subject", value)
    assert _lines_fit(field)
    assert parse_message(field + b"\r\n\r\n").subject == value
    parsed = BytesParser(policy=email.policy.default).parsebytes(field + b"\r\n\r\n")
    assert str(parsed["Subject"] or "") == value


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(display, address), min_size=1, max_size=8))
def test_an_address_field_reads_back(mailboxes):
    field = address_field("To", mailboxes)
    assert _lines_fit(field)
    envelope = parse_message(field + b"\r\n\r\n").envelope
    assert [(decode_words(a.name or ""), a.email) for a in envelope.to] == mailboxes
