"""SyncML note formats: text/plain, vNote 1.1 (text/x-vnote) and SIF-N, against the
stored VJOURNAL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.errors import InvalidData
from smsync.formats.contentlines import escape_text, parse_components, split_raw, unescape_text
from smsync.formats.icalendar import summarize_calendar
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import formats_for, lookup

PLAIN = lookup(CollectionKind.NOTES, "text/plain")
VNOTE = lookup(CollectionKind.NOTES, "text/x-vnote")
SIFN = lookup(CollectionKind.NOTES, "text/x-s4j-sifn")
ICAL = lookup(CollectionKind.NOTES, "text/calendar")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_registered():
    assert {f.mime for f in formats_for(CollectionKind.NOTES)} == {
        "text/calendar", "text/plain", "text/x-vnote", "text/x-s4j-sifn"}


_word = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x2FF)
                | st.sampled_from(list("äöü€ -.,;:'&\\")), min_size=1, max_size=10).map(str.strip).filter(bool)
_line = st.lists(_word, min_size=1, max_size=5).map(" ".join)


@st.composite
def notes(draw, extras=True):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VJOURNAL", f"UID:{draw(st.uuids())}",
             "DTSTAMP:20260101T000000Z"]
    body = draw(st.lists(_line, min_size=1, max_size=4))
    shape = draw(st.sampled_from(["titled", "first-line", "text-only", "title-only"]))
    if shape == "titled":
        lines.append(f"SUMMARY:{escape_text(draw(_line))}")
        lines.append(f"DESCRIPTION:{escape_text(chr(10).join(body))}")
    elif shape == "first-line":
        lines.append(f"SUMMARY:{escape_text(body[0])}")
        lines.append(f"DESCRIPTION:{escape_text(chr(10).join(body))}")
    elif shape == "text-only":
        lines.append(f"DESCRIPTION:{escape_text(chr(10).join(body))}")
    else:
        lines.append(f"SUMMARY:{escape_text(body[0])}")
    if draw(st.booleans()):
        words = draw(st.lists(_word.filter(lambda w: not set(w) & set(",;")), min_size=1, max_size=3, unique_by=str.casefold))
        lines.append("CATEGORIES:" + ",".join(escape_text(w) for w in words))
    if extras and draw(st.booleans()):
        lines += ["DTSTART;VALUE=DATE:20260105", "X-EAS-MESSAGECLASS:IPM.StickyNote.Yellow"]
    lines += ["END:VJOURNAL", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def shown(data: bytes) -> dict:
    journal = parse_components(data)[0].components[0]
    text = "\n\n".join(unescape_text(p.value) for p in journal.get_all("DESCRIPTION"))
    title = unescape_text(journal.value("SUMMARY") or "") or text.split("\n")[0]
    return {"title": title, "text": text or title,
            "categories": sorted(unescape_text(v) for p in journal.get_all("CATEGORIES") for v in split_raw(p.value, ","))}


@SETTINGS
@given(notes())
def test_plain_round_trip(stored):
    check_round_trip(PLAIN, stored)


@SETTINGS
@given(notes())
def test_vnote_round_trip(stored):
    check_round_trip(VNOTE, stored)


@SETTINGS
@given(notes())
def test_sifn_round_trip(stored):
    check_round_trip(SIFN, stored)


def check_round_trip(fmt, stored):
    device = fmt.from_canonical(stored)
    added = fmt.to_canonical(device, None)
    summarize_calendar(added)
    assert summarize_calendar(added).component == "VJOURNAL"
    a, b = shown(stored), shown(added)
    if fmt is PLAIN:
        a["categories"] = b["categories"] = []
        assert fmt.from_canonical(added) == device
    else:
        assert a == b
    assert fmt.to_canonical(device, stored) == stored  # unchanged: nothing to store
    again = fmt.from_canonical(added)
    assert fmt.from_canonical(fmt.to_canonical(again, added)) == again


@SETTINGS
@given(notes(extras=False), _line)
def test_plain_edit_keeps_what_it_lacks(stored, extra):
    check_edit_keeps(PLAIN, stored, extra)


@SETTINGS
@given(notes(extras=False), _line)
def test_vnote_edit_keeps_what_it_lacks(stored, extra):
    check_edit_keeps(VNOTE, stored, extra)


@SETTINGS
@given(notes(extras=False), _line)
def test_sifn_edit_keeps_what_it_lacks(stored, extra):
    check_edit_keeps(SIFN, stored, extra)


def check_edit_keeps(fmt, stored, extra):
    stored = stored.replace(
        b"END:VJOURNAL", b"DTSTART;VALUE=DATE:20260105\r\nX-EAS-MESSAGECLASS:IPM.StickyNote.Yellow\r\n"
                         b"ATTACH;VALUE=URI:https://files.example/1\r\nEND:VJOURNAL")
    device = fmt.from_canonical(stored)
    if fmt is PLAIN:
        edited = device + b"\r\n" + extra.encode()
    elif fmt is VNOTE:
        edited = device.replace(b"END:VNOTE", b"CLASS:PRIVATE\r\nEND:VNOTE")
    else:
        edited = device.replace(b"</note>", b"<Color>2</Color></note>")
    result = fmt.to_canonical(edited, stored).decode()
    assert summarize_calendar(result.encode()).uid == summarize_calendar(stored).uid
    for kept in ("DTSTART;VALUE=DATE:20260105", "X-EAS-MESSAGECLASS:IPM.StickyNote.Yellow",
                 "ATTACH;VALUE=URI:https://files.example/1"):
        assert kept in result
    if fmt is PLAIN:
        assert unescape_text(parse_components(result.encode())[0].components[0].value("DESCRIPTION")).endswith(extra)
    elif fmt is VNOTE:
        assert "CLASS:PRIVATE" in result
    else:
        assert "X-SIF-COLOR;X-TAG=Color:2" in result


def test_plain_text_note():
    stored = PLAIN.to_canonical("Einkaufen\r\nMilch\r\nEier".encode(), None).decode()
    assert "SUMMARY:Einkaufen" in stored and "DESCRIPTION:Einkaufen\\nMilch\\nEier" in stored
    assert PLAIN.from_canonical(stored.encode()) == b"Einkaufen\r\nMilch\r\nEier"
    # An EAS note whose Subject is not part of its Body: shown as title line + body, and
    # read back that way, so editing the body on the device does not touch the title.
    eas = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:n1\r\nDTSTAMP:20260101T000000Z\r\n"
           b"SUMMARY:Ideas\r\nDESCRIPTION:one\\ntwo\r\nX-EAS-MESSAGECLASS:IPM.StickyNote\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n")
    assert PLAIN.from_canonical(eas) == b"Ideas\r\none\r\ntwo"
    edited = PLAIN.to_canonical(b"Ideas\r\none\r\ntwo\r\nthree", eas).decode()
    assert "SUMMARY:Ideas" in edited and "DESCRIPTION:one\\ntwo\\nthree" in edited and "UID:n1" in edited
    assert "X-EAS-MESSAGECLASS:IPM.StickyNote" in edited


NOKIA_VNOTE = (b"BEGIN:VNOTE\r\nVERSION:1.1\r\n"
               b"BODY;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Geburtstag Oma=0D=0AGeschenk: Buch =E2=82=AC=\r\n"
               b"20\r\nDCREATED:20260102T081500Z\r\nLAST-MODIFIED:20260103T091500Z\r\nCATEGORIES:PERSONAL;IDEAS\r\n"
               b"CLASS:PRIVATE\r\nX-IRMC-LUID:7\r\nEND:VNOTE\r\n")


def test_nokia_vnote():
    stored = VNOTE.to_canonical(NOKIA_VNOTE, None).decode()
    for part in ("SUMMARY:Geburtstag Oma", "DESCRIPTION:Geburtstag Oma\\nGeschenk: Buch €20", "CREATED:20260102T081500Z",
                 "LAST-MODIFIED:20260103T091500Z", "CATEGORIES:PERSONAL,IDEAS", "CLASS:PRIVATE"):
        assert part in stored, part
    assert "X-IRMC-LUID" not in stored
    back = VNOTE.from_canonical(stored.encode()).decode()
    assert "BODY;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Geburtstag Oma=0D=0AGeschenk: Buch =E2=82=AC20" in back
    assert "DCREATED:20260102T081500Z" in back and "CATEGORIES:PERSONAL;IDEAS" in back


def test_funambol_sifn():
    data = ("<?xml version='1.0' encoding='UTF-8'?><note><SIFVersion>1.1</SIFVersion><Subject>Telefonnummern</Subject>"
            "<Body>Telefonnummern&#13;\nPraxis: 030 123</Body><Categories>Privat</Categories><Color>1</Color>"
            "<Height>200</Height><Width>180</Width><Left>40</Left><Top>60</Top></note>").encode()
    stored = SIFN.to_canonical(data, None).decode()
    for part in ("SUMMARY:Telefonnummern", "DESCRIPTION:Telefonnummern\\nPraxis: 030 123", "CATEGORIES:Privat",
                 "X-SIF-COLOR;X-TAG=Color:1", "X-SIF-HEIGHT;X-TAG=Height:200", "X-SIF-TOP;X-TAG=Top:60"):
        assert part in stored, part
    back = etree.fromstring(SIFN.from_canonical(stored.encode()))
    assert back.findtext("Color") == "1" and back.findtext("Width") == "180" and back.findtext("Subject") == "Telefonnummern"
    assert SIFN.to_canonical(SIFN.from_canonical(stored.encode()), stored.encode()) == stored.encode()


@pytest.mark.parametrize("fmt,data", [(VNOTE, b"BEGIN:VCARD\r\nEND:VCARD\r\n"), (VNOTE, b"BODY:x\r\n"),
                                      (SIFN, b"<contact/>"), (SIFN, b"not xml"), (ICAL, b"BEGIN:VCALENDAR\r\n")])
def test_malformed(fmt, data):
    with pytest.raises(InvalidData):
        fmt.to_canonical(data, None)


def test_icalendar_journal_gets_a_uid():
    data = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VJOURNAL\r\nSUMMARY:x\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
    first = ICAL.to_canonical(data, None)
    uid = summarize_calendar(first).uid
    assert uid and summarize_calendar(ICAL.to_canonical(data, first)).uid == uid
