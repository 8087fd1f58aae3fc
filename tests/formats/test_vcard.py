"""summarize_vcard validation and to_version 3.0 <-> 4.0 round trips."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.formats.vcard import summarize_vcard, to_version

V3 = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:urn:uuid:1234\r\nFN:Doe\\, Jane\r\nN:Doe;Jane;;;\r\n"
    b"EMAIL;TYPE=INTERNET,HOME,pref:jane@example.com\r\nTEL;TYPE=CELL:+1 555 0100\r\n"
    b"item1.ADR;TYPE=HOME:;;1 Main St;Town;;12345;\r\nitem1.LABEL;TYPE=HOME:1 Main St\\nTown\r\n"
    b"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg==\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"
    b"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:5678\r\nEND:VCARD\r\n"
)


def props(data):
    card = parse_components(data)[0]
    return {p.name: p for p in card.properties}


def test_summary():
    s = summarize_vcard(V3)
    assert (s.uid, s.version, s.fn) == ("urn:uuid:1234", "3.0", "Doe, Jane")
    v4 = summarize_vcard(to_version(V3, "4.0"))
    assert (v4.uid, v4.version, v4.fn) == ("urn:uuid:1234", "4.0", "Doe, Jane")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"FN:x\r\n",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:no uid\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nUID:b\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nVERSION:9.9\r\nUID:a\r\nEND:VCARD\r\n",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\n",
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nno colon here\r\nEND:VCARD\r\n",
    ],
)
def test_invalid(data):
    with pytest.raises(InvalidData):
        summarize_vcard(data)


def test_to_v4_details():
    v4 = to_version(V3, "4.0")
    p = props(v4)
    assert p["VERSION"].value == "4.0"
    assert p["EMAIL"].param_values("TYPE") == ["home"] and p["EMAIL"].param("PREF") == "1"
    assert p["PHOTO"].value == "data:image/jpeg;base64,/9j/4AAQSkZJRg=="
    assert p["KIND"].value == "group" and p["MEMBER"].value == "urn:uuid:5678"
    assert "LABEL" not in p and p["ADR"].param("LABEL") == "1 Main St\nTown"
    assert to_version(v4, "4.0") == v4
    with pytest.raises(ValueError):
        to_version(V3, "2.1")


def test_v21_quoted_printable():
    v21 = b"BEGIN:VCARD\r\nVERSION:2.1\r\nUID:x\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;Hans\r\nTEL;CELL:123\r\nEND:VCARD\r\n"
    p = props(to_version(v21, "3.0"))
    assert p["N"].value == "M\u00fcller;Hans" and p["N"].params == []
    assert p["TEL"].param_values("TYPE") == ["CELL"]


def _normal(data):
    """A version-independent view of a card: what a user would see."""
    out = []
    for p in parse_components(data)[0].properties:
        if p.name in ("VERSION",):
            continue
        name = {"KIND": "X-ADDRESSBOOKSERVER-KIND", "MEMBER": "X-ADDRESSBOOKSERVER-MEMBER"}.get(p.name, p.name)
        types = {t.lower() for v in p.param_values("TYPE") for t in v.split(",")} - {"internet"}
        if p.param("PREF") is not None:
            types.add("pref")
        value = p.value
        if name == "PHOTO" and value.startswith("data:"):
            value = value.split(",", 1)[1]
            types = set()
        if name == "PHOTO":
            types = set()
        out.append((p.group, name, value.lower() if name == "X-ADDRESSBOOKSERVER-KIND" else value, tuple(sorted(types))))
    return sorted(out, key=repr)


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120).map(
    lambda t: t.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
)
_types = st.lists(st.sampled_from(["HOME", "WORK", "pref", "CELL", "VOICE"]), unique=True, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    fn=_text,
    note=_text,
    emails=st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.org", fullmatch=True), _types), max_size=3),
    tels=st.lists(st.tuples(st.from_regex(r"\+[0-9]{5,12}", fullmatch=True), _types), max_size=3),
    photo=st.one_of(st.none(), st.binary(min_size=1, max_size=300)),
    group=st.booleans(),
)
def test_round_trip_3_to_4_to_3(fn, note, emails, tels, photo, group):
    import base64

    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:abc-123", f"FN:{fn}", "N:Last;First;;;", f"NOTE:{note}"]
    for addr, types in emails:
        lines.append(f"EMAIL;TYPE={','.join(['INTERNET', *types])}:{addr}")
    for num, types in tels:
        lines.append(f"TEL{';TYPE=' + ','.join(types) if types else ''}:{num}")
    if photo is not None:
        lines.append("PHOTO;ENCODING=b;TYPE=PNG:" + base64.b64encode(photo).decode())
    if group:
        lines += ["X-ADDRESSBOOKSERVER-KIND:group", "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:1"]
    lines.append("END:VCARD")
    v3 = ("\r\n".join(lines) + "\r\n").encode()
    v4 = to_version(v3, "4.0")
    assert summarize_vcard(v4).version == "4.0"
    assert summarize_vcard(v4).fn == summarize_vcard(v3).fn
    back = to_version(v4, "3.0")
    assert summarize_vcard(back).uid == "abc-123"
    assert _normal(back) == _normal(v3)
    # and 4.0 -> 3.0 -> 4.0 is stable too
    assert _normal(to_version(back, "4.0")) == _normal(v4)
    # every serialised line is folded to at most 75 octets
    assert all(len(line) <= 75 for line in v4.split(b"\r\n"))
