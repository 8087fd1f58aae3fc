"""The pure parts of import/export: mbox, Maildir names, calendar and vCard splitting."""

import io
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.cli.maildir import flags_from_name
from smsync.cli.mbox import count_mbox, iter_mbox, mbox_entry, to_crlf
from smsync.cli.split import item_name, split_calendar, split_vcards
from smsync.errors import InvalidData
from smsync.formats.bundle import merge_calendars
from smsync.formats.icalendar import summarize_calendar
from smsync.formats.vcard import summarize_vcard

# Lines of message text: no CR or LF inside (line ends are the codec's business), and
# plenty of the troublesome "From " and ">From " starts.
line = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30),
    st.sampled_from(["From ", "From me Sat Nov 21 19:42:03 2026", ">From x", ">>From y", ""]),
    st.builds(lambda s: "From " + s, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)),
)
message = st.lists(line, min_size=1, max_size=12).map(
    lambda lines: "\r\n".join(["Subject: x", ""] + lines).encode("utf-8") + b"\r\n")
when = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(message, when), min_size=1, max_size=6))
def test_mbox_round_trip(messages):
    data = b"".join(mbox_entry(body, "a@example.org", date) for body, date in messages)
    parsed = list(iter_mbox(io.BytesIO(data)))
    assert [m.body for m in parsed] == [body for body, _ in messages]
    assert [m.internal_date for m in parsed] == [date for _, date in messages]
    assert count_mbox(io.BytesIO(data)) == len(messages)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_mbox_reader_never_fails_on_garbage_after_a_from_line(tail):
    data = b"From x Sat Nov 21 19:42:03 2026\n" + tail
    messages = list(iter_mbox(io.BytesIO(data)))
    assert len(messages) == count_mbox(io.BytesIO(data)) >= 1


def test_mbox_flags_dates_and_escapes():
    data = (b"From a@b Mon Nov 16 09:00:00 2026\nStatus: RO\nX-Status: AF\n\n>From x\nFrom y\n\n"
            b"From c@d Tue Nov 17 14:30:00 2026\nSubject: two\n\nbody\n")
    first, second = iter_mbox(io.BytesIO(data))
    assert first.flags == {"\\Seen", "\\Answered", "\\Flagged"}
    assert first.internal_date == datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
    # ">From x" was an escaped "From x"; "From y" (no blank line before, no date) is body.
    assert first.body == b"Status: RO\r\nX-Status: AF\r\n\r\nFrom x\r\nFrom y\r\n"
    assert second.flags == frozenset() and second.body == b"Subject: two\r\n\r\nbody\r\n"


def test_not_an_mbox():
    with pytest.raises(ValueError, match="not an mbox"):
        list(iter_mbox(io.BytesIO(b"Subject: hi\n\nbody\n")))


def test_to_crlf_leaves_crlf_alone():
    assert to_crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"


@pytest.mark.parametrize("name, flags", [
    ("1700000000.M1P2.host:2,FRS", {"\\Flagged", "\\Answered", "\\Seen"}),
    ("1700000000.M1P2.host:2,DT", {"\\Draft", "\\Deleted"}),
    ("1700000000.M1P2.host!2,S", {"\\Seen"}),
    ("1700000000.M1P2.host", set()),
])
def test_maildir_flags(name, flags):
    assert flags_from_name(name) == flags


def _calendar(*bodies, method=True):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN"]
    if method:
        lines.append("METHOD:PUBLISH")
    lines += ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD", "DTSTART:19701025T030000",
              "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE",
              "BEGIN:VTIMEZONE", "TZID:Unused/Zone", "BEGIN:STANDARD", "DTSTART:19700101T000000",
              "TZOFFSETFROM:+0000", "TZOFFSETTO:+0000", "END:STANDARD", "END:VTIMEZONE"]
    for body in bodies:
        lines += body
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _event(uid, start="20261116T093000", tz=True, extra=()):
    dt = f"DTSTART;TZID=Europe/Berlin:{start}" if tz else f"DTSTART:{start}Z"
    uid_line = [f"UID:{uid}"] if uid else []
    return ["BEGIN:VEVENT", *uid_line, "DTSTAMP:20261101T000000Z", dt, *extra, "SUMMARY:x",
            "END:VEVENT"]


def test_split_calendar_one_item_per_uid_with_its_timezones():
    data = _calendar(_event("a"), _event("b", tz=False),
                     _event("a", start="20261117T093000", extra=["RECURRENCE-ID;TZID=Europe/Berlin:20261117T093000"]),
                     ["BEGIN:VTODO", "UID:t", "DTSTAMP:20261101T000000Z", "END:VTODO"])
    items = split_calendar(data)
    assert [(i.uid, i.component, i.name) for i in items] == [
        ("a", "VEVENT", "a.ics"), ("b", "VEVENT", "b.ics"), ("t", "VTODO", "t.ics")]
    a, b, t = items
    assert a.content.count(b"BEGIN:VEVENT") == 2
    assert b"TZID:Europe/Berlin" in a.content and b"Unused/Zone" not in a.content
    assert b"VTIMEZONE" not in b.content
    for item in items:
        assert b"METHOD" not in item.content
        summary = summarize_calendar(item.content)  # each item is a valid stored object
        assert (summary.uid, summary.component) == (item.uid, item.component)


def test_split_calendar_gives_stable_uids_to_components_without_one():
    data = _calendar(_event(None))
    first, = split_calendar(data)
    again, = split_calendar(data)
    assert first.uid == again.uid and first.content == again.content
    assert summarize_calendar(first.content).uid == first.uid


@pytest.mark.parametrize("data", [b"", b"BEGIN:VCARD\r\nEND:VCARD\r\n", b"garbage",
                                  b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n"])
def test_split_calendar_rejects_non_calendars(data):
    with pytest.raises(InvalidData):
        split_calendar(data)


uids = st.lists(st.text("abcdef0123456789-@.", min_size=1, max_size=12), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(uids)
def test_split_then_merge_keeps_every_component(uid_list):
    data = _calendar(*[_event(u, start=f"2026111{i % 10}T093000") for i, u in enumerate(uid_list)])
    items = split_calendar(data)
    assert [i.uid for i in items] == list(dict.fromkeys(uid_list))
    assert sum(i.content.count(b"BEGIN:VEVENT") for i in items) == len(uid_list)
    merged = merge_calendars([i.content for i in items])
    assert merged.count(b"BEGIN:VEVENT") == len(uid_list)
    assert merged.count(b"BEGIN:VTIMEZONE") == 1
    assert [i.uid for i in split_calendar(merged)] == [i.uid for i in items]


def test_split_vcards_keeps_cards_as_written_and_adds_missing_uids():
    data = (b"BEGIN:VCARD\nVERSION:2.1\nUID:x1\nN;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;;;;\nFN:M\n"
            b"END:VCARD\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nN:Uid;No;;;\r\nEND:VCARD\r\n")
    first, second = split_vcards(data)
    assert first.uid == "x1" and first.name == "x1.vcf"
    assert b"N;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;;;;" in first.content
    assert summarize_vcard(second.content).uid == second.uid
    assert split_vcards(data)[1].uid == second.uid  # stable: re-import updates in place


@pytest.mark.parametrize("data", [b"", b"hello\n", b"BEGIN:VCARD\nFN:x\n"])
def test_split_vcards_rejects_non_vcards(data):
    with pytest.raises(InvalidData):
        split_vcards(data)


@given(st.text(max_size=200))
def test_item_names_are_safe_path_segments(uid):
    name = item_name(uid, ".ics")
    assert name.endswith(".ics") and "/" not in name and len(name) <= 124
    assert name[:-4] not in ("", ".", "..")
