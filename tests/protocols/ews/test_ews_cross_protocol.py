"""EWS beside IMAP over one SQLite store: what one client does, the other sees at once."""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted

from smsync.testing.servers import PASSWORD, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account, start, stop


@pytest.fixture
def both():
    running = start(("imap", "ews"))
    yield running
    stop(running)


@pytest_twisted.ensureDeferred
async def test_read_and_categories_over_ews_are_flags_in_imap_and_back(both):
    await both.deliver(numbered_message(1), numbered_message(2))

    def ews_marks():
        acc = account(both)
        for item in acc.inbox.filter(subject="message 1"):
            item.is_read = True
            item.categories = ["Work"]
            item.save(update_fields=["is_read", "categories"])

    await in_thread(ews_marks)

    def imap_reads_and_deletes():
        c = imaplib.IMAP4(both.host, both.port("imap"))
        c.login(USER, PASSWORD)
        c.select("INBOX")
        typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
        flags = {line.split()[2].decode(): line.decode() for line in data}
        c.uid("STORE", "2", "+FLAGS", "(\\Flagged \\Seen)")
        c.create("FromImap")
        c.logout()
        return flags

    flags = await in_thread(imap_reads_and_deletes)
    assert "\\Seen" in flags["1"] and "Work" in flags["1"] and "\\Seen" not in flags["2"]

    def ews_sees():
        acc = account(both)
        items = {i.subject: i for i in acc.inbox.all()}
        folders = [f.name for f in acc.msg_folder_root.children]
        return items["message 2"].is_read, "FromImap" in folders

    assert await in_thread(ews_sees) == (True, True)
