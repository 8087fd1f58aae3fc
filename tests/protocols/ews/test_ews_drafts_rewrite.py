"""The message rewrites of UpdateItem (``drafts``): what EWS changed changes, every
other byte stays; an edit to what the message already shows changes nothing; a field
fixed once sent is refused on a message that is not a draft."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.message import parse_message
from smsync.protocols.ews import attachments, drafts
from smsync.protocols.ews.drafts import Edit
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.messages import body_of

ME = "me@example.org"
ALTERNATIVE = (
    b"From: me@example.org\r\nTo: a@example.org\r\nSubject: hi\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n"
    b"Message-ID: <1@x>\r\nX-Kept: yes\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n'
    b"--b2\r\nContent-Type: text/plain\r\n\r\nold text\r\n"
    b'--b2\r\nContent-Type: multipart/related; boundary="b3"\r\n\r\n'
    b"--b3\r\nContent-Type: text/html\r\n\r\n<p>old</p><img src=cid:i1>\r\n"
    b"--b3\r\nContent-Type: image/png\r\nContent-ID: <i1>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n"
    b"--b3--\r\n--b2--\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nPDFDATA\r\n"
    b"--b1--\r\n")


def _attachment_bytes(raw: bytes) -> list:
    return [raw[p.header_start:p.body_end] for _path, p in attachments.parts(parse_message(raw).root)]


def test_a_body_replaces_both_kinds_and_keeps_inline_images_and_attachments():
    new = drafts.rewrite(ALTERNATIVE, [Edit("item:Body", "set", ("HTML", "<p>new <b>one</b></p>"))], ME, True)
    structure = parse_message(new)
    assert body_of(structure, new, "HTML") == ("HTML", "<p>new <b>one</b></p>")
    assert body_of(structure, new, "Text") == ("Text", "new one")
    assert b"Content-ID: <i1>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n" in new
    assert _attachment_bytes(new) == _attachment_bytes(ALTERNATIVE)
    head = new[:structure.root.header_end]
    assert head == ALTERNATIVE[:parse_message(ALTERNATIVE).root.header_end]


def test_header_fields_are_rewritten_where_they_were():
    new = drafts.rewrite(ALTERNATIVE, [
        Edit("item:Subject", "set", "Gr\u00fc\u00dfe"),
        Edit("message:ToRecipients", "append", [("B\u00e9a", "b@example.org")]),
        Edit("item:Importance", "set", "Low"),
        Edit("message:ReplyTo", "set", [("", "r@example.org")]),
        Edit("message:IsDeliveryReceiptRequested", "set", True)], ME, True)
    structure = parse_message(new)
    assert structure.subject == "Gr\u00fc\u00dfe"
    assert [(a.email) for a in structure.envelope.to] == ["a@example.org", "b@example.org"]
    lines = new.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    names = [line.split(b":", 1)[0] for line in lines if not line.startswith((b" ", b"\t"))]
    assert names == [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"X-Kept", b"Importance", b"X-Priority",
                     b"Reply-To", b"Return-Receipt-To", b"MIME-Version", b"Content-Type"]
    assert new.split(b"\r\n\r\n", 1)[1] == ALTERNATIVE.split(b"\r\n\r\n", 1)[1]


def test_edits_to_what_the_message_shows_change_nothing():
    same = [Edit("item:Subject", "set", "hi"), Edit("message:ToRecipients", "set", [("", "A@example.org")]),
            Edit("item:Body", "set", ("HTML", "<p>old</p><img src=cid:i1>")),
            Edit("item:Importance", "set", "Normal"), Edit("message:CcRecipients", "delete"),
            Edit("item:MimeContent", "delete"), Edit("message:IsReadReceiptRequested", "set", False)]
    assert drafts.rewrite(ALTERNATIVE, same, ME, False) is None


@pytest.mark.parametrize("uri,value", [
    ("message:ToRecipients", [("", "x@example.org")]), ("message:From", [("", "x@example.org")]),
    ("message:IsReadReceiptRequested", True), ("item:MimeContent", b"Subject: x\r\n\r\nx")])
def test_a_received_message_keeps_what_is_fixed_once_sent(uri, value):
    with pytest.raises(EWSError) as caught:
        drafts.rewrite(ALTERNATIVE, [Edit(uri, "set", value)], ME, False)
    assert caught.value.code == "ErrorInvalidPropertyUpdateSentMessage"
    assert drafts.rewrite(ALTERNATIVE, [Edit("item:Subject", "set", "x")], ME, False) is not None


def test_a_message_without_a_text_body_gets_one():
    only_pdf = (b"From: me@example.org\r\nSubject: s\r\nContent-Type: application/pdf\r\n"
                b"Content-Disposition: attachment; filename=x.pdf\r\n\r\nPDF\r\n")
    new = drafts.rewrite(only_pdf, [Edit("item:Body", "set", ("Text", "see the file"))], ME, True)
    assert body_of(parse_message(new), new, "Text") == ("Text", "see the file")
    assert [p.filename for _path, p in attachments.parts(parse_message(new).root)] == ["x.pdf"]


@settings(max_examples=60, deadline=None)
@given(subject=st.text(max_size=120), body=st.text(max_size=300), html=st.booleans(),
       names=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20), max_size=3))
def test_any_subject_body_and_names_read_back(subject, body, html, names):
    recipients = [(name.strip(), f"user{n}@example.org") for n, name in enumerate(names)]
    new = drafts.rewrite(ALTERNATIVE, [
        Edit("item:Subject", "set", subject.replace("\r", " ").replace("\n", " ").strip()),
        Edit("item:Body", "set", ("HTML" if html else "Text", body)),
        Edit("message:ToRecipients", "set", recipients)], ME, True) or ALTERNATIVE
    structure = parse_message(new)
    assert structure.subject.strip() == subject.replace("\r", " ").replace("\n", " ").strip()
    kind, text = body_of(structure, new, "HTML" if html else "Text")
    assert drafts._normal_text(text) == drafts._normal_text(body)
    assert [a.email for a in structure.envelope.to] == [a for _n, a in recipients]
    assert _attachment_bytes(new) == _attachment_bytes(ALTERNATIVE)
    # Read back, the same edits change nothing.
    assert drafts.rewrite(new, [Edit("item:Subject", "set", structure.subject.strip()),
                                Edit("item:Body", "set", (kind, text))], ME, True) is None
