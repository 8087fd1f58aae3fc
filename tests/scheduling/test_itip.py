"""The iTIP functions: reading a REQUEST, building a REPLY (RFC 5546 3.2.3), setting one
attendee's PARTSTAT without touching anything else, and the iMIP mail a reply travels
in (RFC 6047)."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.message import parse_message
from smsync.scheduling import imip, itip

REQUEST = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Test//EN\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:meet-1@example.org\r\nSEQUENCE:2\r\nDTSTAMP:20270301T090000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20270310T100000\r\nDTEND;TZID=Europe/Berlin:20270310T110000\r\n"
    "SUMMARY:Plans\\, again\r\nLOCATION:Room 1\r\nX-CUSTOM;X-P=1:kept\r\n"
    "ORGANIZER;CN=Bob:mailto:bob@example.org\r\n"
    "ATTENDEE;CN=Alice;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Alice@Example.org\r\n"
    "ATTENDEE;CN=Carol;PARTSTAT=ACCEPTED:mailto:carol@example.org\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()

NOW = datetime(2027, 3, 2, 8, 0, tzinfo=timezone.utc)


def _only(data: bytes):
    [cal] = parse_components(data)
    return cal


def test_parse_itip_reads_method_uid_organizer_and_attendees():
    got = itip.parse_itip(REQUEST)
    assert (got.method, got.component, got.uid, got.sequence) == ("REQUEST", "VEVENT", "meet-1@example.org", 2)
    assert (got.organizer, got.organizer_name, got.summary) == ("bob@example.org", "Bob", "Plans, again")
    alice = got.attendee("mailto:alice@example.org")
    assert alice == itip.Attendee("Alice@Example.org", "Alice", "NEEDS-ACTION", True, "REQ-PARTICIPANT")
    assert got.attendee("carol@EXAMPLE.org").partstat == "ACCEPTED"
    assert got.attendee("dave@example.org") is None and got.has_master


@pytest.mark.parametrize("data", [
    b"",
    b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
    REQUEST.replace(b"METHOD:REQUEST\r\n", b""),
    REQUEST.replace(b"UID:meet-1@example.org\r\n", b""),
])
def test_parse_itip_refuses_what_is_no_scheduling_message(data):
    with pytest.raises(InvalidData):
        itip.parse_itip(data)


def test_reply_has_what_rfc_5546_requires_and_only_the_attendee():
    out = itip.reply(REQUEST, "alice@example.org", "accepted", comment="See you; there", now=NOW)
    cal = _only(out)
    assert cal.value("METHOD") == "REPLY"
    assert [c.name for c in cal.components] == ["VTIMEZONE", "VEVENT"]
    event = cal.components[1]
    assert event.value("UID") == "meet-1@example.org" and event.value("SEQUENCE") == "2"
    assert event.value("DTSTAMP") == "20270302T080000Z"
    assert event.get("ORGANIZER").value == "mailto:bob@example.org"
    [attendee] = event.get_all("ATTENDEE")
    assert attendee.value == "mailto:Alice@Example.org"
    assert attendee.param("PARTSTAT") == "ACCEPTED" and attendee.param("RSVP") is None
    assert attendee.param("CN") == "Alice"
    assert event.value("COMMENT") == "See you\\; there"
    assert event.get("X-CUSTOM") is None and event.get("LOCATION") is None
    assert itip.parse_itip(out).method == "REPLY"


def test_reply_answers_each_instance_that_lists_the_attendee():
    override = (b"BEGIN:VEVENT\r\nUID:meet-1@example.org\r\nRECURRENCE-ID:20270317T090000Z\r\n"
                b"DTSTART:20270317T100000Z\r\nDTEND:20270317T110000Z\r\nSEQUENCE:2\r\n"
                b"ORGANIZER:mailto:bob@example.org\r\nATTENDEE:mailto:alice@example.org\r\nEND:VEVENT\r\n")
    data = REQUEST.replace(b"END:VCALENDAR", override + b"END:VCALENDAR")
    events = [c for c in _only(itip.reply(data, "alice@example.org", "TENTATIVE", now=NOW)).components
              if c.name == "VEVENT"]
    assert [e.value("RECURRENCE-ID") for e in events] == [None, "20270317T090000Z"]
    assert all(e.get("ATTENDEE").param("PARTSTAT") == "TENTATIVE" for e in events)


def test_reply_refuses_bad_answers():
    with pytest.raises(InvalidData):
        itip.reply(REQUEST, "alice@example.org", "MAYBE")
    with pytest.raises(InvalidData):
        itip.reply(REQUEST.replace(b"ORGANIZER;CN=Bob:mailto:bob@example.org\r\n", b""),
                   "alice@example.org", "ACCEPTED")
    with pytest.raises(InvalidData):
        itip.reply(REQUEST, "mailto:", "ACCEPTED")


def test_apply_partstat_and_calendar_object_keep_everything_else():
    stored = itip.calendar_object(REQUEST)
    assert _only(stored).get("METHOD") is None
    summarize_calendar(stored)  # a valid calendar object resource
    out = itip.apply_partstat(stored, "alice@example.org", "declined")
    event = next(c for c in _only(out).components if c.name == "VEVENT")
    alice, carol = event.get_all("ATTENDEE")
    assert alice.params == [("CN", ["Alice"]), ("ROLE", ["REQ-PARTICIPANT"]),
                            ("PARTSTAT", ["DECLINED"]), ("RSVP", ["TRUE"])]
    assert carol.param("PARTSTAT") == "ACCEPTED"
    assert event.get("X-CUSTOM").param("X-P") == "1" and event.value("SUMMARY") == "Plans\\, again"


def test_apply_partstat_adds_an_attendee_not_listed():
    out = itip.apply_partstat(REQUEST, "dave@example.org", "ACCEPTED")
    got = itip.parse_itip(out)
    assert got.attendee("dave@example.org").partstat == "ACCEPTED"
    assert len(got.attendees) == 3


# -- properties ---------------------------------------------------------------------------

_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                              blacklist_categories=("Cs",)), max_size=30)
_name = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=10).filter(
    lambda n: n not in ("BEGIN", "END") and n.strip("-"))
_params = st.lists(st.tuples(_name.map(lambda n: "X-" + n), st.lists(_text.filter(lambda t: '"' not in t), min_size=1, max_size=2)),
                   max_size=3, unique_by=lambda p: p[0])
_address = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(org|net)", fullmatch=True)


@st.composite
def events(draw):
    """An iTIP REQUEST with random X- properties and attendees (params and all)."""
    attendees = draw(st.lists(_address, min_size=1, max_size=4, unique=True))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "METHOD:REQUEST", "BEGIN:VEVENT",
             "UID:" + draw(st.from_regex(r"[A-Za-z0-9@.\-]{1,30}", fullmatch=True)),
             "DTSTART:20270310T100000Z", "ORGANIZER:mailto:boss@example.com"]
    for address in attendees:
        params = draw(_params)
        partstat = draw(st.sampled_from(itip.PARTSTATS))
        cut = draw(st.integers(0, len(params)))
        params = params[:cut] + [("PARTSTAT", [partstat])] + params[cut:]
        rendered = "".join(";" + k + "=" + ",".join('"' + v + '"' for v in vs) for k, vs in params)
        lines.append(f"ATTENDEE{rendered}:mailto:{address}")
    for name, text in draw(st.lists(st.tuples(_name, _text), max_size=4)):
        lines.append(f"X-{name}:{text}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines).encode() + b"\r\n", attendees


def _shape(cal):
    return [(c.name, [(p.name, p.value, p.params) for p in c.properties]) for c in cal.components]


@settings(max_examples=150, deadline=None)
@given(events(), st.data(), st.sampled_from(itip.PARTSTATS))
def test_apply_partstat_changes_only_that_partstat(case, data, partstat):
    raw, attendees = case
    who = data.draw(st.sampled_from(attendees))
    before = _only(raw)
    after = _only(itip.apply_partstat(raw, who.upper(), partstat))
    expected = _shape(before)
    for _, props in expected:
        for i, (name, value, params) in enumerate(props):
            if name == "ATTENDEE" and itip.same_address(value, who):
                props[i] = (name, value, [(k, [partstat] if k == "PARTSTAT" else v) for k, v in params])
    assert _shape(after) == expected
    assert itip.parse_itip(itip.apply_partstat(raw, who, partstat)).attendee(who).partstat == partstat


@settings(max_examples=150, deadline=None)
@given(events(), st.data(), st.sampled_from(itip.PARTSTATS), st.one_of(st.none(), _text))
def test_reply_round_trips_through_parse(case, data, partstat, comment):
    raw, attendees = case
    who = data.draw(st.sampled_from(attendees))
    out = itip.reply(raw, who, partstat, comment=comment, now=NOW)
    got = itip.parse_itip(out)
    assert (got.method, got.uid, got.organizer) == ("REPLY", itip.parse_itip(raw).uid, "boss@example.com")
    assert [(a.address, a.partstat) for a in got.attendees] == [(who, partstat)]
    event = _only(out).components[0]
    if comment:
        from smsync.formats.contentlines import unescape_text
        assert unescape_text(event.value("COMMENT")) == comment.replace("\r\n", "\n")
    # The mail around it carries the same object, byte for byte once decoded.
    mail = imip.reply_message(out, attendee=who, organizer="boss@example.com", partstat=partstat,
                              summary=comment, comment=comment, now=NOW)
    structure = parse_message(mail)
    part = imip.calendar_part(structure)
    assert part.param("method") == "REPLY"
    assert imip.decode_part(mail[part.header_end:part.body_end], part).replace(b"\r\n", b"\n") \
        == out.replace(b"\r\n", b"\n")


def test_reply_message_is_an_rfc_6047_reply_from_the_attendee():
    ics = itip.reply(REQUEST, "alice@example.org", "DECLINED", now=NOW)
    raw = imip.reply_message(ics, attendee="alice@example.org", organizer="bob@example.org",
                             partstat="DECLINED", summary="Plans, again", attendee_name="Alice",
                             comment="Away that week.", now=NOW)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Declined: Plans, again"
    assert message["From"] == "Alice <alice@example.org>" and message["To"] == "bob@example.org"
    assert message["Message-ID"].endswith("@example.org>") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text, calendar = message.iter_parts()
    assert text.get_content_type() == "text/plain" and "Away that week." in text.get_content()
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REPLY"
    assert itip.parse_itip(calendar.get_content().encode()).attendee("alice@example.org").partstat == "DECLINED"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_calendar_part_prefers_the_one_with_a_method():
    raw = (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: x\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/calendar; name=old.ics\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b\r\n"
           b"Content-Type: text/calendar; method=REQUEST; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nSUMMARY:Caf=E9\r\n--b--\r\n")
    structure = parse_message(raw)
    part = imip.calendar_part(structure)
    assert part.param("method") == "REQUEST"
    assert imip.decode_part(raw[part.header_end:part.body_end], part) == "SUMMARY:Café".encode()
    assert imip.calendar_part(parse_message(b"Subject: none\r\n\r\nhi\r\n")) is None
