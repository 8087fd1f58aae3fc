"""SyncML contact formats: vCard 2.1 (text/x-vcard), vCard 3.0 (text/vcard), SIF-C.

Round trips against the stored vCard, what a poorer format cannot carry surviving an
edit made through it, and items exactly as Nokia phones and Funambol clients send them.
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, parse_components, split_raw, unescape_text
from smsync.formats.vcard import summarize_vcard, to_version
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import formats_for, lookup
from smsync.protocols.syncml.formats.cards import read_21

VCARD21 = lookup(CollectionKind.ADDRESSBOOK, "text/x-vcard")
VCARD30 = lookup(CollectionKind.ADDRESSBOOK, "text/vcard")
SIFC = lookup(CollectionKind.ADDRESSBOOK, "text/x-s4j-sifc")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_registered():
    mimes = [(f.mime, f.version) for f in formats_for(CollectionKind.ADDRESSBOOK)]
    assert mimes[0] == ("text/vcard", "3.0")
    assert {("text/x-vcard", "2.1"), ("text/x-s4j-sifc", "1.1")} <= set(mimes)
    assert lookup(CollectionKind.ADDRESSBOOK, "TEXT/X-VCARD; charset=utf-8") is VCARD21


# -- generated contacts -------------------------------------------------------------------

_word = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x2FF)
                | st.sampled_from(list("äöüßéñ -.'&,;:\\")), min_size=1, max_size=12).map(str.strip).filter(bool)
_text = st.lists(_word, min_size=1, max_size=4).map(" ".join)
_note = st.lists(_text, min_size=1, max_size=3).map("\n".join)
_phone = st.from_regex(r"\+?[0-9]{2,4} [0-9]{3,8}", fullmatch=True)
_email = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}@[a-z]{2,8}\.(de|com|org)", fullmatch=True)
#: TEL types SIF-C has a slot for, each at most as often as it has slots.
_TEL_TYPES = [("CELL",), ("HOME", "VOICE"), ("WORK", "VOICE"), ("HOME", "FAX"), ("WORK", "FAX"), ("PAGER",), ("CAR",)]


@st.composite
def contacts(draw, sif_only: bool = False):
    """A vCard 3.0 contact as a CardDAV client might store it."""
    family, given_name = draw(_word), draw(_word)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{draw(st.uuids())}",
             f"N:{escape_text(family)};{escape_text(given_name)};;{escape_text(draw(st.sampled_from(['', 'Dr.'])))};",
             f"FN:{escape_text(given_name + ' ' + family)}"]
    for address in draw(st.lists(_email, max_size=3, unique=True)):
        lines.append(f"EMAIL;TYPE=INTERNET:{address}")
    types = draw(st.lists(st.sampled_from(_TEL_TYPES), max_size=5, unique=True))
    for t in types:
        lines.append(f"TEL;TYPE={','.join(t)}:{draw(_phone)}")
    for kind in draw(st.lists(st.sampled_from(["HOME", "WORK"]), max_size=2, unique=True)):
        parts = ["", "", escape_text(draw(_text)), escape_text(draw(_word)), "", draw(st.from_regex(r"[0-9]{5}", fullmatch=True)),
                 escape_text(draw(_word))]
        lines.append(f"ADR;TYPE={kind}:{';'.join(parts)}")
    if draw(st.booleans()):
        lines.append(f"ORG:{escape_text(draw(_text))};{escape_text(draw(_word))}")
    if draw(st.booleans()):
        lines.append(f"TITLE:{escape_text(draw(_text))}")
    if draw(st.booleans()):
        lines.append(f"NOTE:{escape_text(draw(_note))}")
    if draw(st.booleans()):
        lines.append(f"BDAY:{draw(st.dates(min_value=__import__('datetime').date(1900, 1, 1))).isoformat()}")
    if draw(st.booleans()):
        lines.append("URL:https://example.org/" + draw(st.from_regex(r"[a-z]{1,10}", fullmatch=True)))
    if draw(st.booleans()):
        lines.append("CATEGORIES:" + ",".join(escape_text(w) for w in draw(st.lists(_word.filter(lambda w: "," not in w and ";" not in w), min_size=1, max_size=3, unique_by=str.casefold))))
    if not sif_only and draw(st.booleans()):
        lines.append(f"NICKNAME:{escape_text(draw(_word))}")
    lines.append("END:VCARD")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _card(data: bytes):
    card = parse_components(data)[0]
    if card.value("VERSION") == "4.0":
        card = parse_components(to_version(data, "3.0"))[0]
    return card


def _types(prop) -> tuple:
    return tuple(sorted({t.strip().lower() for v in prop.param_values("TYPE") for t in v.split(",")} - {"voice", "internet"}))


def project(data: bytes) -> dict:
    """What a contact shows, in a form every format keeps."""
    card = _card(data)
    out = {}
    for name in ("N", "ORG", "ADR"):
        out[name] = sorted((tuple(unescape_text(p).strip() for p in split_raw(prop.value, ";")[:7]), _types(prop))
                           for prop in card.get_all(name))
    for name in ("FN", "TITLE", "NOTE", "BDAY", "URL", "NICKNAME"):
        out[name] = [unescape_text(p.value) for p in card.get_all(name)]
    out["EMAIL"] = sorted(unescape_text(p.value) for p in card.get_all("EMAIL"))
    out["TEL"] = sorted((p.value.replace(" ", ""), _types(p)) for p in card.get_all("TEL"))
    out["CATEGORIES"] = sorted(unescape_text(v) for p in card.get_all("CATEGORIES") for v in split_raw(p.value, ","))
    return out


def _trim(rows):
    out = []
    for parts, t in rows:
        parts = list(parts)
        while parts and not parts[-1]:
            parts.pop()
        out.append((tuple(parts), t))
    return sorted(out)


def same_contact(a: bytes, b: bytes) -> None:
    pa, pb = project(a), project(b)
    for key in ("N", "ORG", "ADR"):
        pa[key], pb[key] = _trim(pa[key]), _trim(pb[key])
    assert pa == pb


FORMATS = [VCARD21, VCARD30, SIFC]


def check_canonical_to_device_to_canonical(fmt, stored):
    sent = fmt.from_canonical(stored)
    added = fmt.to_canonical(sent, None)
    summarize_vcard(added)
    same_contact(stored, added)
    # Sent back unchanged as a Replace, the stored card does not change at all.
    assert fmt.to_canonical(sent, stored) == stored


def check_device_to_canonical_to_device(fmt, stored):
    device = fmt.from_canonical(stored)
    once = fmt.to_canonical(device, None)
    again = fmt.from_canonical(once)
    uid = re.compile(rb"^UID:.*\r\n", re.M)
    assert uid.sub(b"", again) == uid.sub(b"", device)
    assert fmt.from_canonical(fmt.to_canonical(again, once)) == again


# (pytest-twisted cannot run a parametrized hypothesis test: one test per format.)
@SETTINGS
@given(contacts())
def test_vcard21_round_trip(stored):
    check_canonical_to_device_to_canonical(VCARD21, stored)
    check_device_to_canonical_to_device(VCARD21, stored)


@SETTINGS
@given(contacts())
def test_vcard30_round_trip(stored):
    check_canonical_to_device_to_canonical(VCARD30, stored)
    check_device_to_canonical_to_device(VCARD30, stored)
    v4 = to_version(stored, "4.0")
    check_canonical_to_device_to_canonical(VCARD30, v4)


@SETTINGS
@given(contacts(sif_only=True))
def test_sifc_round_trip(stored):
    check_canonical_to_device_to_canonical(SIFC, stored)
    check_device_to_canonical_to_device(SIFC, stored)


@SETTINGS
@given(contacts())
def test_vcard21_output_is_21(stored):
    out = VCARD21.from_canonical(stored)
    assert out.isascii()  # anything else is quoted-printable UTF-8
    assert out.startswith(b"BEGIN:VCARD\r\nVERSION:2.1\r\n") and read_21(out).value("VERSION") == "3.0"
    for line in out.split(b"\r\n"):
        head = line.split(b":", 1)[0]
        assert b"TYPE=" not in head or head.startswith(b"PHOTO")  # bare types: TEL;CELL;VOICE


@SETTINGS
@given(contacts())
def test_sifc_output_is_xml(stored):
    root = etree.fromstring(SIFC.from_canonical(stored))
    assert root.tag == "contact" and root.findtext("SIFVersion") == "1.1"


# -- what a format cannot carry -------------------------------------------------------------

V4 = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:0f8a3e1c-6a2e-4f8a-9d1a-2a4b6c8d0e1f\r\n"
    "FN:Jürgen Müller\r\nN:Müller;Jürgen;;;\r\nKIND:individual\r\n"
    "EMAIL;TYPE=work;PREF=1:jm@acme.example\r\nEMAIL;TYPE=home:j@home.example\r\n"
    "EMAIL:third@example.org\r\nEMAIL:fourth@example.org\r\n"
    "TEL;TYPE=cell;PREF=1:+49 170 1234567\r\nTEL;TYPE=cell:+49 171 7654321\r\n"
    "ADR;TYPE=home;LABEL=\"Hauptstraße 5\\nApt 4\\n80331 München\":;Apt 4;Hauptstraße 5;München;;80331;Germany\r\n"
    "GEO:geo:48.137,11.575\r\nRELATED;TYPE=spouse:urn:uuid:1111\r\nIMPP;TYPE=personal:xmpp:jm@jabber.example\r\n"
    "ANNIVERSARY:20010915\r\nX-ABLabel:custom\r\nitem1.X-SOCIALPROFILE;TYPE=twitter:https://x.example/jm\r\n"
    "NOTE:Old note\r\nEND:VCARD\r\n"
).encode("utf-8")


def unfolded(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "")


def _with(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, (old, data)
    return data.replace(old, new)


def test_vcard40_edited_through_sifc_keeps_what_sifc_lacks():
    sent = SIFC.from_canonical(V4)
    root = etree.fromstring(sent)
    assert root.findtext("MobileTelephoneNumber") == "+49 170 1234567"
    edited = _with(sent, b"<Body>Old note</Body>", b"<Body>New note</Body>")
    edited = _with(edited, b"<HomeAddressStreet>Hauptstra\xc3\x9fe 5</HomeAddressStreet>",
                   b"<HomeAddressStreet>Nebenweg 7</HomeAddressStreet>")
    stored = SIFC.to_canonical(edited, V4)
    text = unfolded(stored)
    assert summarize_vcard(stored).version == "4.0"
    assert "UID:urn:uuid:0f8a3e1c-6a2e-4f8a-9d1a-2a4b6c8d0e1f" in text
    assert "NOTE:New note" in text and "Old note" not in text
    # The address changed where SIF-C shows it and kept its extended part (no SIF field).
    assert ":;Apt 4;Nebenweg 7;München;;80331;Germany" in text
    for kept in ("EMAIL:third@example.org", "EMAIL:fourth@example.org", "TEL;TYPE=cell:+49 171 7654321",
                 "GEO:geo:48.137,11.575", "RELATED;TYPE=spouse:urn:uuid:1111", "X-ABLABEL:custom",
                 "item1.X-SOCIALPROFILE;TYPE=twitter:https://x.example/jm", "ANNIVERSARY:20010915",
                 "EMAIL;TYPE=work;PREF=1:jm@acme.example", "TEL;TYPE=cell;PREF=1:+49 170 1234567"):
        assert kept in text, kept


def test_field_removed_on_the_device_is_removed():
    sent = SIFC.from_canonical(V4)
    edited = re.sub(rb"<Email2Address>[^<]*</Email2Address>", b"", sent)
    stored = unfolded(SIFC.to_canonical(edited, V4))
    assert "j@home.example" not in stored
    assert "third@example.org" in stored and "fourth@example.org" in stored


def test_vcard40_edited_through_vcard21_keeps_40():
    sent = VCARD21.from_canonical(V4)
    assert b"VERSION:2.1" in sent and b"TEL;CELL;PREF:+49 170 1234567" in sent
    edited = _with(sent, b"NOTE:Old note", b"NOTE:Neue Notiz")
    # A phone that drops what it does not know: GEO, RELATED and the X- properties.
    edited = re.sub(rb"^(GEO|RELATED|X-ABLabel|item1\.X-SOCIALPROFILE|ANNIVERSARY|IMPP)[;:].*\r\n", b"", edited,
                    flags=re.M | re.I)
    stored = unfolded(VCARD21.to_canonical(edited, V4))
    assert "VERSION:4.0" in stored and "NOTE:Neue Notiz" in stored
    for kept in ("GEO:geo:48.137,11.575", "RELATED;TYPE=spouse:urn:uuid:1111", "X-ABLABEL:custom",
                 "IMPP;TYPE=personal:xmpp:jm@jabber.example", "ANNIVERSARY:20010915"):
        assert kept in stored, kept


def test_vcard30_passes_40_through_conversion():
    sent = VCARD30.from_canonical(V4)
    assert b"VERSION:3.0" in sent
    assert VCARD30.to_canonical(sent, V4) == V4  # unchanged: stored as it was
    edited = sent.replace(b"NOTE:Old note", b"NOTE:Changed")
    stored = unfolded(VCARD30.to_canonical(edited, V4))
    assert "VERSION:4.0" in stored and "NOTE:Changed" in stored and "KIND:individual" in stored
    v3 = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x1\r\nFN:A\r\nN:A;;;;\r\nEND:VCARD\r\n"
    assert VCARD30.to_canonical(v3, None) == v3
    assert VCARD30.from_canonical(v3) == v3


def test_replace_keeps_uid_and_add_makes_one():
    stored = VCARD21.to_canonical(b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Doe;John\r\nEND:VCARD\r\n", None)
    uid = summarize_vcard(stored).uid
    assert uid and summarize_vcard(stored).fn == "John Doe"
    again = VCARD21.to_canonical(b"BEGIN:VCARD\r\nVERSION:2.1\r\nUID:phone-7\r\nN:Doe;Johnny\r\nEND:VCARD\r\n", stored)
    assert summarize_vcard(again).uid == uid
    assert "Johnny" in again.decode()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.mime)
@pytest.mark.parametrize("data", [b"", b"garbage", b"BEGIN:VCARD\r\nVERSION:2.1\r\n", b"<contact><Body>x</contact>",
                                  b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "<note/>".encode(),
                                  b"BEGIN:VCARD\r\nVERSION:2.1\r\nPHOTO;ENCODING=BASE64:@@@\r\nEND:VCARD\r\n"])
def test_malformed_input(fmt, data):
    with pytest.raises(InvalidData):
        fmt.to_canonical(data, None)


# -- as devices send them -------------------------------------------------------------------

PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 2).decode()
NOKIA_21 = (
    b"BEGIN:VCARD\r\nVERSION:2.1\r\n"
    b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n"
    b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller\r\n"
    b"TEL;CELL;VOICE:+491701234567\r\nTEL;VOICE;HOME:+4989123456\r\nTEL;WORK;FAX:+4930999\r\n"
    b"EMAIL;INTERNET;PREF:juergen@example.de\r\n"
    b"ADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;;Hauptstra=C3=9Fe 5;M=C3=BCnchen;Bay=\r\n"
    b"ern;80331;Deutschland\r\n"
    b"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Erste Zeile=0D=0AZweite Zeile mit =C3=A4=\r\n"
    b"\r\n"
    b"BDAY:19700517\r\nX-IRMC-LUID:000200000123\r\n"
    b"PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n "
    + PHOTO[:60].encode() + b"\r\n " + PHOTO[60:].encode() + b"\r\n\r\n"
    b"END:VCARD\r\n"
)


def test_nokia_vcard21():
    stored = VCARD21.to_canonical(NOKIA_21, None)
    card = parse_components(stored)[0]
    assert summarize_vcard(stored).fn == "Jürgen Müller"
    assert card.value("N") == "Müller;Jürgen;;;"
    assert card.get("ADR").value == ";;Hauptstraße 5;München;Bayern;80331;Deutschland"
    assert card.get("ADR").param_values("TYPE") == ["HOME"]
    assert unescape_text(card.value("NOTE")) == "Erste Zeile\r\nZweite Zeile mit ä".replace("\r\n", "\n")
    tels = [(p.value, p.param_values("TYPE")) for p in card.get_all("TEL")]
    assert tels == [("+491701234567", ["CELL", "VOICE"]), ("+4989123456", ["VOICE", "HOME"]),
                    ("+4930999", ["WORK", "FAX"])]
    photo = card.get("PHOTO")
    assert photo.param("ENCODING") == "b" and photo.value == PHOTO
    assert card.get("BDAY").value == "19700517"
    # Sent back to the phone and returned unchanged: the stored card does not move.
    back = VCARD21.from_canonical(stored)
    assert VCARD21.to_canonical(back, stored) == stored
    assert b"ADR;HOME;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:;;Hauptstra=C3=9Fe 5;M=C3=BCnchen;Bayern" in back
    assert read_21(back).get("PHOTO").value == PHOTO


def test_vcard21_latin1_charset_and_escaped_semicolon():
    data = ("BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:B=E4r;Bj=F6rn\r\n"
            "ORG:Smith\\; Sons;Sales\r\nNOTE:a, b\r\nEND:VCARD\r\n").encode("ascii")
    card = parse_components(VCARD21.to_canonical(data, None))[0]
    assert card.value("N") == "Bär;Björn"
    assert card.value("ORG") == "Smith\\; Sons;Sales"
    assert card.value("NOTE") == "a\\, b"


FUNAMBOL_SIFC = """<?xml version="1.0" encoding="UTF-8"?>
<contact>
<SIFVersion>1.1</SIFVersion>
<Anniversary>2001-09-15</Anniversary>
<AssistantName>Petra</AssistantName>
<AssistantTelephoneNumber>+49 30 555</AssistantTelephoneNumber>
<BillingInformation/>
<Birthday>1970-05-17</Birthday>
<Body>Kunde seit 2001.&#13;
Bevorzugt Telefon.</Body>
<Business2TelephoneNumber>+49 30 2222</Business2TelephoneNumber>
<BusinessAddressCity>Berlin</BusinessAddressCity>
<BusinessAddressCountry>Germany</BusinessAddressCountry>
<BusinessAddressPostalCode>10115</BusinessAddressPostalCode>
<BusinessAddressPostOfficeBox>PF 12</BusinessAddressPostOfficeBox>
<BusinessAddressState>Berlin</BusinessAddressState>
<BusinessAddressStreet>Friedrichstraße 1</BusinessAddressStreet>
<BusinessFaxNumber>+49 30 1112</BusinessFaxNumber>
<BusinessTelephoneNumber>+49 30 1111</BusinessTelephoneNumber>
<BusinessWebPage>http://acme.example</BusinessWebPage>
<CallbackTelephoneNumber/>
<CarTelephoneNumber>+49 171 333</CarTelephoneNumber>
<Categories>Business, VIP</Categories>
<Children/>
<CompanyMainTelephoneNumber/>
<CompanyName>ACME GmbH</CompanyName>
<ComputerNetworkName/>
<Department>Vertrieb</Department>
<Email1Address>jm@acme.example</Email1Address>
<Email1AddressType>SMTP</Email1AddressType>
<Email2Address>j@home.example</Email2Address>
<Email2AddressType>SMTP</Email2AddressType>
<Email3Address/>
<FileAs>Müller, Jürgen</FileAs>
<FirstName>Jürgen</FirstName>
<Hobby>Segeln</Hobby>
<Home2TelephoneNumber/>
<HomeAddressCity>Potsdam</HomeAddressCity>
<HomeAddressCountry>Germany</HomeAddressCountry>
<HomeAddressPostalCode>14467</HomeAddressPostalCode>
<HomeAddressStreet>Am See 3</HomeAddressStreet>
<HomeFaxNumber/>
<HomeTelephoneNumber>+49 331 444</HomeTelephoneNumber>
<HomeWebPage>http://juergen.example</HomeWebPage>
<IMAddress>jm@jabber.example</IMAddress>
<Importance>1</Importance>
<Initials>J.M.</Initials>
<JobTitle>Vertriebsleiter</JobTitle>
<LastName>Müller</LastName>
<ManagerName>Dr. Schmidt</ManagerName>
<MiddleName>Karl</MiddleName>
<Mileage/>
<MobileTelephoneNumber>+49 170 1234567</MobileTelephoneNumber>
<NickName>Jogi</NickName>
<OfficeLocation>Raum 4.12</OfficeLocation>
<OtherAddressCity/>
<OtherTelephoneNumber>+49 30 999</OtherTelephoneNumber>
<PagerNumber>+49 160 1</PagerNumber>
<PrimaryTelephoneNumber/>
<Profession>Kaufmann</Profession>
<RadioTelephoneNumber/>
<Sensitivity>2</Sensitivity>
<Spouse>Anna</Spouse>
<Suffix>jun.</Suffix>
<Title>Dr.</Title>
<WebPage>http://www.example.de</WebPage>
<YomiCompanyName/>
<YomiFirstName/>
<YomiLastName/>
<Photo>""" + PHOTO + """</Photo>
</contact>"""


def test_funambol_sifc_all_common_fields():
    stored = SIFC.to_canonical(FUNAMBOL_SIFC.encode("utf-8"), None)
    card = parse_components(stored)[0]
    v = {p.name: p for p in card.properties}
    assert summarize_vcard(stored).fn == "Müller, Jürgen"
    assert card.value("N") == "Müller;Jürgen;Karl;Dr.;jun."
    assert card.value("ORG") == "ACME GmbH;Vertrieb"
    assert unescape_text(card.value("NOTE")) == "Kunde seit 2001.\nBevorzugt Telefon."
    assert [p.value for p in card.get_all("EMAIL")] == ["jm@acme.example", "j@home.example"]
    tels = {(p.value, ",".join(p.param_values("TYPE"))) for p in card.get_all("TEL")}
    assert tels == {("+49 30 1112", "WORK,FAX"), ("+49 170 1234567", "CELL"), ("+49 160 1", "PAGER"),
                    ("+49 171 333", "CAR"), ("+49 30 555", "X-ASSISTANT"), ("+49 30 1111", "WORK,VOICE"),
                    ("+49 30 2222", "WORK,VOICE"), ("+49 331 444", "HOME,VOICE"), ("+49 30 999", "VOICE")}
    adrs = {",".join(p.param_values("TYPE")): p.value for p in card.get_all("ADR")}
    assert adrs == {"WORK": "PF 12;;Friedrichstraße 1;Berlin;Berlin;10115;Germany",
                    "HOME": ";;Am See 3;Potsdam;;14467;Germany"}
    assert {p.value for p in card.get_all("URL")} == {"http://www.example.de", "http://acme.example",
                                                      "http://juergen.example"}
    assert v["BDAY"].value == "1970-05-17" and v["X-ANNIVERSARY"].value == "2001-09-15"
    assert v["CATEGORIES"].value == "Business,VIP" and v["CLASS"].value == "PRIVATE"
    assert v["X-EVOLUTION-SPOUSE"].value == "Anna" and v["X-EVOLUTION-MANAGER"].value == "Dr. Schmidt"
    assert v["X-EVOLUTION-ASSISTANT"].value == "Petra" and v["X-OFFICE"].value == "Raum 4.12"
    assert v["NICKNAME"].value == "Jogi" and v["TITLE"].value == "Vertriebsleiter" and v["ROLE"].value == "Kaufmann"
    assert v["IMPP"].value == "jm@jabber.example"
    assert v["PHOTO"].value == PHOTO and v["PHOTO"].param("TYPE") == "JPEG"
    assert v["X-SIF-HOBBY"].value == "Segeln" and v["X-SIF-INITIALS"].value == "J.M."
    assert "X-SIF-IMPORTANCE" not in v and "X-SIF-EMAIL1ADDRESSTYPE" not in v
    # Back to the client: every field it sent, with the same values.
    back = etree.fromstring(SIFC.from_canonical(stored))
    sent = etree.fromstring(FUNAMBOL_SIFC.encode("utf-8"))
    defaults = {"Importance", "Email1AddressType", "Email2AddressType"}
    for el in sent:
        if el.text and el.text.strip() and el.tag not in defaults:
            assert (back.findtext(el.tag) or "").replace("\r\n", "\n") == el.text.replace("\r\n", "\n"), el.tag
    assert SIFC.to_canonical(SIFC.from_canonical(stored), stored) == stored


def test_sifc_base64_encoded():
    data = base64.b64encode(FUNAMBOL_SIFC.encode("utf-8"))
    assert project(SIFC.to_canonical(data, None)) == project(SIFC.to_canonical(FUNAMBOL_SIFC.encode(), None))


# -- property: an edit through a poorer format keeps what it cannot carry ------------------

EXTRAS = ("X-CUSTOM-FIELD;X-PARAM=keep:value one", "GEO:52.52;13.40", "EMAIL;TYPE=INTERNET:fourth@extra.example",
          "X-ABLABEL:Kollege", "IMPP:xmpp:someone@jabber.example", "item7.URL:https://extra.example/",
          "SORT-STRING:Zz")


def _with_note(card: bytes, note: str) -> bytes:
    lines = [line for line in card.decode().split("\r\n") if line and not line.startswith("NOTE:")]
    lines.insert(-1, f"NOTE:{escape_text(note)}")
    return ("\r\n".join(lines) + "\r\n").encode()


def _with_extras(card: bytes, extras) -> bytes:
    return card.replace(b"END:VCARD", "\r\n".join(extras).encode() + b"\r\nEND:VCARD")


def check_edit_keeps_extras(fmt, stored, note, extras, device_drops_extras):
    with_extras = _with_extras(stored, extras)
    device_view = with_extras if not device_drops_extras else stored
    if fmt is SIFC:  # three e-mail slots: the fourth address is one SIF-C cannot show
        with_extras = with_extras.replace(b"END:VCARD", b"EMAIL:a@x.example\r\nEMAIL:b@x.example\r\n"
                                          b"EMAIL:c@x.example\r\nEMAIL:d@x.example\r\nEND:VCARD")
        device_view = with_extras
    edited = fmt.from_canonical(_with_note(device_view, note))
    result = unfolded(fmt.to_canonical(edited, with_extras))
    card = parse_components(result.encode())[0]
    assert unescape_text(card.value("NOTE")) == note
    for extra in extras:
        assert extra in result, extra
    if fmt is SIFC:
        assert "d@x.example" in result
    assert summarize_vcard(result.encode()).uid == summarize_vcard(stored).uid


@SETTINGS
@given(contacts(), _note, st.lists(st.sampled_from(EXTRAS), min_size=1, max_size=4, unique=True))
def test_vcard21_edit_keeps_what_2_1_phones_drop(stored, note, extras):
    # (URL and EMAIL are properties a 2.1 phone is expected to send back: dropping them deletes them.)
    check_edit_keeps_extras(VCARD21, stored, note, [e for e in extras if "EMAIL" not in e and "URL" not in e], True)


@SETTINGS
@given(contacts(sif_only=True), _note, st.lists(st.sampled_from(EXTRAS), min_size=1, max_size=4, unique=True))
def test_sifc_edit_keeps_what_sifc_lacks(stored, note, extras):
    check_edit_keeps_extras(SIFC, stored, note, [e for e in extras if "EMAIL" not in e and "IMPP" not in e], False)


@SETTINGS
@given(contacts(), _note, st.lists(st.sampled_from(EXTRAS), min_size=1, max_size=4, unique=True))
def test_vcard30_edit_of_a_40_card_keeps_40(stored, note, extras):
    v4 = to_version(_with_extras(stored, [e for e in extras if not e.startswith(("EMAIL", "GEO"))]), "4.0")
    edited = VCARD30.from_canonical(v4)
    lines = [line for line in edited.decode().split("\r\n") if line and not line.startswith("NOTE:")]
    lines.insert(-1, f"NOTE:{escape_text(note)}")
    result = VCARD30.to_canonical(("\r\n".join(lines) + "\r\n").encode(), v4)
    assert summarize_vcard(result).version == "4.0"
    card = parse_components(result)[0]
    assert unescape_text(card.value("NOTE")) == note
    before = {p.name for p in parse_components(v4)[0].properties} | {"NOTE"}
    assert {p.name for p in card.properties} == before
