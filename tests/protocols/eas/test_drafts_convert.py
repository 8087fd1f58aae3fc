"""The draft converter (``smsync.protocols.eas.drafts``): a phone's Email
ApplicationData as the RFC 5322 draft stored, and back as the Email item every device
is shown (``email.application_data``) -- each field EAS carries for a draft (To, Cc,
Bcc, Subject, Importance, plain or HTML Body, Read, Flag, Categories) survives the round
trip; a Change replaces only what it sends; what cannot be stored is a
``ConversionError`` (Sync Status 6), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.formats.message import parse_message
from smsync.model import UIDSet
from smsync.protocols.eas import drafts
from smsync.protocols.eas.convert import HTML, PLAIN, BodyOptions, ConversionError
from smsync.protocols.eas.email import EMAIL, EMAIL2, application_data
from smsync.protocols.eas.wbxml import Element
from smsync.store.registry import open_store
from tests.sync.helpers import now

AS, BASE = "AirSync:", "AirSyncBase:"
ACCOUNT = "a@example.org"


def e(namespace, tag, *children, text=None):
    return Element(namespace, tag, children, text)


def app(*children):
    return e(AS, "ApplicationData", *children)


def body(text, kind=PLAIN):
    return e(BASE, "Body", e(BASE, "Type", text=str(kind)), e(BASE, "Data", text=text))


class Drafts:
    """A memory store's Drafts folder, driven with ``now`` (the memory store answers at
    once)."""

    def __enter__(self):
        self.store = now(open_store("memory:"))
        now(self.store.accounts.add(ACCOUNT, "!"))
        self.box = now(now(self.store.mail(ACCOUNT)).mailbox("Drafts"))
        return self

    def __exit__(self, *exc):
        now(self.store.close())

    def shown(self, raw: bytes, flags, kind=PLAIN, version="16.1") -> Element:
        """The Email item a device of ``version`` is shown for the stored ``raw``."""
        uid = now(self.box.append(raw, flags=flags)).uid
        (info,) = now(self.box.messages(UIDSet.of([uid])))
        structure = now(self.box.structures([uid]))[uid]
        return now(application_data(self.box, info, structure, BodyOptions(type=kind), version))


# -- strategies ------------------------------------------------------------------------------

_atom = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~",
                min_size=1, max_size=10)
local = st.lists(_atom, min_size=1, max_size=3).map(".".join)
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
domain = st.lists(label, min_size=1, max_size=3).map(".".join)
address = st.builds(lambda lo, do: f"{lo}@{do}", local, domain)
#: Display names: any printable text, and often the characters an address list gives a
#: meaning to (commas, quotes, brackets) mixed with non-ASCII ones, which the message
#: holds RFC 2047-encoded.
name = (st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
        | st.text(st.sampled_from(list('ab ,;:"\\<>@().é日')), max_size=12)).map(str.strip)
recipients = st.lists(st.tuples(name, address), max_size=4)
line_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60)
body_text = st.lists(line_text, max_size=5).map("\n".join)
categories = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
                      .filter(lambda c: c == c.strip() and c.strip()), max_size=3, unique=True)


def listed(pairs) -> str:
    """A phone's recipient value: quoted names where there are any."""
    out = []
    for display, addr in pairs:
        if display:
            quoted = display.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'"{quoted}" <{addr}>')
        else:
            out.append(addr)
    return ", ".join(out)


def read_back(element) -> list:
    return drafts.recipients(element.text) if element is not None else []


def text_of(shown: Element) -> str:
    return shown.find(BASE, "Body").find(BASE, "Data").text if shown.find(BASE, "Body").find(
        BASE, "Data") is not None else ""


def same_lines(text: str) -> str:
    """Text as the stored part holds it: CRLF line ends, ending with one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\r\n".join(lines) + "\r\n"


# -- the round trip --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(to=recipients, cc=recipients, bcc=recipients, subject=line_text,
       importance=st.sampled_from(["0", "1", "2"]), text=body_text,
       kind=st.sampled_from([PLAIN, HTML]), read=st.booleans(), flagged=st.booleans(),
       cats=categories)
def test_a_draft_round_trips_through_its_message(to, cc, bcc, subject, importance, text, kind,
                                                 read, flagged, cats):
    fields = [e(EMAIL, "To", text=listed(to)), e(EMAIL, "Cc", text=listed(cc)),
              e(EMAIL2, "Bcc", text=listed(bcc)), e(EMAIL, "Subject", text=subject),
              e(EMAIL, "Importance", text=importance), body(text, kind),
              e(EMAIL, "Read", text="1" if read else "0"),
              e(EMAIL, "Flag", *((e(EMAIL, "Status", text="2"),) if flagged else ())),
              e(EMAIL, "Categories", *(e(EMAIL, "Category", text=c) for c in cats))]
    data = app(*fields)
    raw = drafts.draft_message(data, ACCOUNT)
    flags = drafts.add_flags(data)
    assert parse_message(raw).envelope.from_[0].email == ACCOUNT
    with Drafts() as d:
        shown = d.shown(raw, flags, kind)
    assert read_back(shown.find(EMAIL, "To")) == to
    assert read_back(shown.find(EMAIL, "Cc")) == cc
    assert read_back(shown.find(EMAIL2, "Bcc")) == bcc
    got_subject = shown.find(EMAIL, "Subject")
    assert (got_subject.text if got_subject is not None else "") == subject.strip()
    assert shown.find(EMAIL, "Importance").text == importance
    assert shown.find(BASE, "Body").find(BASE, "Type").text == str(kind)
    assert same_lines(text_of(shown)) == same_lines(text)
    assert shown.find(EMAIL, "Read").text == ("1" if read else "0")
    flag = shown.find(EMAIL, "Flag")
    assert (flag.find(EMAIL, "Status") is not None) == flagged
    shown_cats = shown.find(EMAIL, "Categories")
    assert (sorted(c.text for c in shown_cats.children) if shown_cats is not None else []) == sorted(cats)
    assert shown.find(EMAIL2, "IsDraft").text == "1"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.tuples(recipients, recipients, line_text, body_text),
       second=st.tuples(st.none() | recipients, st.none() | recipients, st.none() | line_text,
                        st.none() | body_text))
def test_a_change_replaces_what_it_sends_and_keeps_the_rest(first, second):
    to, cc, subject, text = first
    raw = drafts.draft_message(app(e(EMAIL, "To", text=listed(to)), e(EMAIL, "Cc", text=listed(cc)),
                                   e(EMAIL, "Subject", text=subject), body(text)), ACCOUNT)
    new_to, new_cc, new_subject, new_text = second
    change = app(*(x for x in (
        e(EMAIL, "To", text=listed(new_to)) if new_to is not None else None,
        e(EMAIL, "Cc", text=listed(new_cc)) if new_cc is not None else None,
        e(EMAIL, "Subject", text=new_subject) if new_subject is not None else None,
        body(new_text) if new_text is not None else None) if x is not None))
    changed = drafts.draft_message(change, ACCOUNT, raw)
    with Drafts() as d:
        shown = d.shown(changed, {drafts.DRAFT})
    assert read_back(shown.find(EMAIL, "To")) == (new_to if new_to is not None else to)
    assert read_back(shown.find(EMAIL, "Cc")) == (new_cc if new_cc is not None else cc)
    got = shown.find(EMAIL, "Subject")
    assert (got.text if got is not None else "") == (new_subject if new_subject is not None else subject).strip()
    assert same_lines(text_of(shown)) == same_lines(new_text if new_text is not None else text)
    # The draft keeps its identity.
    assert parse_message(changed).message_id == parse_message(raw).message_id


def test_a_changed_body_keeps_the_attachments():
    stored = (b"From: a@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
              b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
              b"Content-Type: text/plain\r\n\r\nold text\r\n--b1\r\n"
              b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n")
    changed = drafts.draft_message(app(body("new text")), ACCOUNT, stored)
    with Drafts() as d:
        shown = d.shown(changed, {drafts.DRAFT})
    assert text_of(shown) == "new text\r\n"
    (attachment,) = shown.find(BASE, "Attachments").children
    assert attachment.find(BASE, "DisplayName").text == "r.pdf"
    assert shown.find(EMAIL, "Subject").text == "report"


def test_a_mime_body_is_stored_as_the_phone_wrote_it():
    mime = ("Subject: from MIME\r\nTo: bob@example.org\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            "Content-Type: text/plain\r\n\r\nwritten by the phone\r\n")
    raw = drafts.draft_message(app(body(mime, 4), e(EMAIL, "Read", text="1")), ACCOUNT)
    assert raw.endswith(mime.encode())
    structure = parse_message(raw)
    assert structure.envelope.from_[0].email == ACCOUNT and structure.message_id
    assert structure.subject == "from MIME"
    assert drafts.add_flags(app(e(EMAIL, "Read", text="1"))) == {"\\Draft", "\\Seen"}


def test_header_injection_stays_in_its_field():
    raw = drafts.draft_message(app(e(EMAIL, "Subject", text="hi\r\nBcc: evil@example.net"),
                                   body("x")), ACCOUNT)
    structure = parse_message(raw)
    assert structure.envelope.bcc == ()
    assert structure.subject == "hi  Bcc: evil@example.net"
    with pytest.raises(ConversionError):
        drafts.draft_message(app(e(EMAIL, "To", text='"x\r\nBcc: evil@example.net" <a@example.org>'),
                                 body("x")), ACCOUNT)


@pytest.mark.parametrize("data", [
    app(e(EMAIL, "Subject", text="no body")),
    app(body("x"), e(EMAIL, "To", text="bob")),
    app(body("x"), e(EMAIL, "To", text="a@example.org, @example.org")),
    app(body("x"), e(EMAIL, "Cc", text="<a b@example.org>")),
    app(body("x"), e(EMAIL2, "Bcc", text="jörg@example.org")),
    app(body("x"), e(EMAIL, "Importance", text="9")),
    app(body("x", 3)),
    app(e(BASE, "Body", e(BASE, "Data", text="no type"))),
    app(body("not a message at all", 4)),
    app(body("", 4)),
    app(e(BASE, "Body", e(BASE, "Type", text="1"), Element(BASE, "Data", (), None, b"\xff\xfe"))),
])
def test_what_cannot_be_stored_is_a_conversion_error(data):
    with pytest.raises(ConversionError):
        drafts.draft_message(data, ACCOUNT)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_recipient_text_is_addresses_or_a_conversion_error(text):
    try:
        found = drafts.recipients(text)
    except ConversionError:
        return
    for _, addr in found:
        assert "@" in addr and addr.isascii()


_FIELDS = [(EMAIL, "To"), (EMAIL, "Cc"), (EMAIL2, "Bcc"), (EMAIL, "Subject"), (EMAIL, "Importance"),
           (EMAIL, "Read"), (EMAIL, "Categories")]
_hostile_text = st.text(max_size=60) | st.text(st.sampled_from(list('a@b.c <>",;:\\\r\n\x00=?é')), max_size=40)
_hostile_field = st.builds(lambda nt, text: e(*nt, text=text), st.sampled_from(_FIELDS), _hostile_text)
_hostile_body = st.builds(
    lambda kind, data: e(BASE, "Body", *((e(BASE, "Type", text=kind),) if kind is not None else ()),
                         *((e(BASE, "Data", text=data),) if data is not None else ())),
    st.none() | st.sampled_from(["1", "2", "3", "4", "x", ""]), st.none() | _hostile_text)
_existing = st.none() | st.binary(max_size=300) | st.just(
    b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n"
    b"Content-Type: application/x; name=a\r\nContent-Disposition: attachment\r\n\r\ny\r\n--b--\r\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(_hostile_field | _hostile_body, max_size=6), _existing)
def test_any_application_data_is_a_draft_or_a_conversion_error(fields, existing):
    try:
        raw = drafts.draft_message(app(*fields), ACCOUNT, existing)
    except ConversionError:
        return
    structure = parse_message(raw)
    assert structure.envelope.from_ and structure.message_id
    assert all(len(line) <= 998 for line in raw[:structure.header_size].split(b"\r\n"))
