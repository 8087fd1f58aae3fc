"""The per-connection client-error log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.logger import LogLevel

from smsync.clientlog import QUOTE_LIMIT, ClientErrors, quote


@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_quote_is_one_bounded_printable_line(data):
    q = quote(data)
    assert "\n" not in q and "\r" not in q
    assert q.isprintable()
    assert len(q) <= QUOTE_LIMIT * 10 + 3  # escapes at most ten characters per input character


def transport(address):
    return type("Transport", (), {"getPeer": lambda self: address})()


def test_errors_are_logged_up_to_the_limit_then_counted(log_capture):
    errors = ClientErrors("imap", "192.0.2.7", 4000, limit=3)
    for i in range(10):
        errors(b"a%d FROB\r\n" % i, "BAD unknown command")
    errors.closed()
    lines = log_capture.lines("smsync.client")
    assert lines[0] == "imap: 192.0.2.7:4000: a0 FROB\\r\\n -> BAD unknown command"
    assert len(lines) == 5  # three errors, "no more", and the count at the end
    assert "not logged" in lines[3] and "after 10 client errors" in lines[4]


def test_account_and_failed_login_lines(log_capture):
    errors = ClientErrors.of("pop3", transport(IPv6Address("TCP", "::1", 5)))
    assert errors.peer == "[::1]:5"
    errors.auth_failed("mallory@example.org")
    errors.account = "alice@example.org"
    errors("RETR 9", "-ERR no such message")
    lines = log_capture.lines("smsync.client")
    assert lines[0] == "smsync: pop3: authentication failed for mallory@example.org from ::1"
    levels = [e["log_level"] for e in log_capture.events if e.get("log_namespace") == "smsync.client"]
    assert levels[0] == LogLevel.warn
    assert lines[1] == "pop3: [::1]:5 (alice@example.org): RETR 9 -> -ERR no such message"
    assert ClientErrors.of("imap", transport(IPv4Address("TCP", "10.0.0.1", 99))).peer == "10.0.0.1:99"
    assert ClientErrors.of("imap", object()).peer == "?"


def test_the_documented_fail2ban_filter_matches_failed_logins(log_capture):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "running.md").read_text("utf-8")
    failregex = re.search(r"^\s*failregex = (.+)$", doc, re.M).group(1)
    # fail2ban's <HOST> tag, as it expands it for an address.
    pattern = re.compile(failregex.replace("<HOST>", r"(?P<host>[\w.:\[\]-]+)"))
    for protocol, host, port in [("imap", "192.0.2.7", 51544), ("dav", "2001:db8::1", 443)]:
        log_capture.events.clear()
        ClientErrors(protocol, host, port).auth_failed("mallory@example.org")
        ClientErrors(protocol, host, port)("a1 LOGIN", "NO something else")
        lines = log_capture.lines("smsync.client")
        matched = [m.group("host") for m in map(pattern.search, lines) if m]
        assert matched == [host], lines
