"""LMTP/SMTP client errors leave log lines: refused recipients, bad commands."""

from __future__ import annotations

import smtplib

import pytest_twisted
from delivery_harness import USER, in_thread


@pytest_twisted.ensureDeferred
async def test_refused_recipient_and_bad_command_are_logged(mx, log_capture):
    def session():
        c = smtplib.LMTP("127.0.0.1", mx.port("lmtp"), timeout=15)
        refused = c.sendmail("a@example.net", [USER, "nobody@example.org"], b"Subject: x\r\n\r\nhi\r\n")
        code = c.docmd("FROB", "secret-arg")[0]
        c.quit()
        return refused, code

    refused, code = await in_thread(session)
    assert list(refused) == ["nobody@example.org"] and refused["nobody@example.org"][0] == 550
    assert code == 500
    logged = "\n".join(log_capture.lines("smsync.client"))
    assert "lmtp: 127.0.0.1:" in logged and ": RCPT -> 550 " in logged
    assert ": FROB -> 500 5.5.1 command not recognised" in logged
    assert "secret-arg" not in logged
