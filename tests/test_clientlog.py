"""The per-connection client-error log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from smsync.clientlog import QUOTE_LIMIT, ClientErrors, peer_of, quote
from twisted.internet.address import IPv4Address, IPv6Address


class Captured(list):
    def __enter__(self):
        globalLogPublisher.addObserver(self.append)
        return self

    def __exit__(self, *exc):
        globalLogPublisher.removeObserver(self.append)

    def lines(self):
        return [formatEvent(e) for e in self if e.get("log_namespace") == "smsync.client"]


@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_quote_is_one_bounded_printable_line(data):
    q = quote(data)
    assert "\n" not in q and "\r" not in q
    assert q.isprintable()
    assert len(q) <= QUOTE_LIMIT * 10 + 3  # escapes at most ten characters per input character


def test_errors_are_logged_up_to_the_limit_then_counted():
    errors = ClientErrors("imap", "192.0.2.7:4000", limit=3)
    with Captured() as events:
        for i in range(10):
            errors(b"a%d FROB\r\n" % i, "BAD unknown command")
        errors.closed()
    lines = events.lines()
    assert lines[0] == "imap: 192.0.2.7:4000: a0 FROB\\r\\n -> BAD unknown command"
    assert len(lines) == 5  # three errors, "no more", and the count at the end
    assert "not logged" in lines[3] and "after 10 client errors" in lines[4]


def test_account_and_failed_login_lines():
    errors = ClientErrors("pop3", peer_of(type("T", (), {"getPeer": lambda s: IPv6Address("TCP", "::1", 5)})()))
    assert errors.peer == "[::1]:5"
    with Captured() as events:
        errors.auth_failed("mallory@example.org")
        errors.account = "alice@example.org"
        errors("RETR 9", "-ERR no such message")
    lines = events.lines()
    assert lines[0] == "smsync: pop3: authentication failed for mallory@example.org from ::1"
    assert [e["log_level"] for e in events if e.get("log_namespace") == "smsync.client"][0] == LogLevel.warn
    assert lines[1] == "pop3: [::1]:5 (alice@example.org): RETR 9 -> -ERR no such message"
    v4 = type("T", (), {"getPeer": lambda s: IPv4Address("TCP", "10.0.0.1", 99)})()
    assert peer_of(v4) == "10.0.0.1:99"
    assert peer_of(object()) == "?"


def test_the_documented_fail2ban_filter_matches_failed_logins():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "running.md").read_text("utf-8")
    failregex = re.search(r"^\s*failregex = (.+)$", doc, re.M).group(1)
    # fail2ban's <HOST> tag, as it expands it for an address.
    pattern = re.compile(failregex.replace("<HOST>", r"(?P<host>[\w.:\[\]-]+)"))
    for protocol, peer, host in [("imap", "192.0.2.7:51544", "192.0.2.7"),
                                 ("dav", "[2001:db8::1]:443", "2001:db8::1")]:
        with Captured() as events:
            ClientErrors(protocol, peer).auth_failed("mallory@example.org")
            ClientErrors(protocol, peer)("a1 LOGIN", "NO something else")
        lines = events.lines()
        matched = [m.group("host") for m in map(pattern.search, lines) if m]
        assert matched == [host], lines
