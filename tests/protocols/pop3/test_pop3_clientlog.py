"""POP3 client errors and failed logins leave log lines (never a password)."""

from __future__ import annotations

import poplib

import pytest
import pytest_twisted
from pop3_harness import PASSWORD, USER, in_thread


@pytest_twisted.ensureDeferred
async def test_errors_and_failed_logins_are_logged(server, log_capture):
    await server.deliver(b"Subject: one\r\n\r\nbody\r\n")

    def session():
        c = server.poplib(login=False)
        c.user(USER)
        with pytest.raises(poplib.error_proto):
            c.pass_("guessed-secret-2")
        c.quit()
        c = server.poplib()
        with pytest.raises(poplib.error_proto):
            c.retr(99)
        with pytest.raises(poplib.error_proto):
            c._shortcmd("FROB secret-arg")  # noqa: SLF001 - an unknown command
        c.quit()

    await in_thread(session)
    lines = log_capture.lines("smsync.client")
    text = "\n".join(lines)
    assert f"smsync: pop3: authentication failed for {USER} from 127.0.0.1" in text
    assert "guessed-secret-2" not in text and PASSWORD not in text and "secret-arg" not in text
    assert f"({USER}): RETR -> -ERR " in text
    assert "FROB -> -ERR unknown command" in text
    assert "PASS -> -ERR" not in text  # the failed login has its own line
