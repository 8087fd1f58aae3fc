"""Modified UTF-7 (RFC 3501 5.1.3): how IMAP4rev1 clients spell non-ASCII folder names.

Clients that ENABLE UTF8=ACCEPT or IMAP4rev2 use plain UTF-8 instead.
"""

from __future__ import annotations

import base64


def encode(name: str) -> bytes:
    """Encode a folder name as modified UTF-7."""
    out = bytearray()
    pending: list[str] = []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            pending.append(ch)
    flush()
    return bytes(out)


def decode(data: bytes) -> str:
    """Decode a modified UTF-7 name.

    Raises:
        ValueError: ``data`` is not valid modified UTF-7.
    """
    out = []
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b > 0x7E or b < 0x20:
            raise ValueError("8-bit or control character in modified UTF-7")
        if b != 0x26:
            out.append(chr(b))
            i += 1
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise ValueError("unterminated modified UTF-7 shift")
        chunk = data[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(b",", b"/")
            b64 += b"=" * (-len(b64) % 4)
            raw = base64.b64decode(b64, validate=True)
            if len(raw) % 2:
                raise ValueError("odd UTF-16 length in modified UTF-7")
            out.append(raw.decode("utf-16-be"))
        i = end + 1
    return "".join(out)


def decode_name(data: bytes, utf8: bool) -> str:
    """A folder name as a client sent it: UTF-8 when the session enabled it, else
    modified UTF-7 (falling back to UTF-8 for clients that send raw 8-bit anyway).

    Raises:
        ValueError: the name is neither.
    """
    if utf8 or any(b > 0x7F for b in data):
        return data.decode("utf-8")
    try:
        return decode(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(str(e)) from None
