"""Sample content the conformance suite stores: messages, iCalendar objects, vCards.

Everything here is built from parameters so tests never depend on hidden fixtures; the
calendar samples use fixed UTC dates in 2024 so time-range answers are known exactly.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

CRLF = b"\r\n"


def message(subject: str = "Hello", body: str = "Hi there.\r\n", sender: str = "a@example.com",
            to: str = "b@example.com", extra_headers: str = "", size: int = 0) -> bytes:
    """A simple RFC 5322 text message; ``size`` pads the body to at least that many bytes."""
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Date: Mon, 04 Mar 2024 10:00:00 +0000\r\n"
        f"Message-ID: <{hashlib.sha1(repr((subject, body, size)).encode()).hexdigest()}@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"{extra_headers}\r\n"
    ).encode()
    data = head + body.encode()
    if len(data) < size:
        line = b"x" * 76 + CRLF
        data += line * ((size - len(data)) // len(line) + 1)
    return data


def multipart_message(subject: str = "With attachment") -> bytes:
    """A multipart/mixed message with a text part and a base64 attachment."""
    return (
        "From: a@example.com\r\nTo: b@example.com\r\n"
        f"Subject: {subject}\r\nDate: Tue, 05 Mar 2024 11:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        "preamble\r\n--XYZ\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "The text.\r\n--XYZ\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="a.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--XYZ--\r\n"
    ).encode()


def utc(*args) -> datetime:
    """An aware UTC datetime: ``utc(2024, 3, 4, 10)``."""
    return datetime(*args, tzinfo=timezone.utc)


def _vcalendar(*components: str) -> bytes:
    body = "".join(components)
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//smsync//conformance//EN\r\n"
            f"{body}END:VCALENDAR\r\n")
    return text.encode()


def event(uid: str, start: str = "20240304T100000Z", end: str = "20240304T110000Z",
          summary: str = "Meeting", extra: str = "") -> bytes:
    """One VEVENT; ``start``/``end`` are iCalendar DATE-TIME texts (end may be "")."""
    dtend = f"DTEND:{end}\r\n" if end else ""
    return _vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{start}\r\n"
        f"{dtend}SUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
    )


def recurring_event(uid: str = "recurring-1") -> bytes:
    """Daily 10:00-11:00Z on 2024-03-04..08, with 03-06 excluded (EXDATE) and 03-07 moved
    to 2024-03-20 15:00-16:00Z (a RECURRENCE-ID override)."""
    return _vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART:20240304T100000Z\r\nDTEND:20240304T110000Z\r\n"
        "RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE:20240306T100000Z\r\nSUMMARY:Standup\r\n"
        "END:VEVENT\r\n",
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "RECURRENCE-ID:20240307T100000Z\r\n"
        "DTSTART:20240320T150000Z\r\nDTEND:20240320T160000Z\r\nSUMMARY:Standup (moved)\r\n"
        "END:VEVENT\r\n",
    )


def all_day_event(uid: str = "allday-1") -> bytes:
    """An all-day event on 2024-04-10 (DATE value, no DTEND: one day)."""
    return _vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART;VALUE=DATE:20240410\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\n"
    )


def floating_event(uid: str = "floating-1") -> bytes:
    """2024-05-15 09:00-10:00 floating time (taken as UTC by the store)."""
    return event(uid, "20240515T090000", "20240515T100000", "Floating")


def tzid_event(uid: str = "tzid-1") -> bytes:
    """2024-07-01 10:00-11:00 Europe/Berlin (CEST, UTC+2): 08:00-09:00Z."""
    return _vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20240701T100000\r\n"
        "DTEND;TZID=Europe/Berlin:20240701T110000\r\nSUMMARY:Berlin\r\nEND:VEVENT\r\n"
    )


def yearly_event(uid: str = "yearly-1") -> bytes:
    """Every 1 January 12:00-13:00Z from 2024, forever (an infinite RRULE)."""
    return _vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART:20240101T120000Z\r\nDTEND:20240101T130000Z\r\nRRULE:FREQ=YEARLY\r\n"
        "SUMMARY:New year lunch\r\nEND:VEVENT\r\n"
    )


def todo(uid: str, extra: str = "", summary: str = "Task") -> bytes:
    """A VTODO; without ``extra`` it has neither DTSTART nor DUE (matches every range)."""
    return _vcalendar(
        f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\n"
        f"{extra}END:VTODO\r\n"
    )


def journal(uid: str, summary: str = "Note") -> bytes:
    return _vcalendar(
        f"BEGIN:VJOURNAL\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n"
        f"DTSTART;VALUE=DATE:20240301\r\nSUMMARY:{summary}\r\nEND:VJOURNAL\r\n"
    )


def two_uid_calendar() -> bytes:
    """Invalid for a CalDAV resource: two components with different UIDs."""
    return _vcalendar(
        "BEGIN:VEVENT\r\nUID:one\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240304T100000Z\r\n"
        "END:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:two\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240305T100000Z\r\n"
        "END:VEVENT\r\n",
    )


def no_uid_calendar() -> bytes:
    return _vcalendar(
        "BEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240304T100000Z\r\n"
        "SUMMARY:No UID\r\nEND:VEVENT\r\n"
    )


def vcard(uid: str, fn: str = "Jane Doe") -> bytes:
    family, _, given = fn.partition(" ")
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn}\r\nN:{given};{family};;;\r\n"
        "EMAIL;TYPE=INTERNET:jane@example.com\r\nEND:VCARD\r\n"
    ).encode()


def no_uid_vcard() -> bytes:
    return b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nobody\r\nN:;Nobody;;;\r\nEND:VCARD\r\n"


#: Bytes no calendar or address book may accept.
GARBAGE = b"this is not iCalendar\r\nnor vCard\r\n\x00\xff"
