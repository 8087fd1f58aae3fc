"""The NOTIFY command's grammar (RFC 5465 section 8): its value types and its parser.

What parses here may still be refused: the rules that tie events together (RFC 5465
section 5) and the events this server does not report are the command's to check.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs

from smsync.protocols.imap.reader import Reader
from smsync.protocols.imap.syntax import FetchAtt

MESSAGE_NEW = "MessageNew"
MESSAGE_EXPUNGE = "MessageExpunge"
FLAG_CHANGE = "FlagChange"
ANNOTATION_CHANGE = "AnnotationChange"
MAILBOX_NAME = "MailboxName"
SUBSCRIPTION_CHANGE = "SubscriptionChange"
MAILBOX_METADATA_CHANGE = "MailboxMetadataChange"
SERVER_METADATA_CHANGE = "ServerMetadataChange"

#: The events RFC 5465 names, spelled as it spells them.
KNOWN_EVENTS = (MESSAGE_NEW, MESSAGE_EXPUNGE, FLAG_CHANGE, ANNOTATION_CHANGE, MAILBOX_NAME,
                SUBSCRIPTION_CHANGE, MAILBOX_METADATA_CHANGE, SERVER_METADATA_CHANGE)
#: RFC 5465 section 6.1: "The mailbox specifiers only apply to <message-event>s."
MESSAGE_EVENTS = frozenset({MESSAGE_NEW, MESSAGE_EXPUNGE, FLAG_CHANGE, ANNOTATION_CHANGE})
_CANONICAL = {name.upper(): name for name in KNOWN_EVENTS}

SELECTED_FILTERS = frozenset({"SELECTED", "SELECTED-DELAYED"})
_NAMED_FILTERS = frozenset({"SUBTREE", "MAILBOXES"})
_FILTERS = SELECTED_FILTERS | _NAMED_FILTERS | {"INBOXES", "PERSONAL", "SUBSCRIBED"}


@attrs.frozen
class EventGroup:
    """One ``(filter-mailboxes events)`` of NOTIFY SET.

    ``filter`` is upper case (``SELECTED``, ``SUBTREE``...); ``mailboxes`` the names a
    SUBTREE or MAILBOXES filter gives, as sent; ``events`` the events asked for, known
    ones spelled as RFC 5465 does (empty for NONE); ``fetch_atts`` what MessageNew asks
    to be fetched of a new message.
    """

    filter: str
    mailboxes: tuple[bytes, ...] = ()
    events: tuple[str, ...] = ()
    fetch_atts: tuple[FetchAtt, ...] = ()


@attrs.frozen
class Notify:
    """NOTIFY NONE (``groups`` None) or NOTIFY SET [STATUS] with its event groups."""

    groups: Optional[tuple[EventGroup, ...]]
    status: bool = False


def parse_notify(r: Reader, fetch_atts: Callable[[Reader], list[FetchAtt]]) -> Notify:
    """``notify = "NOTIFY" SP (notify-set / notify-none)``, after the command name;
    ``fetch_atts`` reads a parenthesised list of fetch attributes (MessageNew's).

    Raises:
        ParseError: the arguments do not follow the grammar.
    """
    r.sp()
    word = r.word()
    if word == "NONE":
        return Notify(None)
    if word != "SET":
        r.fail("NOTIFY takes SET or NONE")
    r.sp()
    status = False
    if r.peek_word() == "STATUS":
        r.word()
        r.sp()
        status = True
    groups = [_event_group(r, fetch_atts)]
    while r.maybe_sp():
        groups.append(_event_group(r, fetch_atts))
    return Notify(tuple(groups), status)


def _event_group(r: Reader, fetch_atts) -> EventGroup:
    r.char(b"(")
    filter_ = r.word()
    if filter_ not in _FILTERS:
        r.fail(f"unknown NOTIFY mailbox filter {filter_}")
    mailboxes: tuple[bytes, ...] = ()
    if filter_ in _NAMED_FILTERS:
        r.sp()
        mailboxes = _one_or_more_mailbox(r)
    r.sp()
    events: list[str] = []
    atts: tuple[FetchAtt, ...] = ()
    if r.maybe_char(b"("):
        while not r.maybe_char(b")"):
            if events:
                r.sp()
            name = r.atom()
            name = _CANONICAL.get(name.upper(), name)
            events.append(name)
            if name == MESSAGE_NEW and r.data[r.pos : r.pos + 2] == b" (":
                r.sp()
                atts = tuple(fetch_atts(r))
        if not events:
            r.fail("empty NOTIFY event list")
    elif r.word() != "NONE":
        r.fail("NOTIFY events are a list or NONE")
    r.char(b")")
    return EventGroup(filter_, mailboxes, tuple(events), atts)


def _one_or_more_mailbox(r: Reader) -> tuple[bytes, ...]:
    if not r.maybe_char(b"("):
        return (r.astring(),)
    names = []
    while not r.maybe_char(b")"):
        if names:
            r.sp()
        names.append(r.astring())
    if not names:
        r.fail("empty mailbox list")
    return tuple(names)

