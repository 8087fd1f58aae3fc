"""Giving a copy of an iCalendar object or vCard a new UID (for keep-both conflicts).

A collection holds one item per UID, so the device's version of an item can only be
kept next to the server's under another UID. This is a pure function over bytes that
touches nothing but the ``UID`` property lines, so the copy is otherwise byte-for-byte
what the device sent.
"""

from __future__ import annotations

import re

from smsync.formats.contentlines import unescape_text

_NAME_END = re.compile(rb"[;:]")


def _logical_lines(content: bytes) -> list[list[bytes]]:
    """Split into logical lines, each the list of its physical lines (with their line
    endings); a physical line starting with a space or tab continues the previous one
    (RFC 5545 section 3.1, RFC 6350 section 3.2)."""
    groups: list[list[bytes]] = []
    for line in content.splitlines(keepends=True):
        if groups and line[:1] in (b" ", b"\t"):
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def _ending(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return b"\r\n"
    if line.endswith((b"\n", b"\r")):
        return line[-1:]
    return b""


def property_name(physical_lines: list[bytes]) -> bytes:
    """The upper-cased property name of a logical line, without a vCard group prefix."""
    unfolded = b"".join(line.rstrip(b"\r\n") if i == 0 else line.rstrip(b"\r\n")[1:]
                        for i, line in enumerate(physical_lines))
    match = _NAME_END.search(unfolded)
    name = unfolded[: match.start()] if match else unfolded
    return name.rsplit(b".", 1)[-1].strip().upper()


def rewrite_uid(content: bytes, new_uid: str) -> bytes:
    """Return ``content`` with the value of every ``UID`` property replaced by ``new_uid``.

    Every other line is kept exactly as it was, folding and line endings included;
    ``UID`` lines keep their parameters-free form ``UID:<new_uid>`` and their line
    ending. Recurrence overrides of one event share its UID, so all of them get the new
    one. Content without a ``UID`` line comes back unchanged.

    Raises:
        ValueError: ``new_uid`` contains a line break or is empty.
    """
    if not new_uid or any(c in new_uid for c in "\r\n"):
        raise ValueError("a UID is one non-empty line")
    out = []
    for group in _logical_lines(content):
        if property_name(group) == b"UID":
            out.append(b"UID:" + new_uid.encode("utf-8") + _ending(group[-1]))
        else:
            out.extend(group)
    return b"".join(out)


def uid_of(content: bytes) -> str | None:
    """The UID of an iCalendar object (its components' own, not a VALARM's) or vCard,
    as stores index it; None when there is none or it cannot be told. Reads only the
    lines, so that comparing UIDs costs no parse."""
    depth = 0
    vcard = None
    for group in _logical_lines(content):
        name = property_name(group)
        if name in (b"BEGIN", b"END"):
            value = _value(group).strip().upper()
            if name == b"BEGIN":
                depth += 1
                if vcard is None:
                    vcard = value == "VCARD"
            else:
                depth -= 1
            continue
        # A vCard's own properties are at depth 1; an event's, to-do's or journal's at 2.
        if name == b"UID" and depth == (1 if vcard else 2):
            value = _value(group).strip()
            if vcard:
                value = unescape_text(value)
            return value or None
    return None


def _value(physical_lines: list[bytes]) -> str:
    unfolded = b"".join(line.rstrip(b"\r\n") if i == 0 else line.rstrip(b"\r\n")[1:]
                        for i, line in enumerate(physical_lines))
    try:
        text = unfolded.decode("utf-8")
    except UnicodeDecodeError:
        text = unfolded.decode("latin-1")
    # The value starts after the first ':' outside a quoted parameter value.
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == ":" and not quoted:
            return text[i + 1:]
    return ""
