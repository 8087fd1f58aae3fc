"""The IMAP server over the ``sqlite:`` store: the same protocol, a store that commits
on worker threads and keeps bodies in files."""

from __future__ import annotations

import pytest_twisted
from imap_harness import in_thread

MSG = b"From: carol@example.org\r\nSubject: stored in sqlite\r\nMessage-ID: <s@x>\r\n\r\n" + b"line\r\n" * 2000


@pytest_twisted.ensureDeferred
async def test_append_fetch_search_over_sqlite(sqlite_server):
    server = sqlite_server

    def client():
        c = server.imapclient()
        c.append("INBOX", MSG, flags=[b"\\Flagged"])
        c.select_folder("INBOX")
        assert c.search(["SUBJECT", "sqlite"]) == [1]
        data = c.fetch([1], ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS", "BODY.PEEK[TEXT]<7000.20>"])[1]
        assert data[b"BODY[]"] == MSG and data[b"RFC822.SIZE"] == len(MSG)
        assert data[b"BODY[TEXT]<7000>"] == (b"line\r\n" * 2000)[7000:7020]
        c.copy([1], "Archive")
        c.logout()

    await in_thread(client)
    archive = await server.mailbox("Archive")
    (info,) = await archive.messages()
    assert "\\Flagged" in info.flags
    assert await archive.read_body(info.uid, 0, 4) == b"From"


@pytest_twisted.ensureDeferred
async def test_idle_over_sqlite_woken_by_store_append(sqlite_server):
    server = sqlite_server

    def start():
        c = server.imapclient()
        c.select_folder("INBOX")
        c.idle()
        return c

    idler = await in_thread(start)
    box = await server.mailbox()
    await box.append(MSG)
    responses = await in_thread(idler.idle_check, 5)
    assert (1, b"EXISTS") in responses

    def finish():
        idler.idle_done()
        idler.logout()

    await in_thread(finish)
