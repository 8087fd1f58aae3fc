"""Client-caused errors and failed logins leave log lines (and never a password)."""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread


@pytest_twisted.ensureDeferred
async def test_errors_and_failed_logins_are_logged(server, log_capture):
    def session():
        c = server.imaplib(login=False)
        with pytest.raises(imaplib.IMAP4.error):
            c.login(USER, "guessed-secret-1")
        c.login(USER, PASSWORD)
        c.select("INBOX")
        assert c.select('"No Such Folder"')[0] == "NO"
        c.logout()
        raw = server.raw()
        assert raw.command(b"f1", b"FROB x")[-1].startswith(b"f1 BAD")
        raw.close()

    await in_thread(session)
    text = "\n".join(log_capture.lines("smsync.client"))
    assert f"imap: authentication failed for {USER} from 127.0.0.1" in text
    assert "guessed-secret-1" not in text and PASSWORD not in text
    assert f"({USER}): " in text and " SELECT -> NO " in text
    assert " FROB -> BAD " in text


@pytest_twisted.ensureDeferred
async def test_garbage_is_logged_a_bounded_number_of_times(server, log_capture):
    def flood():
        raw = server.raw()
        for i in range(100):
            raw.send(b"%d NOSUCHCOMMAND secret-ish-argument\r\n" % i)
        raw.command(b"z", b"LOGOUT")
        raw.close()

    await in_thread(flood)
    text = log_capture.lines("smsync.client")
    errors = [line for line in text if "NOSUCHCOMMAND -> BAD" in line]
    assert len(errors) == 20
    assert any("further client errors on this connection are not logged" in line for line in text)
    assert not any("secret-ish-argument" in line for line in text)
