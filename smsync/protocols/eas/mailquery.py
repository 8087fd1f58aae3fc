"""Searching an account's mail for EAS Search (MS-ASCMD 2.2.1.16) and Find (2.2.1.2).

A query is free text -- words, "quoted phrases" and ``field:term`` restrictions
(``from:``, ``to:``, ``cc:``, ``subject:``, ``body:``), the small part of AQS/KQL devices
send -- plus the folders to look in, a DateReceived window and a conversation. Every
term must occur, case-insensitively, in the message's subject, addresses or body text
(terms with a field only in that field). Matches come newest first, as Exchange lists
them.

The matcher works on what the store already keeps: ``MessageInfo`` for dates and flags,
``MessageStructure`` for headers, and the first text part's body, read only for a
message whose headers do not already hold every term.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from typing import Optional

import attrs

from smsync.formats.structure import MessageStructure
from smsync.model import MessageInfo
from smsync.protocols.eas.email import decode_body, text_part

#: Body bytes read per message for matching: beyond this a term is not looked for.
BODY_SCAN = 256 * 1024

#: Messages whose structures are loaded in one call.
_BATCH = 200

#: Fields a term may be restricted to, and the synonyms devices use for them.
FIELDS = {"from": "from", "to": "to", "cc": "cc", "subject": "subject", "body": "body",
          "participants": "participants", "sent": None}

_TERM = re.compile(r'(?:(\w+):)?(?:"([^"]*)"|(\S+))')


class QueryTooComplex(ValueError):
    """The device's query uses something this server does not search by."""


class SearchTimedOut(Exception):
    """The search ran past its deadline (answered with the command's time-out status)."""


@attrs.frozen
class Term:
    """One thing a match must contain: ``text`` (case-folded) in ``field`` (None: in
    any of subject, addresses and body)."""

    text: str
    field: Optional[str] = None


def parse_free_text(text: Optional[str]) -> tuple[Term, ...]:
    """The terms of a device's FreeText: words, "quoted phrases" and ``field:term``.

    A ``field:`` this server does not know is kept as part of the word (``ab:cd`` is
    looked for as written), as a plain search engine would.
    """
    terms = []
    for match in _TERM.finditer(text or ""):
        field, quoted, word = match.groups()
        value = quoted if quoted is not None else word
        if field is not None and field.lower() not in FIELDS:
            value, field = f"{field}:{value}", None
        elif field is not None:
            field = FIELDS[field.lower()]
            if field is None:
                continue  # sent:/received: dates are given as GreaterThan/LessThan instead
        value = value.strip().casefold()
        if value:
            terms.append(Term(value, field))
    return tuple(terms)


def conversation_id(structure: MessageStructure) -> bytes:
    """The 16-byte EAS ConversationId of a message: its thread's first Message-ID
    (References, else In-Reply-To, else its own) hashed, so every reply in a thread
    shares it."""
    root = (structure.references[0] if structure.references
            else structure.in_reply_to or structure.message_id or "")
    return hashlib.md5(root.strip().encode("utf-8", "replace")).digest()


@attrs.frozen
class MailQuery:
    """What a device searches for.

    Attributes:
        terms: every one must occur (see ``Term``); none: every message matches.
        folder_ids: the folders to search (None: every mail folder).
        deep: with ``folder_ids``, their subfolders too.
        after: only messages received after this (aware), if set.
        before: only messages received before this, if set.
        conversation: only messages of this ConversationId, if set.
    """

    terms: tuple[Term, ...] = ()
    folder_ids: Optional[tuple[str, ...]] = None
    deep: bool = False
    after: Optional[datetime] = None
    before: Optional[datetime] = None
    conversation: Optional[bytes] = None


@attrs.frozen
class Hit:
    """A matching message: the folder's mailbox handle and id, its info and structure."""

    mailbox: object
    folder_id: str
    info: MessageInfo
    structure: MessageStructure


def long_id(folder_id: str, uid: int) -> str:
    """The Search LongId naming a message (ItemOperations Fetch and SmartReply take it)."""
    return f"{folder_id}:{uid}"


def parse_long_id(text: Optional[str]) -> Optional[tuple[str, int]]:
    """``(folder id, uid)`` of a LongId made by ``long_id``, or None if it is not one."""
    folder, sep, uid = (text or "").rpartition(":")
    if not sep or not folder or not uid.isascii() or not uid.isdigit():
        return None
    return folder, int(uid)


def _headers(structure: MessageStructure) -> dict[str, str]:
    return {"from": structure.from_.casefold(), "to": structure.to.casefold(),
            "cc": structure.cc.casefold(), "subject": structure.subject.casefold()}


async def body_text(mailbox, uid: int, structure: MessageStructure,
                    limit: int = BODY_SCAN) -> str:
    """The text of a message's first text part (plain, else HTML), decoded, from its
    first ``limit`` stored bytes; "" when it has none."""
    part = text_part(structure.root) or text_part(structure.root, html=True)
    if part is None:
        return ""
    length = min(part.body_end - part.header_end, limit)
    if length <= 0:
        return ""
    raw = await mailbox.read_body(uid, part.header_end, length)
    text = decode_body(raw, part)
    if part.subtype == "html":
        text = re.sub(r"<[^>]*>", " ", text)
    return text


def _term_in(term: Term, headers: dict[str, str], body: Optional[str]) -> Optional[bool]:
    """Whether ``term`` occurs; None when only the body (not given) can tell."""
    if term.field in ("from", "to", "cc", "subject"):
        return term.text in headers[term.field]
    if term.field == "participants":
        return any(term.text in headers[f] for f in ("from", "to", "cc"))
    if term.field is None and any(term.text in v for v in headers.values()):
        return True
    if body is None:
        return None
    return term.text in body


async def matches(query: MailQuery, mailbox, info: MessageInfo,
                  structure: MessageStructure) -> bool:
    """Whether one message matches ``query`` (its body read only if needed)."""
    if query.after is not None and not info.internal_date > query.after:
        return False
    if query.before is not None and not info.internal_date < query.before:
        return False
    if query.conversation is not None and conversation_id(structure) != query.conversation:
        return False
    headers = _headers(structure)
    undecided = []
    for term in query.terms:
        found = _term_in(term, headers, None)
        if found is False:
            return False
        if found is None:
            undecided.append(term)
    if not undecided:
        return True
    body = (await body_text(mailbox, info.uid, structure)).casefold()
    return all(_term_in(t, headers, body) for t in undecided)


async def search(mail, query: MailQuery, deadline: Optional[float] = None) -> list[Hit]:
    """Every message of the account's ``mail`` (an ``IMailStore``) matching ``query``,
    newest first.

    Raises:
        KeyError: a folder of ``query.folder_ids`` does not exist.
        SearchTimedOut: ``deadline`` (a ``time.monotonic()`` value) passed.
    """
    entries = await mail.list_mailboxes()
    if query.folder_ids is None:
        chosen = entries
    else:
        by_id = {e.id: e for e in entries}
        missing = [f for f in query.folder_ids if f not in by_id]
        if missing:
            raise KeyError(missing[0])
        names = [by_id[f].name for f in query.folder_ids]
        chosen = [e for e in entries if e.name in names
                  or (query.deep and any(e.name.startswith(n + "/") for n in names))]
    hits: list[Hit] = []
    for entry in chosen:
        box = await mail.mailbox_by_id(entry.id)
        infos = [m for m in await box.messages()
                 if (query.after is None or m.internal_date > query.after)
                 and (query.before is None or m.internal_date < query.before)]
        for start in range(0, len(infos), _BATCH):
            if deadline is not None and time.monotonic() > deadline:
                raise SearchTimedOut(f"search of {entry.name} ran out of time")
            batch = infos[start:start + _BATCH]
            structures = await box.structures([m.uid for m in batch])
            for info in batch:
                structure = structures.get(info.uid)
                if structure is not None and await matches(query, box, info, structure):
                    hits.append(Hit(box, entry.id, info, structure))
    hits.sort(key=lambda h: (h.info.internal_date, h.folder_id, h.info.uid), reverse=True)
    return hits


@attrs.frozen
class Range:
    """A device's result window ``first-last`` (both inclusive)."""

    first: int
    last: int

    def window(self, items: list) -> list:
        return items[self.first:self.last + 1]

    def answered(self, count: int) -> Optional[str]:
        """The Range to answer for ``count`` results given from ``first`` (None: none)."""
        return f"{self.first}-{self.first + count - 1}" if count else None


def parse_range(text: Optional[str], default: Range = Range(0, 99), limit: int = 100) -> Range:
    """A Range element's ``m-n``; a window wider than ``limit`` is narrowed to it.

    Raises:
        ValueError: not ``m-n`` with ``m <= n``.
    """
    if text is None:
        return default
    match = re.fullmatch(r"\s*(\d{1,9})-(\d{1,9})\s*", text)
    if match is None:
        raise ValueError(f"not a range: {text[:40]!r}")
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise ValueError(f"not a range: {text[:40]!r}")
    return Range(first, min(last, first + limit - 1))
