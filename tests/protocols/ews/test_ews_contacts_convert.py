"""The contact converter: EWS fields written into a vCard read back as written, and an
edit keeps every line of the card it has no field for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsync.formats.contentlines import serialize
from smsync.protocols.ews import contacts

words = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,;\\-'."),
                min_size=1, max_size=20).map(str.strip).filter(bool)
emails = st.builds(lambda a, b: f"{a}@{b}.example", st.text("abcxyz019", min_size=1, max_size=8),
                   st.text("abcxyz", min_size=1, max_size=8))
phones = st.text("0123456789 +-", min_size=3, max_size=15).map(str.strip).filter(bool)

fields = st.fixed_dictionaries({
    "DisplayName": words,
    "GivenName": words,
    "Surname": words,
}, optional={
    "CompanyName": words, "Department": words, "JobTitle": words, "Nickname": words,
    "Body": words,
    "EmailAddresses": st.lists(emails, min_size=1, max_size=3).map(
        lambda e: dict(zip(contacts.EMAIL_KEYS, e))),
    "PhoneNumbers": st.dictionaries(st.sampled_from(["MobilePhone", "BusinessPhone", "HomePhone"]),
                                    phones, min_size=1),
})


@given(fields)
def test_fields_read_back(values):
    _uid, card = contacts.new_card(dict(values))
    got = contacts.fields_of(contacts.load(card))
    for key, value in values.items():
        assert got[key] == value, key
    assert got["FileAs"] == values["DisplayName"]


@given(fields, fields)
def test_an_edit_keeps_what_it_does_not_name(first, second):
    _uid, card = contacts.new_card(dict(first))
    extra = b"X-ABLABEL:keep\r\nGEO:1.5;2.5\r\nEMAIL;TYPE=INTERNET:fourth@x.example\r\nEND:VCARD\r\n"
    content = card.replace(b"END:VCARD\r\n", b"") + extra
    parsed = contacts.load(content)
    contacts.apply(parsed, {"JobTitle": second["Surname"], "GivenName": second["GivenName"]})
    written = serialize(parsed)
    got = contacts.fields_of(contacts.load(written))
    assert got["JobTitle"] == second["Surname"] and got["GivenName"] == second["GivenName"]
    assert got["Surname"] == first["Surname"] and got["DisplayName"] == first["DisplayName"]
    assert b"X-ABLABEL:keep" in written and b"GEO:1.5;2.5" in written
    assert b"fourth@x.example" in written
