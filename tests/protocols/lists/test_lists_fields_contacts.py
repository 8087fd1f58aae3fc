"""Contacts list rows <-> stored vCard (smsync.protocols.lists.fields_contacts)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, parse_components
from smsync.formats.vcard import summarize_vcard
from smsync.protocols.lists import fields_contacts as contacts

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_word = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x2FF)
                | st.sampled_from(list("äöüßé-.'&,;:\\")), min_size=1, max_size=10)
_text = st.lists(_word, min_size=1, max_size=3).map(" ".join)
_opt = st.one_of(st.just(""), _text)
_note = st.one_of(st.just(""), st.lists(_text, min_size=1, max_size=3).map("\n".join))
_phone = st.one_of(st.just(""), st.from_regex(r"\+?[0-9]{2,4} [0-9]{3,8}", fullmatch=True))
_email = st.one_of(st.just(""), st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}@[a-z]{2,8}\.(de|com)", fullmatch=True))
_url = st.one_of(st.just(""), st.from_regex(r"https?://[a-z]{2,8}\.(de|com)/[a-z]{0,5}", fullmatch=True))


@st.composite
def rows(draw):
    row = {
        "Title": draw(_text), "FirstName": draw(_opt), "FullName": draw(_text),
        "Email": draw(_email), "Company": draw(_opt), "JobTitle": draw(_opt),
        "WorkPhone": draw(_phone), "HomePhone": draw(_phone), "CellPhone": draw(_phone),
        "WorkFax": draw(_phone), "WorkAddress": draw(_note), "WorkCity": draw(_opt),
        "WorkState": draw(_opt), "WorkZip": draw(_opt), "WorkCountry": draw(_opt),
        "Comments": draw(_note),
    }
    url = draw(_url)
    row["WebPage"] = f"{url}, {url}" if url else ""
    return row


@given(rows())
@SETTINGS
def test_row_item_row(row):
    stored = contacts.from_row(row, None)
    summarize_vcard(stored)
    assert contacts.to_row(stored) == row


STORED = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nN:Müller;Anna;Maria;Dr.;PhD\r\n"
    "FN:Dr. Anna Müller\r\nORG:Acme\\, Inc.;Research\r\nTITLE:Chemist\r\n"
    "EMAIL;TYPE=INTERNET,HOME:anna@home.example\r\nEMAIL;TYPE=INTERNET,WORK,PREF:anna@acme.example\r\n"
    "TEL;TYPE=WORK,VOICE:+49 30 1234\r\nTEL;TYPE=HOME,VOICE:+49 30 5678\r\nTEL;TYPE=CELL:+49 170 1\r\n"
    "TEL;TYPE=WORK,FAX:+49 30 1299\r\nTEL;TYPE=PAGER:999\r\n"
    "ADR;TYPE=HOME:;;Home St 1;Berlin;;10115;Germany\r\n"
    "ADR;TYPE=WORK:;Building 5;Lab Rd 2;Potsdam;BB;14467;Germany\r\n"
    "URL:https://acme.example/anna\r\nNOTE:Met at the fair\\nSecond line\r\n"
    "BDAY:1980-04-01\r\nCATEGORIES:Work,Science\r\nX-SKYPE:anna.m\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ==\r\nEND:VCARD\r\n").encode()


def _card(data: bytes):
    return parse_components(data)[0]


def test_stored_as_row():
    assert contacts.to_row(STORED) == {
        "Title": "Müller", "FirstName": "Anna", "FullName": "Dr. Anna Müller",
        "Email": "anna@acme.example", "Company": "Acme, Inc.", "JobTitle": "Chemist",
        "WorkPhone": "+49 30 1234", "HomePhone": "+49 30 5678", "CellPhone": "+49 170 1",
        "WorkFax": "+49 30 1299", "WorkAddress": "Lab Rd 2", "WorkCity": "Potsdam",
        "WorkState": "BB", "WorkZip": "14467", "WorkCountry": "Germany",
        "WebPage": "https://acme.example/anna, https://acme.example/anna",
        "Comments": "Met at the fair\nSecond line"}


def test_unchanged_row_keeps_the_card_byte_for_byte():
    assert contacts.from_row(contacts.to_row(STORED), STORED) == STORED
    assert contacts.from_row({}, STORED) == STORED


def test_edit_keeps_what_the_list_cannot_carry():
    row = dict(contacts.to_row(STORED), Title="Schmidt", WorkCity="Berlin", CellPhone="+49 171 2",
               Company="Acme AG", Email="anna@acme.test")
    stored = contacts.from_row(row, STORED)
    card = _card(stored)
    assert card.value("N") == "Schmidt;Anna;Maria;Dr.;PhD"
    assert card.value("ORG") == "Acme AG;Research"
    adrs = [p.value for p in card.get_all("ADR")]
    assert adrs == [";;Home St 1;Berlin;;10115;Germany", ";Building 5;Lab Rd 2;Berlin;BB;14467;Germany"]
    emails = [(p.value, p.param_values("TYPE")) for p in card.get_all("EMAIL")]
    assert emails == [("anna@home.example", ["INTERNET", "HOME"]),
                      ("anna@acme.test", ["INTERNET", "WORK", "PREF"])]
    for name in ("BDAY", "CATEGORIES", "X-SKYPE", "PHOTO", "NOTE", "URL", "UID"):
        assert card.get(name).value == _card(STORED).get(name).value
    assert [p.value for p in card.get_all("TEL")] == ["+49 30 1234", "+49 30 5678", "+49 171 2",
                                                      "+49 30 1299", "999"]
    assert contacts.to_row(stored) == row


@given(rows())
@SETTINGS
def test_any_row_over_a_stored_card(row):
    # (With one EMAIL: clearing the Email field of a card with two shows the other one.)
    base = STORED.replace(b"EMAIL;TYPE=INTERNET,HOME:anna@home.example\r\n", b"")
    stored = contacts.from_row(row, base)
    summarize_vcard(stored)
    assert contacts.to_row(stored) == row
    card = _card(stored)
    # What no field carries is still there.
    for name in ("BDAY", "CATEGORIES", "X-SKYPE", "PHOTO", "UID"):
        assert card.get(name).value == _card(STORED).get(name).value
    assert any(p.value == ";;Home St 1;Berlin;;10115;Germany" for p in card.get_all("ADR"))
    assert any(p.value == "999" for p in card.get_all("TEL"))


def test_clearing_a_slot_shows_the_next_one():
    stored = contacts.from_row({"Email": ""}, STORED)
    assert [p.value for p in _card(stored).get_all("EMAIL")] == ["anna@home.example"]
    assert contacts.to_row(stored)["Email"] == "anna@home.example"


def test_cleared_fields_are_removed():
    card = _card(contacts.from_row({"CellPhone": "", "Comments": "", "WorkAddress": "", "WorkCity": "",
                                    "WorkState": "", "WorkZip": "", "WorkCountry": ""}, STORED))
    assert card.get("NOTE") is None
    assert [p.value for p in card.get_all("TEL") if "CELL" in p.param_values("TYPE")] == []
    # The work address keeps its extended line, which no field carries.
    assert [p.value for p in card.get_all("ADR")][1] == ";Building 5;;;;;"


V4 = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:1\r\nFN:Bo\r\nN:Bo;;;;\r\n"
      "TEL;VALUE=uri;TYPE=cell:tel:+1-555-1\r\nURL:https://bo.example/\r\nEND:VCARD\r\n").encode()


def test_vcard4_keeps_its_version():
    v4 = V4
    row = contacts.to_row(v4)
    assert row["CellPhone"] == "+1-555-1"
    stored = contacts.from_row(dict(row, CellPhone="+1-555-2", WorkPhone="+1-555-3"), v4)
    card = _card(stored)
    assert card.value("VERSION") == "4.0"
    assert [p.value for p in card.get_all("TEL")] == ["tel:+1-555-2", "+1-555-3"]
    assert contacts.to_row(stored)["CellPhone"] == "+1-555-2"


def test_new_card_has_fn_and_uid():
    class Info:
        uid, name, revision = "c-9", "c-9.vcf", 1
    stored = contacts.from_row({"Title": "Doe", "FirstName": "Jane"}, None, Info())
    summary = summarize_vcard(stored)
    assert summary.uid == "c-9" and summary.fn == "Jane Doe" and summary.version == "3.0"


def test_fields_published():
    assert {f.name for f in contacts.FIELDS} == set(contacts.to_row(STORED))
    assert next(f for f in contacts.FIELDS if f.name == "Title").display_name == "Last Name"


@pytest.mark.parametrize("row", [{"Title": "x" * 2_000_000}, {"Title": None}, ["Title"]])
def test_malformed_rows(row):
    with pytest.raises(InvalidData):
        contacts.from_row(row, None)
    with pytest.raises(InvalidData):
        contacts.from_row(row, STORED)


@pytest.mark.parametrize("content", [b"", b"junk", b"BEGIN:VCARD\r\nFN:x\r\n",
                                     b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"])
def test_malformed_items(content):
    with pytest.raises(InvalidData):
        contacts.to_row(content)
    with pytest.raises(InvalidData):
        contacts.from_row({"Title": "x"}, content)


@given(st.dictionaries(st.sampled_from(sorted(contacts.NAMES)), st.text(max_size=40)))
@SETTINGS
def test_arbitrary_rows_store(row):
    for existing in (STORED, V4):
        stored = contacts.from_row(row, existing)
        summarize_vcard(stored)
        contacts.to_row(stored)
    parse_components(contacts.from_row(row, None))


def test_escaping():
    stored = contacts.from_row({"Title": "a;b", "Company": "x,y;z", "Comments": "1\\2"}, None)
    card = _card(stored)
    assert card.value("N").startswith(escape_text("a;b") + ";")
    assert contacts.to_row(stored)["Company"] == "x,y;z"


def test_to_rows_is_one_row():
    assert contacts.to_rows(STORED) == [contacts.to_row(STORED)]
