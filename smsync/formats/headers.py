"""RFC 5322 header fields: splitting, unfolding, RFC 2047 words, MIME parameters, dates;
and writing the unstructured and address fields of a message we build.

All functions are total: any input gives an answer, never an exception, because they
run on every message a store accepts, whatever a sender put in it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz

#: Header blocks larger than this are only parsed this far: a pathological "all header"
#: message must not be decoded into one huge string (offsets stay exact regardless).
MAX_PARSED_HEADER = 1 << 20

_FIELD_NAME_RE = re.compile(rb"[!-9;-~]+[ \t]*:")


def decode_text(raw: bytes) -> str:
    """Bytes of a header (or any text of unknown charset) as str, losslessly when possible.

    ASCII and valid UTF-8 decode as such (RFC 6532); anything else as Latin-1, which
    maps every byte to one character so nothing is lost or replaced.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def looks_like_header(data, start: int, end: int) -> bool:
    """Whether the line at ``start`` starts like a header field (``name:``)."""
    return _FIELD_NAME_RE.match(bytes(data[start : min(end, start + 1000)])) is not None


def split_fields(text: str) -> list[tuple[str, str]]:
    """Split an (unfolded or folded) header block into ``(lower-case name, value)``.

    Values are unfolded (line breaks before whitespace removed, RFC 5322 2.2.3) and
    stripped of surrounding whitespace. Lines that are neither a field nor a
    continuation are skipped, as mail user agents do.
    """
    fields: list[list[str]] = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        if line[0] in " \t":
            if fields:
                fields[-1][1] += line
            continue
        colon = line.find(":")
        if colon <= 0:
            continue
        name = line[:colon].strip()
        if not name or " " in name:
            continue
        fields.append([name.lower(), line[colon + 1 :]])
    return [(name, value.strip()) for name, value in fields]


def parse_header_fields(data, start: int = 0, end: int | None = None) -> list[tuple[str, str]]:
    """The fields of the header block ``data[start:end]`` (bytes-like) as
    ``(lower-case name, unfolded value)`` pairs in order.

    Stops at the first empty line if there is one inside the range.
    """
    if end is None:
        end = len(data)
    end = min(end, start + MAX_PARSED_HEADER)
    return split_fields(decode_text(bytes(data[start:end])))


# ---------------------------------------------------------------------------------------
# RFC 2047 encoded words

_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_BETWEEN_WORDS_RE = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
_Q_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _charset_codec(charset: str) -> str:
    charset = charset.split("*", 1)[0].strip().lower()  # RFC 2231 language suffix
    aliases = {"us-ascii": "ascii", "utf8": "utf-8", "unknown-8bit": "latin-1", "x-unknown": "latin-1"}
    charset = aliases.get(charset, charset)
    try:
        return codecs.lookup(charset).name
    except (LookupError, ValueError):
        return "latin-1"


def decode_charset(raw: bytes, charset: str | None) -> str:
    """``raw`` decoded as ``charset`` (bad bytes replaced); unknown or non-text
    charsets, and None, fall back to ``decode_text``."""
    if not charset:
        return decode_text(raw)
    try:
        return raw.decode(_charset_codec(charset), "replace")
    except (LookupError, ValueError, TypeError):
        return decode_text(raw)


def _decode_word(match: re.Match) -> str:
    charset, encoding, text = match.group(1), match.group(2).lower(), match.group(3)
    raw = text.encode("latin-1", "replace") if text.isascii() else text.encode("utf-8")
    if encoding == "b":
        try:
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return match.group(0)
    else:
        raw = _Q_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))
    return decode_charset(raw, charset)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value (whitespace between adjacent
    encoded words is dropped, as the RFC says). Malformed words are left as they are."""
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS_RE.sub(r"\1\2", value)
    return _ENCODED_WORD_RE.sub(_decode_word, value)


# ---------------------------------------------------------------------------------------
# MIME parameters (RFC 2045 5.1, RFC 2231)


def _skip_comment(s: str, i: int) -> int:
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _skip_cfws(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            i = _skip_comment(s, i)
        else:
            break
    return i


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """Read a quoted string starting at the quote at ``i``; returns (content, next index)."""
    out = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return "".join(out), n


def split_value_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``type/sub; a=1; b="x y"`` into the leading token and raw parameters.

    Parameter names keep their case; quoted values are unquoted. Junk between
    parameters is skipped rather than failing the whole field.
    """
    semi = value.find(";")
    if semi < 0:
        return _strip_comments(value), []
    head = _strip_comments(value[:semi])
    params: list[tuple[str, str]] = []
    s = value
    i = semi
    n = len(s)
    while i < n:
        # at a ';' (or junk): move past it
        i = _skip_cfws(s, i + 1 if s[i] == ";" else i)
        start = i
        while i < n and s[i] not in "=;":
            i += 1
        name = s[start:i].strip()
        if i >= n or s[i] == ";":
            continue  # a parameter without value: ignore
        i = _skip_cfws(s, i + 1)
        if i < n and s[i] == '"':
            val, i = _read_quoted(s, i)
        else:
            start = i
            while i < n and s[i] != ";":
                i += 1
            val = _strip_comments(s[start:i]).strip()
        if name:
            params.append((name, val))
        while i < n and s[i] != ";":
            i += 1
    return head, params


def _strip_comments(s: str) -> str:
    if "(" not in s:
        return s.strip()
    out = []
    i, n = 0, len(s)
    while i < n:
        if s[i] == "(":
            i = _skip_comment(s, i)
        else:
            out.append(s[i])
            i += 1
    return "".join(out).strip()


_CONTINUATION_RE = re.compile(r"^(.*?)\*(\d+)(\*?)$")


def _percent_decode(value: str, charset: str | None) -> str:
    return decode_charset(urllib.parse.unquote_to_bytes(value), charset)


def decode_params(raw: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """RFC 2231-decode parameters: join ``name*0``, ``name*1``... continuations,
    decode ``charset'lang'%xx`` values; RFC 2047 words in values (a common violation)
    are decoded too. Names are lower-cased; order follows first appearance."""
    if not any("*" in name or "=?" in value for name, value in raw):
        # the common case: plain parameters; keep the first of any repeated name
        seen: dict[str, str] = {}
        for name, value in raw:
            seen.setdefault(name.lower(), value)
        return tuple(seen.items())
    order: list[str] = []
    plain: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    single_ext: dict[str, str] = {}
    for name, value in raw:
        lname = name.lower()
        m = _CONTINUATION_RE.match(lname)
        if m:
            base = m.group(1)
            if base not in order:
                order.append(base)
            pieces.setdefault(base, {}).setdefault(int(m.group(2)), (value, bool(m.group(3))))
        elif lname.endswith("*"):
            base = lname[:-1]
            if base not in order:
                order.append(base)
            single_ext.setdefault(base, value)
        else:
            if lname not in order:
                order.append(lname)
            plain.setdefault(lname, value)
    out = []
    for name in order:
        if name in single_ext:
            out.append((name, _decode_extended(single_ext[name], None)))
        elif name in pieces:
            parts = pieces[name]
            charset = None
            chunks = []
            for idx in sorted(parts):
                value, extended = parts[idx]
                if extended:
                    if idx == 0 and value.count("'") >= 2:
                        charset, _, value = value.split("'", 2)
                        charset = charset or None
                    chunks.append(urllib.parse.unquote_to_bytes(value))
                else:
                    chunks.append(value.encode("utf-8"))
            out.append((name, decode_charset(b"".join(chunks), charset)))
        else:
            out.append((name, decode_words(plain[name])))
    return tuple(out)


def _decode_extended(value: str, charset: str | None) -> str:
    if value.count("'") >= 2:
        charset, _, value = value.split("'", 2)
    return _percent_decode(value, charset or None)


# ---------------------------------------------------------------------------------------
# Dates


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as an aware datetime (``-0000`` and missing zones as UTC), or
    None when it cannot be read."""
    if not value:
        return None
    try:
        parsed = parsedate_tz(value)
        if parsed is None:
            return None
        offset = parsed[9] or 0
        if abs(offset) >= 86400:
            offset = 0
        return datetime(*parsed[:6], tzinfo=timezone(timedelta(seconds=offset)))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


_MSGID_RE = re.compile(r"<[^<>]*>")


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ``<...>`` message ids in a References / In-Reply-To value, in order; bare
    words when a sender left the brackets out."""
    if not value:
        return ()
    found = _MSGID_RE.findall(value)
    if found:
        return tuple(found)
    return tuple(value.split())


# ---------------------------------------------------------------------------------------
# Writing fields
#
# Python's email package folds a long header by splitting an encoded word at a space,
# leaving that space between two encoded words, where RFC 2047 readers drop it: a name
# or subject would not read back as written. These writers fold only where unfolding
# and ``decode_words`` give the text back exactly.

#: Longest line a written field aims for (RFC 5322 2.1.1 SHOULD).
FOLD_AT = 78
#: UTF-8 bytes of text in one encoded word: 60 base64 characters, 72 with the frame.
_WORD_BYTES = 45
_PLAIN = re.compile(r"[ -~]*")


def encode_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words (UTF-8, base64), each under 76 characters and
    cut between characters, so each decodes alone. ``decode_words`` of them joined by
    white space gives ``text`` back (the white space between words is not text)."""
    words, chunk = [], b""
    for ch in text:
        data = ch.encode("utf-8", "surrogatepass")
        if chunk and len(chunk) + len(data) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += data
    if chunk or not words:
        words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]


def _plain(text: str, longest: int) -> bool:
    """Whether ``text`` can be written as it is: printable ASCII, no ``=?`` a reader
    would take for an encoded word, no word too long for a line."""
    return (_PLAIN.fullmatch(text) is not None and "=?" not in text
            and all(len(word) <= longest for word in text.split(" ")))


def unstructured_field(name: str, text: str) -> bytes:
    """The field ``name: text`` (Subject, Comments...), folded at ``FOLD_AT`` where it
    can be; text that is not plain ASCII goes as encoded words. Unfolded and decoded it
    reads ``text`` again, but for leading and trailing white space, which readers strip,
    and line breaks, which a field cannot hold (callers replace them)."""
    if _plain(text, 900):
        lines, line = [], f"{name}:"
        for word in text.split(" "):
            piece = " " + word
            if word and len(line) + len(piece) > FOLD_AT and line.strip() != f"{name}:":
                lines.append(line)
                line = piece  # the fold goes before an existing space: unfolding keeps it
            else:
                line += piece
        lines.append(line)
        return "\r\n".join(lines).encode("ascii")
    return f"{name}: ".encode("ascii") + "\r\n ".join(encode_words(text)).encode("ascii")


def _mailbox(display: str, address: str) -> str:
    if not display:
        return address
    if _plain(display, 200):
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return "\r\n ".join(encode_words(display)) + f" <{address}>"


def address_field(name: str, mailboxes) -> bytes:
    """The field ``name: ...`` (To, Cc, Bcc, From...) listing ``(display name,
    address)`` pairs, each name quoted or, when it is not plain ASCII, as encoded
    words; folded between addresses. ``address`` must be a valid ASCII addr-spec (the
    caller checks it); names must hold no line breaks."""
    line, lines = f"{name}:", []
    items = [_mailbox(display, address) for display, address in mailboxes]
    for n, item in enumerate(items):
        first, _, rest = item.partition("\r\n")
        piece = " " + first + ("," if n < len(items) - 1 and not rest else "")
        if len(line) + len(piece) > FOLD_AT and n:
            lines.append(line)
            line = piece
        else:
            line += piece
        if rest:
            more = rest.split("\r\n")
            lines.append(line)
            lines.extend(more[:-1])
            line = more[-1] + ("," if n < len(items) - 1 else "")
    lines.append(line)
    return "\r\n".join(lines).encode("ascii")
