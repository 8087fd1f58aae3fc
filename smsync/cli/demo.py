"""The demo account ``smsync init --demo`` creates: a few messages, events, a task and a
contact, so every protocol has something to show on first connection."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

DEMO_ACCOUNT = "demo@example.test"


def demo_password() -> str:
    """A random password that is easy to copy from a terminal."""
    return secrets.token_urlsafe(12)


def _message(subject: str, sender: str, text: str, when: datetime, html: str | None = None,
             attachment: tuple[str, bytes] | None = None) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = f"Demo User <{DEMO_ACCOUNT}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="text", subtype="plain", filename=name)
    return msg.as_bytes()


def demo_messages(now: datetime) -> list[tuple[str, bytes, tuple[str, ...], datetime]]:
    """(folder, RFC 5322 bytes, flags, internal date) of the demo mail."""
    day = timedelta(days=1)
    return [
        ("INBOX", _message("Welcome to smsync", "smsync <postmaster@example.test>",
                           "This account lives in your smsync store.\n\n"
                           "Reach it over IMAP, POP3, CalDAV, CardDAV, ActiveSync, EWS or "
                           "SyncML: a change made through one is seen by all.\n",
                           now - 2 * day), ("\\Seen",), now - 2 * day),
        ("INBOX", _message("Lunch on Friday?", "Alice Example <alice@example.test>",
                           "Shall we try the new place on Friday?\n", now - day,
                           html="<p>Shall we try the <b>new place</b> on Friday?</p>"),
         (), now - day),
        ("INBOX", _message("Minutes of the planning meeting", "Bob Example <bob@example.test>",
                           "Minutes attached.\n", now - timedelta(hours=3),
                           attachment=("minutes.txt", b"1. Ship it.\r\n2. Celebrate.\r\n")),
         ("\\Flagged",), now - timedelta(hours=3)),
        ("Sent", _message("Re: Lunch on Friday?", f"Demo User <{DEMO_ACCOUNT}>",
                          "Yes, 12:30?\n", now - timedelta(hours=20)),
         ("\\Seen",), now - timedelta(hours=20)),
    ]


def _ics(body: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//smsync//demo//EN", *body.split("\n"),
             "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def demo_items(now: datetime) -> list[tuple[str, str, bytes]]:
    """(collection, item name, content) of the demo calendar, tasks and contacts."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    today = now.date()
    start = datetime(today.year, today.month, today.day, 10, 0, tzinfo=timezone.utc) + timedelta(days=1)
    fmt = "%Y%m%dT%H%M%SZ"
    return [
        ("calendar", "demo-planning.ics", _ics(
            f"BEGIN:VEVENT\nUID:demo-planning\nDTSTAMP:{stamp}\n"
            f"DTSTART:{start.strftime(fmt)}\nDTEND:{(start + timedelta(hours=1)).strftime(fmt)}\n"
            f"SUMMARY:Planning meeting\nLOCATION:Room 1\nEND:VEVENT")),
        ("calendar", "demo-weekly.ics", _ics(
            f"BEGIN:VEVENT\nUID:demo-weekly\nDTSTAMP:{stamp}\n"
            f"DTSTART:{(start + timedelta(hours=5)).strftime(fmt)}\n"
            f"DURATION:PT30M\nRRULE:FREQ=WEEKLY;COUNT=10\nSUMMARY:Weekly sync\nEND:VEVENT")),
        ("tasks", "demo-task.ics", _ics(
            f"BEGIN:VTODO\nUID:demo-task\nDTSTAMP:{stamp}\n"
            f"DUE:{(start + timedelta(days=2)).strftime(fmt)}\nSUMMARY:Try smsync on a phone\n"
            f"STATUS:NEEDS-ACTION\nEND:VTODO")),
        ("contacts", "demo-alice.vcf", (
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-alice\r\nFN:Alice Example\r\n"
            "N:Example;Alice;;;\r\nEMAIL;TYPE=INTERNET:alice@example.test\r\n"
            "TEL;TYPE=CELL:+1 555 0100\r\nEND:VCARD\r\n").encode("utf-8")),
    ]


async def seed(store, account: str = DEMO_ACCOUNT) -> tuple[int, int]:
    """Store the demo mail and items in ``account``; fire with (messages, items) stored."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    mail = await store.mail(account)
    messages = demo_messages(now)
    for folder, body, flags, when in messages:
        mailbox = await mail.mailbox(folder)
        await mailbox.append(body, flags=flags, internal_date=when)
    collections = await store.collections(account)
    items = demo_items(now)
    for name, item, content in items:
        collection = await collections.collection(name)
        await collection.put(item, content)
    return len(messages), len(items)
