"""``smsync.scheduling.instances``: one occurrence's answer, cancel and override, whatever
form (a zone, UTC, a date) each side writes the RECURRENCE-ID in."""

from __future__ import annotations

from smsync.formats.contentlines import parse_components
from smsync.scheduling import instances

ALICE, BOB = "alice@example.org", "bob@example.org"


def _series(start: str, end: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:s",
                         "DTSTAMP:20260101T000000Z", start, end, "RRULE:FREQ=WEEKLY;COUNT=3",
                         "SEQUENCE:2", f"ORGANIZER:mailto:{ALICE}",
                         f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{BOB}", "END:VEVENT", "END:VCALENDAR", ""])).encode()


def _reply(rid_line: str, partstat: str) -> bytes:
    return ("\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "METHOD:REPLY", "BEGIN:VEVENT",
                         "UID:s", rid_line, "DTSTAMP:20260102T000000Z", f"ORGANIZER:mailto:{ALICE}",
                         f"ATTENDEE;PARTSTAT={partstat}:mailto:{BOB}", "END:VEVENT", "END:VCALENDAR", ""])).encode()


def _events(data: bytes):
    [cal] = parse_components(data)
    return [c for c in cal.components if c.name == "VEVENT"]


def test_an_answer_in_utc_to_a_zoned_series_makes_the_override_in_its_zone():
    stored = _series("DTSTART;TZID=Europe/Berlin:20270104T100000", "DTEND;TZID=Europe/Berlin:20270104T113000")
    out = instances.apply_reply(stored, _reply("RECURRENCE-ID:20270111T090000Z", "DECLINED"), BOB)
    master, made = _events(out)
    assert master.get("ATTENDEE").param("PARTSTAT") == "NEEDS-ACTION"
    rid = made.get("RECURRENCE-ID")
    assert (rid.value, rid.param("TZID")) == ("20270111T100000", "Europe/Berlin")
    assert made.value("DTEND") == "20270111T113000" and made.value("SEQUENCE") == "2"
    assert made.get("ATTENDEE").param("PARTSTAT") == "DECLINED" and made.get("RRULE") is None
    # Another attendee's answer sent by bob does not count; nor an instance the series lacks.
    assert instances.apply_reply(stored, _reply("RECURRENCE-ID:20270111T090000Z", "DECLINED"), ALICE) == \
        instances.apply_reply(stored, b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:s\r\n"
                              b"END:VEVENT\r\nEND:VCALENDAR\r\n", None)
    assert len(_events(instances.apply_reply(stored, _reply("RECURRENCE-ID:20270112T090000Z", "ACCEPTED"), BOB))) == 1


def test_all_day_series_and_a_cancelled_instance():
    stored = _series("DTSTART;VALUE=DATE:20270104", "DTEND;VALUE=DATE:20270105")
    out = instances.apply_reply(stored, _reply("RECURRENCE-ID;VALUE=DATE:20270111", "ACCEPTED"), BOB)
    _master, made = _events(out)
    assert made.value("RECURRENCE-ID") == "20270111" and made.get("RECURRENCE-ID").param("VALUE") == "DATE"
    assert made.value("DTEND") == "20270112"

    cancel = _reply("RECURRENCE-ID;VALUE=DATE:20270111", "NEEDS-ACTION").replace(b"METHOD:REPLY", b"METHOD:CANCEL")
    [master] = _events(instances.cancel_instances(out, ["20270111"], cancel))
    assert master.value("EXDATE") == "20270111" and master.get("EXDATE").param("VALUE") == "DATE"
