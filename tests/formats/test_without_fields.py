"""Dropping header fields from a message's bytes, the rest kept byte for byte."""

from smsync.formats.headers import without_fields


def test_fields_go_with_their_continuation_lines():
    raw = (b"From: a@example.org\r\nBcc: hidden@example.org,\r\n  other@example.org\r\n"
           b"Subject: hi\r\nbcc: second@example.org\r\n\r\nBcc: in the body stays\r\n")
    assert without_fields(raw, "Bcc") == (b"From: a@example.org\r\nSubject: hi\r\n\r\n"
                                           b"Bcc: in the body stays\r\n")


def test_bare_line_feeds_and_a_message_that_is_all_header():
    assert without_fields(b"To: x@y\nBcc: z@y\n\nbody\n", "bcc") == b"To: x@y\n\nbody\n"
    assert without_fields(b"To: x@y\r\nBcc: z@y", "Bcc") == b"To: x@y"
    assert without_fields(b"Bcc: z@y\r\nTo: x@y\r\n", "Bcc") == b"To: x@y\r\n"
