"""SASL PLAIN (RFC 4616) and LOGIN decoding, shared by IMAP, POP3 and SMTP AUTH.

Pure functions over the client's bytes: each protocol frames the exchange (its own
continuation lines and answers) and calls these to read what the client sent.
"""

from __future__ import annotations

import base64
import binascii

import attrs

#: The LOGIN mechanism's two challenges (draft-murchison-sasl-login).
LOGIN_USER_CHALLENGE = b"Username:"
LOGIN_PASSWORD_CHALLENGE = b"Password:"


class SaslCancelled(Exception):
    """The client answered a challenge with ``*`` (RFC 4422 section 3.5)."""


class SaslMalformed(Exception):
    """The client's response cannot be read; the message says why, for the answer."""


@attrs.frozen
class PlainResponse:
    """What a PLAIN response carries; ``authzid`` is empty when the client acts as
    itself."""

    authzid: bytes
    authcid: bytes
    password: bytes

    @property
    def acts_as_other(self) -> bool:
        """True when the client asks to act as an identity other than its own (which
        smsync never allows)."""
        return bool(self.authzid) and self.authzid.lower() != self.authcid.lower()


def decode_response(line: bytes) -> bytes:
    """The bytes of one base64 client response; ``=`` is the empty response.

    Raises:
        SaslCancelled: the client sent ``*``.
        SaslMalformed: not base64.
    """
    line = line.strip()
    if line == b"*":
        raise SaslCancelled()
    if line == b"=":
        return b""
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise SaslMalformed("not base64") from None


def encode_response(data: bytes) -> bytes:
    """``data`` as a client or server sends it: base64, ``=`` when empty."""
    return base64.b64encode(data) if data else b"="


def parse_plain(raw: bytes) -> PlainResponse:
    """Split a decoded PLAIN message into its three fields.

    Raises:
        SaslMalformed: not three NUL-separated fields, or an empty user name.
    """
    fields = raw.split(b"\0")
    if len(fields) != 3:
        raise SaslMalformed("malformed PLAIN response")
    if not fields[1]:
        raise SaslMalformed("empty user name")
    return PlainResponse(*fields)


def decode_plain(line: bytes) -> PlainResponse:
    """Decode a base64 PLAIN response (``decode_response`` then ``parse_plain``)."""
    return parse_plain(decode_response(line))


def encode_plain(authcid: bytes, password: bytes, authzid: bytes = b"") -> bytes:
    """The base64 PLAIN response a client sends (for tests and outgoing AUTH)."""
    return encode_response(authzid + b"\0" + authcid + b"\0" + password)
