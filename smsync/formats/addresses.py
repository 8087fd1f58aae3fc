"""RFC 5322 address lists as IMAP ENVELOPE address structures (RFC 3501 7.4.2).

The parser is lenient the way mail servers must be: whatever a sender wrote gives some
list of addresses, never an exception.
"""

from __future__ import annotations

import attrs

#: Placeholders for a missing local part / domain. IMAP reserves a NIL host for group
#: markers, so a bare "user" needs *some* host; these are the names Dovecot uses,
#: which clients already know.
MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"


@attrs.frozen
class Address:
    """One ENVELOPE address: ``name`` (display name, RFC 2047 left encoded), ``adl``
    (source route, ``@a,@b``), ``mailbox`` (local part) and ``host``.

    Group syntax is represented as IMAP does: ``Address(None, None, "group", None)``
    opens a group, ``Address(None, None, None, None)`` closes it.
    """

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None

    @property
    def is_group_start(self) -> bool:
        return self.host is None and self.mailbox is not None

    @property
    def is_group_end(self) -> bool:
        return self.host is None and self.mailbox is None

    @property
    def email(self) -> str | None:
        """``mailbox@host`` for a real address; None for group markers."""
        if self.host is None:
            return None
        return f"{self.mailbox}@{self.host}"


_SPECIALS = set('()<>@,;:"[]\\.')
_WSP = set(" \t\r\n")

# Token kinds
_ATOM, _QS, _COMMENT, _LITERAL, _SPECIAL = range(5)


def _tokenize(s: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in _WSP:
            i += 1
        elif c == '"':
            out = []
            i += 1
            while i < n and s[i] != '"':
                if s[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(s[i])
                i += 1
            tokens.append((_QS, "".join(out)))
            i += 1
        elif c == "(":
            depth, start = 0, i
            while i < n:
                if s[i] == "\\":
                    i += 2
                    continue
                if s[i] == "(":
                    depth += 1
                elif s[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            tokens.append((_COMMENT, s[start + 1 : i].strip()))
            i += 1
        elif c == "[":
            end = s.find("]", i)
            end = n - 1 if end < 0 else end
            tokens.append((_LITERAL, s[i : end + 1]))
            i = end + 1
        elif c in _SPECIALS:
            tokens.append((_SPECIAL, c))
            i += 1
        else:
            start = i
            while i < n and s[i] not in _SPECIALS and s[i] not in _WSP:
                i += 1
            tokens.append((_ATOM, s[start:i]))
    return tokens


def _quote_local(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Parser:
    def __init__(self, tokens):
        self.toks = tokens
        self.i = 0
        self.n = len(tokens)

    def peek(self):
        return self.toks[self.i] if self.i < self.n else None

    def is_special(self, chars: str) -> bool:
        t = self.peek()
        return t is not None and t[0] == _SPECIAL and t[1] in chars

    def phrase(self, stop: str) -> tuple[list[str], str | None]:
        """Words up to a special in ``stop``; returns (words, last comment)."""
        words: list[str] = []
        comment = None
        while self.i < self.n:
            kind, text = self.toks[self.i]
            if kind == _SPECIAL and text in stop:
                break
            if kind == _COMMENT:
                comment = text or comment
            elif kind == _SPECIAL and text == ".":
                if words:
                    words[-1] += "."
                else:
                    words.append(".")
            elif kind == _QS:
                words.append(text)
            else:
                words.append(text)
            self.i += 1
        return words, comment

    def local_part(self, stop: str) -> str:
        out = []
        while self.i < self.n:
            kind, text = self.toks[self.i]
            if kind == _SPECIAL and text in stop:
                break
            if kind == _QS:
                out.append(_quote_local(text) if (not text or any(c in _SPECIALS or c in _WSP for c in text)) else text)
            elif kind != _COMMENT:
                out.append(text)
            self.i += 1
        return "".join(out)

    def domain(self, stop: str) -> tuple[str, str | None]:
        out = []
        comment = None
        while self.i < self.n:
            kind, text = self.toks[self.i]
            if kind == _SPECIAL and text in stop:
                break
            if kind == _COMMENT:
                comment = text or comment
            else:
                out.append(text)
            self.i += 1
        return "".join(out), comment

    def angle_addr(self, name: str | None, stop: str) -> Address | None:
        self.i += 1  # '<'
        adl = None
        if self.is_special("@"):
            route = []
            while self.is_special("@,"):
                if self.is_special(","):
                    self.i += 1
                    continue
                self.i += 1
                dom, _ = self.domain(",:>" + stop)
                route.append("@" + dom)
            if self.is_special(":"):
                self.i += 1
            adl = ",".join(route) or None
        local = self.local_part("@>" + stop)
        host = None
        if self.is_special("@"):
            self.i += 1
            host, _ = self.domain(">" + stop)
        if self.is_special(">"):
            self.i += 1
        # whatever follows up to the separator (comments, junk) is dropped
        while self.i < self.n and not self.is_special(stop):
            self.i += 1
        if not local and not host and not name:
            return None  # "<>": the null reverse path, not an address
        return Address(name, adl, local or MISSING_MAILBOX, host or MISSING_DOMAIN)

    def mailbox(self, stop: str) -> Address | None:
        start = self.i
        words, comment = self.phrase("<@" + stop)
        if self.is_special("<"):
            name = " ".join(words) or comment
            return self.angle_addr(name or None, stop)
        # addr-spec: re-read the words as a local part
        self.i = start
        local = self.local_part("@" + stop)
        host = None
        if self.is_special("@"):
            self.i += 1
            host, dcomment = self.domain("<" + stop)
            comment = dcomment or comment
            if self.is_special("<"):
                # "a@b <c@d>": a broken phrase; the angle address wins.
                return self.angle_addr(local + "@" + host, stop)
        if not local and not host:
            return None
        return Address(comment or None, None, local or MISSING_MAILBOX, host or MISSING_DOMAIN)

    def address_list(self) -> list[Address]:
        out: list[Address] = []
        while self.i < self.n:
            if self.is_special(",;"):
                self.i += 1
                continue
            # a group is a phrase directly followed by ':'
            j = self.i
            while j < self.n and not (self.toks[j][0] == _SPECIAL and self.toks[j][1] in "<>@,;:"):
                j += 1
            if j < self.n and j > self.i and self.toks[j] == (_SPECIAL, ":"):
                words, _ = self.phrase(":")
                self.i += 1
                out.append(Address(None, None, " ".join(words), None))
                while self.i < self.n and not self.is_special(";"):
                    if self.is_special(","):
                        self.i += 1
                        continue
                    before = self.i
                    addr = self.mailbox(",;")
                    if addr is not None:
                        out.append(addr)
                    if self.i == before:
                        self.i += 1
                if self.is_special(";"):
                    self.i += 1
                out.append(Address(None, None, None, None))
                continue
            before = self.i
            addr = self.mailbox(",")
            if addr is not None:
                out.append(addr)
            if self.i == before:
                self.i += 1  # a stray special: skip it so we always progress
        return out


def parse_addresses(value: str | None) -> tuple[Address, ...]:
    """Parse an address-list header value into ENVELOPE addresses (may be empty).

    Display names are unquoted but RFC 2047 words are left encoded, as IMAP wants.
    Never raises.
    """
    if not value or not value.strip():
        return ()
    try:
        return tuple(_Parser(_tokenize(value)).address_list())
    except Exception:  # pragma: no cover - defensive: a parser bug must not lose mail
        return ()
