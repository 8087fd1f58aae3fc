"""Header sections answered from the process's section cache (``messagecache.py``) stay
the sections of the message asked for: the same UID in another folder, or in a folder
of the same name made again, is another message."""

from __future__ import annotations

import pytest_twisted
from imap_harness import USER, in_thread

FIELDS = "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[HEADER])"


def _message(subject: str) -> bytes:
    return (f"From: a@example.org\r\nSubject: {subject}\r\nTo: b@example.org\r\n\r\n"
            f"body of {subject}\r\n").encode()


def _headers(c, mailbox: str) -> list[bytes]:
    c.select(mailbox)
    typ, data = c.uid("FETCH", "1:*", FIELDS)
    assert typ == "OK", data
    return [part[1] for part in data if isinstance(part, tuple)]


@pytest_twisted.ensureDeferred
async def test_cached_header_sections_belong_to_their_folder(sqlite_server):
    mail = await sqlite_server.store.mail(USER)
    await mail.create_mailbox("Other")
    await (await mail.mailbox("INBOX")).append(_message("in the inbox"))
    await (await mail.mailbox("Other")).append(_message("in the other folder"))

    def run():
        c = sqlite_server.imaplib()
        first = _headers(c, "INBOX"), _headers(c, "Other")
        again = _headers(c, "INBOX"), _headers(c, "Other")
        c.logout()
        return first, again

    first, again = await in_thread(run)
    assert again == first
    (inbox_fields, inbox_header), (other_fields, other_header) = first
    assert inbox_fields == b"From: a@example.org\r\nSubject: in the inbox\r\n\r\n"
    assert other_fields == b"From: a@example.org\r\nSubject: in the other folder\r\n\r\n"
    assert inbox_header.startswith(b"From: a@example.org\r\nSubject: in the inbox\r\n")

    # The folder deleted and made again under its name: UID 1 is a new message.
    await mail.delete_mailbox("Other")
    await mail.create_mailbox("Other")
    await (await mail.mailbox("Other")).append(_message("made again"))

    def after():
        c = sqlite_server.imaplib()
        got = _headers(c, "Other")
        c.logout()
        return got

    fields, header = await in_thread(after)
    assert fields == b"From: a@example.org\r\nSubject: made again\r\n\r\n"
    assert b"Subject: made again\r\n" in header


@pytest_twisted.ensureDeferred
async def test_partial_header_sections_are_not_taken_for_one_another(sqlite_server):
    """``BODY[HEADER]<0.10>`` and ``<0.20>`` answer with the same label (RFC 3501 7.4.2
    gives the origin only): each must still get its own length."""
    mail = await sqlite_server.store.mail(USER)
    await (await mail.mailbox("INBOX")).append(_message("partial"))

    def run():
        c = sqlite_server.imaplib()
        c.select("INBOX")
        got = []
        for spec in ("<0.10>", "<0.20>", "<0.10>"):
            typ, data = c.uid("FETCH", "1", f"(BODY.PEEK[HEADER]{spec})")
            assert typ == "OK", data
            got.append(data[0][1])
        c.logout()
        return got

    short, longer, again = await in_thread(run)
    assert short == b"From: a@example.org\r\n"[:10]
    assert len(longer) == 20 and again == short
