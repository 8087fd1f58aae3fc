"""LMTP/SMTP client errors leave log lines: refused recipients, bad commands."""

from __future__ import annotations

import smtplib

import pytest_twisted
from delivery_harness import USER, in_thread
from twisted.logger import formatEvent, globalLogPublisher


@pytest_twisted.ensureDeferred
async def test_refused_recipient_and_bad_command_are_logged(mx):
    def session():
        c = smtplib.LMTP("127.0.0.1", mx.port("lmtp"), timeout=15)
        refused = None
        try:
            c.sendmail("a@example.net", [USER, "nobody@example.org"], b"Subject: x\r\n\r\nhi\r\n")
        except smtplib.SMTPRecipientsRefused as e:
            refused = e
        code = c.docmd("FROB", "secret-arg")[0]
        c.quit()
        return refused, code

    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        _refused, code = await in_thread(session)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert code == 500
    logged = "\n".join(formatEvent(e) for e in events if e.get("log_namespace") == "smsync.client")
    assert "lmtp: 127.0.0.1:" in logged and ": RCPT -> 550 " in logged
    assert ": FROB -> 500 5.5.1 command not recognised" in logged
    assert "secret-arg" not in logged
