"""Every SyncML item format against bad input: random bytes and damaged real items give
``InvalidData`` or a valid stored item -- never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.vcard import summarize_vcard
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import formats_for

FORMATS = [f for kind in (CollectionKind.ADDRESSBOOK, CollectionKind.CALENDAR, CollectionKind.TASKS,
                          CollectionKind.NOTES) for f in formats_for(kind)]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLES = [
    b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J\r\nTEL;CELL:+49 1\r\n"
    b"PHOTO;ENCODING=BASE64;TYPE=JPEG:/9j/4AAQ\r\nEND:VCARD\r\n",
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nN:A;;;;\r\nEMAIL:a@b.c\r\nEND:VCARD\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nTZ:+01\r\nDAYLIGHT:TRUE;+02;20260329T010000Z;20261025T010000Z;;\r\n"
    b"BEGIN:VEVENT\r\nDTSTART:20260105T080000Z\r\nDTEND:20260105T090000Z\r\nRRULE:W1 MO WE #10\r\n"
    b"EXDATE:20260107T080000Z\r\nAALARM:20260105T074500Z;;0;\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VTODO\r\nDUE:20260110\r\nSTATUS:NEEDS ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260105T080000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VNOTE\r\nVERSION:1.1\r\nBODY:hello\r\nEND:VNOTE\r\n",
    b"<contact><FirstName>A</FirstName><Email1Address>a@b.c</Email1Address><Photo>AAAA</Photo></contact>",
    b"<appointment><Start>20260105T080000Z</Start><End>20260105T090000Z</End><IsRecurring>1</IsRecurring>"
    b"<RecurrenceType>1</RecurrenceType><DayOfWeekMask>2</DayOfWeekMask><NoEndDate>1</NoEndDate>"
    b"<Exceptions><ExcludeDate>2026-01-12</ExcludeDate></Exceptions></appointment>",
    b"<task><DueDate>2026-01-10</DueDate><Status>1</Status><ReminderSet>1</ReminderSet>"
    b"<ReminderTime>20260109T080000Z</ReminderTime></task>",
    b"<note><Subject>s</Subject><Body>b</Body></note>",
    b"plain text note",
]


def _valid_or_refused(fmt, data: bytes) -> None:
    try:
        out = fmt.to_canonical(data, None)
    except InvalidData:
        return
    assert isinstance(out, bytes)
    if fmt.kind is CollectionKind.ADDRESSBOOK:
        summarize_vcard(out)
    else:
        summarize_calendar(out)
    try:
        fmt.from_canonical(out)
    except InvalidData:
        raise AssertionError(f"{fmt.mime}: an item it stored cannot be sent back") from None


@SETTINGS
@given(st.sampled_from(FORMATS), st.binary(max_size=300))
def test_random_bytes(fmt, data):
    _valid_or_refused(fmt, data)


def _fits(fmt, sample: bytes) -> bool:
    try:
        fmt.to_canonical(sample, None)
        return True
    except InvalidData:
        return False


#: Each format with the samples it reads.
PAIRS = [(fmt, sample) for fmt in FORMATS for sample in SAMPLES if _fits(fmt, sample)]


def test_every_format_has_samples():
    assert {fmt.mime for fmt, _ in PAIRS} == {fmt.mime for fmt in FORMATS}


@st.composite
def damaged(draw):
    fmt, sample = draw(st.sampled_from(PAIRS))
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[at] = draw(st.sampled_from(b":;=,\r\n<>/&#TZ0-9 \x00\xff\xc3"))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 20))]
        else:
            data[at:at] = draw(st.sampled_from([b"=", b";", b":", b"\r\n", b"\r\n ", b"#0", b"T", b"Z", b"<x>",
                                                b"</Start>", b"99999999", b"-", b"ENCODING=QUOTED-PRINTABLE:"]))
    return fmt, bytes(data)


@SETTINGS
@given(damaged())
def test_damaged_items(case):
    _valid_or_refused(*case)


def test_other_kinds_are_refused():
    event = SAMPLES[4]
    for fmt in formats_for(CollectionKind.TASKS) + formats_for(CollectionKind.ADDRESSBOOK):
        try:
            fmt.from_canonical(event)
        except InvalidData:
            continue
        raise AssertionError(f"{fmt.mime} sent an event")


def test_items_given_as_text():
    for fmt, sample in PAIRS:
        assert fmt.to_canonical(sample.decode("utf-8"), None)
    for fmt in FORMATS:
        try:
            fmt.to_canonical(12345, None)
        except InvalidData:
            continue
        raise AssertionError(fmt.mime)
