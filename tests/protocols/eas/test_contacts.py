"""EAS Contacts <-> vCard: round trips both ways, and a phone's edit keeping what EAS
cannot carry."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.formats.contentlines import format_line, parse_components
from smsync.formats.vcard import summarize_vcard, to_version
from smsync.protocols.eas import contacts
from smsync.protocols.eas.contacts import C, C2, ConversionError
from smsync.protocols.eas.wbxml import Element, decode, encode
from tests.protocols.eas import pim_support
from tests.protocols.eas.pim_support import fields

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


C2_TAGS = dict.fromkeys(("NickName", "ManagerName", "IMAddress", "IMAddress2", "IMAddress3"), C2)


def app_of(values: dict) -> Element:
    return pim_support.app_of(values, C, C2_TAGS)



# -- what a device sends ------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.just("\n"), min_size=1, max_size=12)
word = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=10)
phone = st.from_regex(r"\+?[0-9()-]{1,14}", fullmatch=True)
email = st.from_regex(r"[a-z0-9.]{1,8}@[a-z]{1,6}\.(org|com)", fullmatch=True)
day = st.dates(min_value=__import__("datetime").date(1900, 1, 1), max_value=__import__("datetime").date(2100, 12, 31))

TEXT_FIELDS = ("FirstName", "LastName", "MiddleName", "Title", "Suffix", "CompanyName", "Department",
               "JobTitle", "OfficeLocation", "Spouse", "AssistantName", "ManagerName", "NickName",
               "YomiFirstName", "YomiLastName", "YomiCompanyName",
               *(f"{kind}Address{part}" for kind in ("Home", "Business", "Other")
                 for part in ("Street", "City", "State", "PostalCode", "Country")))
PHONES = ("BusinessPhoneNumber", "HomePhoneNumber", "MobilePhoneNumber", "CarPhoneNumber", "PagerNumber",
          "RadioPhoneNumber", "AssistantPhoneNumber", "BusinessFaxNumber", "HomeFaxNumber")


@st.composite
def device_contact(draw) -> dict:
    """A device's contact as tag -> value, in the form we send back (bare addresses,
    birthdays at 11:59Z, slots filled from the first)."""
    values = {}
    for tag in draw(st.lists(st.sampled_from(TEXT_FIELDS), unique=True, max_size=12)):
        values[tag] = draw(text)
    for tag in draw(st.lists(st.sampled_from(PHONES), unique=True, max_size=5)):
        values[tag] = draw(phone)
    for first, second in (("BusinessPhoneNumber", "Business2PhoneNumber"), ("HomePhoneNumber", "Home2PhoneNumber")):
        if first in values and draw(st.booleans()):
            values[second] = draw(phone)
    for i, address in enumerate(draw(st.lists(email, max_size=3))):
        values[f"Email{i + 1}Address"] = address
    for i, address in enumerate(draw(st.lists(st.from_regex(r"(xmpp:)?[a-z]{1,6}@[a-z]{1,5}\.im", fullmatch=True),
                                              max_size=3))):
        values["IMAddress" + (str(i + 1) if i else "")] = address
    if draw(st.booleans()):
        values["FileAs"] = draw(text.filter(str.strip))
    for tag in ("Birthday", "Anniversary"):
        if draw(st.booleans()):
            values[tag] = f"{draw(day).isoformat()}T11:59:00.000Z"
    if draw(st.booleans()):
        values["WebPage"] = draw(st.from_regex(r"https://[a-z]{1,8}\.org/[a-z]{0,5}", fullmatch=True))
    if draw(st.booleans()):
        values["Picture"] = base64.b64encode(draw(st.binary(min_size=1, max_size=64))).decode()
    for tag in ("Categories", "Children"):
        if draw(st.booleans()):
            values[tag] = draw(st.lists(word.filter(lambda w: w.strip() == w), min_size=1, max_size=3))
    if draw(st.booleans()):
        values["Body"] = draw(text)
    return values


def expected(values: dict) -> dict:
    """What we send back for ``values``: FN is derived when the device sent no FileAs."""
    out = dict(values)
    out.pop("FileAs", None)
    return out


def view(app: Element) -> dict:
    out = fields(app)
    out.pop("FileAs", None)
    return out


# -- round trips --------------------------------------------------------------------------


@SETTINGS
@given(device_contact())
def test_device_contact_survives_storage(values):
    stored = contacts.from_application_data(app_of(values), "16.1")
    summary = summarize_vcard(stored)  # a valid CardDAV object: one vCard with a UID
    assert summary.version == "3.0" and summary.fn is not None
    card = parse_components(stored)[0]
    assert card.get("N") is not None and card.get("FN") is not None
    assert view(contacts.to_application_data(stored, "16.1")) == expected(values)
    if "FileAs" in values:
        assert fields(contacts.to_application_data(stored, "16.1"))["FileAs"] == values["FileAs"]


@SETTINGS
@given(device_contact(), st.sampled_from(["3.0", "4.0"]))
def test_unchanged_contact_from_device_changes_nothing(values, version):
    # A CardDAV client's card (either version) shown to a phone and sent back unchanged
    # is stored exactly as it was.
    stored = to_version(contacts.from_application_data(app_of(values), "16.1"), version)
    sent = contacts.to_application_data(stored, "16.1")
    again = contacts.from_application_data(decode(encode(sent)), "16.1", stored)
    assert parse_components(again) == parse_components(stored)
    assert view(contacts.to_application_data(stored, "16.1")) == expected(values)


extra_property = st.one_of(
    st.builds(lambda n, v: f"X-TEST-{n}:{v}", st.from_regex(r"[A-Z]{1,6}", fullmatch=True),
              st.from_regex(r"[a-z0-9 ]{0,10}", fullmatch=True)),
    st.just("GEO:geo:37.386013\\,-122.082932"),
    st.just("RELATED;TYPE=friend:urn:uuid:03a0e51f-d1aa-4385-8a53-e29025acd8af"),
    st.just("TEL;TYPE=VOICE:+1 555 0100"),
    st.just("TEL;TYPE=X-CUSTOM:777"),
    st.just("item7.X-ABDATE:2000-01-01"),
    st.just("item7.X-ABLabel:_$!<Anniversary>!$_"),
    st.just("ROLE:Chief"),
    st.just("KEY;VALUE=uri:https://example.org/key.asc"),
    st.just("PHOTO;VALUE=uri:https://example.org/me.jpg"),
)


@SETTINGS
@given(device_contact(), device_contact(), st.lists(extra_property, min_size=1, max_size=6),
       st.sampled_from(["3.0", "4.0"]))
def test_phone_edit_keeps_what_eas_cannot_carry(before, after, extras, version):
    stored = to_version(contacts.from_application_data(app_of(before), "16.1"), version).decode()
    if "Picture" in before or "Picture" in after:
        extras = [e for e in extras if not e.startswith("PHOTO")]  # a second PHOTO is no slot's
    stored = stored.replace("END:VCARD", "".join(e + "\r\n" for e in extras) + "END:VCARD").encode()
    card = parse_components(stored)[0]
    uid = card.value("UID")
    edited = contacts.from_application_data(app_of(after), "16.1", stored)
    result = parse_components(edited)[0]
    lines = {format_line(p) for p in result.properties}
    for prop in parse_components(stored)[0].properties:
        if prop.name.startswith("X-TEST-") or prop.name in ("GEO", "RELATED", "ROLE", "KEY") or prop.group:
            assert format_line(prop) in lines
        if prop.name == "TEL" and prop.param("TYPE") in ("VOICE", "X-CUSTOM"):
            assert format_line(prop) in lines
        if prop.name == "PHOTO" and prop.param("VALUE") == "uri":
            assert format_line(prop) in lines
    assert result.value("UID") == uid and result.value("VERSION") == version
    got = view(contacts.to_application_data(edited, "16.1"))
    want = expected(after)
    if "Body" not in after and "Body" in before:
        want["Body"] = before["Body"]  # a Body not sent is kept
    assert got == want


# -- worked examples ----------------------------------------------------------------------

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc\r\nFN:Dr. John Doe\r\nN:Doe;John;;Dr.;\r\n"
    "EMAIL;TYPE=INTERNET,WORK:j@x.org\r\nEMAIL:a@b.org\r\nEMAIL:c@d.org\r\nEMAIL:fourth@x.org\r\n"
    "TEL;TYPE=CELL;X-CUSTOM=kept:123\r\nTEL;TYPE=CELL:456\r\n"
    "ADR;TYPE=HOME;X-PARAM=1:PO 7;;1 Main St;Town;;12345;US\r\n"
    "URL:https://one.example\r\nURL:https://two.example\r\n"
    "BDAY:1980-02-03\r\nNOTE:hello\\nworld\r\nCATEGORIES:a,b\\,c\r\nX-FOO;X-P=1:bar\r\nEND:VCARD\r\n"
).encode()


def test_shows_the_first_of_each_slot():
    got = fields(contacts.to_application_data(CARD, "14.1"))
    assert got["FileAs"] == "Dr. John Doe"
    assert (got["Email1Address"], got["Email2Address"], got["Email3Address"]) == ("j@x.org", "a@b.org", "c@d.org")
    assert got["MobilePhoneNumber"] == "123" and "Business2PhoneNumber" not in got
    assert got["HomeAddressStreet"] == "1 Main St" and got["HomeAddressPostalCode"] == "12345"
    assert got["WebPage"] == "https://one.example"
    assert got["Birthday"] == "1980-02-03T11:59:00.000Z"
    assert got["Categories"] == ["a", "b,c"]
    assert got["Body"] == "hello\nworld"
    assert "Body" not in fields(contacts.to_application_data(CARD, "2.5"))


def test_edit_rewrites_values_in_place_and_drops_only_carried_fields():
    sent = fields(contacts.to_application_data(CARD, "14.1"))
    sent["MobilePhoneNumber"] = "999"
    del sent["Email2Address"], sent["HomeAddressCity"], sent["Body"]
    sent["Email1Address"] = '"John Doe" <john@x.org>'
    sent["Birthday"] = "1980-02-02T23:00:00.000Z"  # local midnight of a UTC+1 phone
    out = contacts.from_application_data(app_of(sent), "14.1", CARD).decode()
    assert "TEL;TYPE=CELL;X-CUSTOM=kept:999\r\n" in out and "TEL;TYPE=CELL:456\r\n" in out
    assert "EMAIL;TYPE=INTERNET,WORK:john@x.org\r\n" in out and "a@b.org" not in out
    assert "EMAIL:fourth@x.org\r\n" in out and "EMAIL:c@d.org\r\n" in out
    assert "ADR;TYPE=HOME;X-PARAM=1:PO 7;;1 Main St;;;12345;US\r\n" in out
    assert "URL:https://two.example\r\n" in out and "X-FOO;X-P=1:bar\r\n" in out
    assert "BDAY:1980-02-03\r\n" in out and "NOTE:hello\\nworld\r\n" in out
    assert "FN:Dr. John Doe\r\n" in out and "UID:abc\r\n" in out


def test_new_contact_gets_uid_fn_and_n():
    out = contacts.from_application_data(app_of({"Email1Address": "ann@b.org"}), "14.1")
    card = parse_components(out)[0]
    assert card.value("VERSION") == "3.0" and card.value("FN") == "ann@b.org" and card.value("N") == ";;;;"
    assert len(card.value("UID")) == 36


def test_renamed_contact_gets_a_new_fn_when_the_phone_sends_no_file_as():
    sent = fields(contacts.to_application_data(CARD, "14.1"))
    del sent["FileAs"]
    sent["FirstName"] = "Jack"
    out = contacts.from_application_data(app_of(sent), "14.1", CARD).decode()
    assert "FN:Dr. Jack Doe\r\n" in out


def test_picture_round_trip_in_both_versions():
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0 picture").decode()
    for version in ("3.0", "4.0"):
        card = to_version(contacts.from_application_data(app_of({"LastName": "X"}), "14.1"), version)
        out = contacts.from_application_data(app_of({"LastName": "X", "Picture": jpeg}), "14.1", card)
        assert fields(contacts.to_application_data(out, "14.1"))["Picture"] == jpeg
        photo = parse_components(out)[0].get("PHOTO")
        assert photo.value.startswith("data:image/jpeg;base64,") if version == "4.0" else photo.param("ENCODING") == "b"


@pytest.mark.parametrize("call", [
    lambda: contacts.to_application_data(b"not a vcard", "14.1"),
    lambda: contacts.to_application_data(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "14.1"),
    lambda: contacts.to_application_data("BEGIN:VCARD\r\nEND:VCARD\r\n", "14.1"),
    lambda: contacts.from_application_data(app_of({}), "14.1", b"BEGIN:VCARD\r\n"),
    lambda: contacts.from_application_data(app_of({"Birthday": "yesterday"}), "14.1"),
    lambda: contacts.from_application_data(app_of({"Birthday": "2020-02-30T00:00:00.000Z"}), "14.1"),
    lambda: contacts.from_application_data(app_of({"Picture": "not base64!"}), "14.1"),
    lambda: contacts.from_application_data(app_of({"Picture": "QUFB" * 13000}), "14.1"),
])
def test_bad_input_is_a_conversion_error(call):
    with pytest.raises(ConversionError):
        call()
