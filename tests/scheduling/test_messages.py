"""What implicit scheduling writes (RFC 6638): the iTIP messages, SCHEDULE-STATUS, the
schedule tag, the inbox's METHOD; and finding the iTIP part of incoming iMIP mail."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from smsync.formats.icalendar import summarize_calendar
from smsync.scheduling import messages
from smsync.scheduling.imip import calendar_of_message, imip_message, may_carry_calendar

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\nDURATION:PT1H\r\nSUMMARY:Plan\r\n"
    "ORGANIZER;SCHEDULE-STATUS=2.0:mailto:alice@example.org\r\n"
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
    "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;SCHEDULE-STATUS=1.2:mailto:bob@example.org\r\n"
    "ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:carol@example.net\r\n"
    "ATTENDEE:mailto:dave@example.net\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def test_recipients_skip_the_organizer_and_client_scheduled_attendees():
    assert messages.recipients(EVENT, "alice@example.org") == {
        "bob@example.org": "bob@example.org", "dave@example.net": "dave@example.net"}


def test_schedule_tag_keeps_through_answers_and_moves_with_changes():
    tag = messages.schedule_tag(EVENT)
    answered = EVENT.replace(b"PARTSTAT=NEEDS-ACTION", b"PARTSTAT=ACCEPTED").replace(
        b"SCHEDULE-STATUS=1.2", b"SCHEDULE-STATUS=2.0").replace(b"DTSTAMP:2026", b"DTSTAMP:2025")
    assert messages.schedule_tag(answered) == tag
    assert not messages.significant_change(EVENT, answered)
    moved = EVENT.replace(b"SUMMARY:Plan", b"SUMMARY:Moved")
    assert messages.schedule_tag(moved) != tag
    assert messages.significant_change(EVENT, moved)


def test_request_drops_schedule_params_and_alarms():
    out = messages.message(EVENT, "REQUEST").decode()
    assert "METHOD:REQUEST" in out and "SCHEDULE-" not in out and "VALARM" not in out
    assert out.index("METHOD") < out.index("BEGIN:VEVENT")


def test_cancel_for_some_attendees():
    out = messages.message(EVENT, "CANCEL", only=["dave@example.net"], bump_sequence=True).decode()
    assert "METHOD:CANCEL" in out and "STATUS:CANCELLED" in out and "SEQUENCE:1" in out
    assert "dave@example.net" in out and "bob@example.org" not in out


def test_schedule_status_set_on_named_attendees():
    out = messages.set_schedule_status(EVENT, {"dave@example.net": "1.1"}).decode()
    assert "ATTENDEE;SCHEDULE-STATUS=1.1:mailto:dave@example.net" in out
    assert messages.partstat_of(EVENT, "BOB@example.org") == "NEEDS-ACTION"
    assert messages.partstat_of(EVENT, "nobody@example.org") is None


def test_inbox_keeps_the_method_in_a_storable_object():
    request = messages.message(EVENT, "REQUEST")
    stored = messages.to_inbox(request)
    summarize_calendar(stored)  # what the store validates: no METHOD
    assert messages.from_inbox(stored) == request
    assert messages.from_inbox(EVENT) == EVENT


def test_cancelled_marks_the_instances_named():
    out = messages.cancelled(EVENT).decode()
    assert "STATUS:CANCELLED" in out


def test_calendar_of_message_finds_the_itip_part_and_the_sender():
    mail = imip_message(messages.message(EVENT, "REQUEST"), method="REQUEST",
                        sender="alice@example.org", recipients=["bob@example.org"],
                        subject="Invitation", text="come")
    assert may_carry_calendar(mail)
    ics, senders = calendar_of_message(mail)
    assert b"METHOD:REQUEST" in ics and senders == ("alice@example.org",)


def test_calendar_of_message_ignores_attached_messages():
    inner = imip_message(messages.message(EVENT, "CANCEL"), method="CANCEL",
                         sender="alice@example.org", recipients=["bob@example.org"],
                         subject="x", text="x")
    outer = EmailMessage()
    outer["From"] = "eve@example.org"
    outer.set_content("see attached")
    outer.add_attachment(email.message_from_bytes(inner, policy=email.policy.default))
    assert calendar_of_message(outer.as_bytes()) is None
    assert not may_carry_calendar(b"Subject: hi\r\n\r\ntext/calendar is a type\r\n")
