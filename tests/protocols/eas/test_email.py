"""The Email converter: message text decoded whatever its transfer encoding and charset,
truncation, and the device's Read/Flag changes as flag deltas that reproduce the
server's flags (the round trip an EAS edit makes)."""

from __future__ import annotations

import base64
import quopri

import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.structure import BodyPart
from smsync.model import UIDSet
from smsync.protocols.eas.convert import BodyOptions
from smsync.protocols.eas.email import EMAIL, application_data, decode_body, flag_changes
from smsync.store.registry import open_store
from tests.sync.helpers import now

texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200)


@given(texts, st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]), st.sampled_from(["base64", "quoted-printable", "8bit"]))
def test_decode_body_undoes_any_encoding(text, charset, encoding):
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError:
        return
    if encoding == "base64":
        raw = base64.encodebytes(raw)
    elif encoding == "quoted-printable":
        raw = quopri.encodestring(raw)
    part = BodyPart(encoding=encoding, params=(("charset", charset),))
    assert decode_body(raw, part) == text


FLAG_SETS = st.sets(st.sampled_from(["\\Seen", "\\Flagged", "\\Answered", "$Work"]))


@settings(max_examples=30, deadline=None)
@given(FLAG_SETS)
def test_read_and_flag_survive_a_round_trip(flags):
    """The device is shown Read/Flag/Categories from the server's flags; sending those
    values back as a Change asks for exactly the server's flags again: \\Seen,
    \\Flagged and the keywords, nothing else.
    (The memory store answers at once, so ``now`` runs each coroutine to its end.)"""
    store = now(open_store("memory:"))
    try:
        now(store.accounts.add("a@example.org", "!"))
        box = now(now(store.mail("a@example.org")).mailbox("INBOX"))
        uid = now(box.append(b"Subject: x\r\n\r\nbody\r\n", flags=flags)).uid
        (info,) = now(box.messages(UIDSet.of([uid])))
        structure = now(box.structures([uid]))[uid]
        data = now(application_data(box, info, structure))
        add, remove = flag_changes(data, current=info.flags)
        shown = set(flags) & {"\\Seen", "\\Flagged"}
        assert add - shown == set(flags) - shown - {"\\Answered"}  # keywords, as Categories
        assert remove == {"\\Seen", "\\Flagged"} - shown
        assert (set(flags) | add) - remove == set(flags)
    finally:
        now(store.close())


@pytest_twisted.ensureDeferred
async def test_truncation_and_size():
    store = await open_store("memory:")
    try:
        await store.accounts.add("a@example.org", "!")
        box = await (await store.mail("a@example.org")).mailbox("INBOX")
        uid = (await box.append(b"Subject: long\r\n\r\n" + b"x" * 5000 + b"\r\n")).uid
        (info,) = await box.messages(UIDSet.of([uid]))
        structure = (await box.structures([uid]))[uid]
        data = await application_data(box, info, structure, BodyOptions(truncation=100))
        body = data.find("AirSyncBase:", "Body")
        assert len(body.find("AirSyncBase:", "Data").text) == 100
        assert body.find("AirSyncBase:", "Truncated").text == "1"
        assert int(body.find("AirSyncBase:", "EstimatedDataSize").text) >= 5000
        assert data.find(EMAIL, "Subject").text == "long"
    finally:
        await store.close()


# -- attachments, bodies, Email2 ------------------------------------------------------------

from email.message import EmailMessage  # noqa: E402
from email.policy import SMTP  # noqa: E402

from hypothesis import HealthCheck  # noqa: E402

from smsync.protocols.eas import email as eas_email  # noqa: E402
from smsync.protocols.eas.convert import HTML, MIME, PLAIN  # noqa: E402

BASE = "AirSyncBase:"
EMAIL2 = "Email2:"


class Box:
    """A memory store with one INBOX, driven with ``now`` from hypothesis tests."""

    def __enter__(self):
        self.store = now(open_store("memory:"))
        now(self.store.accounts.add("a@example.org", "!"))
        self.box = now(now(self.store.mail("a@example.org")).mailbox("INBOX"))
        return self

    def __exit__(self, *exc):
        now(self.store.close())

    def put(self, raw: bytes, flags=()):
        uid = now(self.box.append(raw, flags=flags)).uid
        (info,) = now(self.box.messages(UIDSet.of([uid])))
        return info, now(self.box.structures([uid]))[uid]

    def data(self, raw: bytes, options=BodyOptions(), version=None, flags=()):
        info, structure = self.put(raw, flags)
        return now(application_data(self.box, info, structure, options, version))


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip(":")),
       st.integers(1, 2**32), st.lists(st.integers(1, 200), min_size=1, max_size=6))
def test_file_references_read_back(folder, uid, path):
    reference = eas_email.file_reference(folder, uid, tuple(path))
    assert eas_email.parse_file_reference(reference) == (folder, uid, tuple(path))


@given(st.sampled_from(["", "x", "a:b", "a:0:1", "a:1:", "a:1:0", "a:1:1.x", ":1:1", "a:-1:1",
                        "a:1:1..2", None]))
def test_bad_file_references_are_refused(text):
    try:
        eas_email.parse_file_reference(text)
    except ValueError:
        return
    raise AssertionError(f"{text!r} was read as a file reference")


@given(st.binary(min_size=160, max_size=3000), st.integers(4, 120), st.sampled_from([b"\r\n", b"\n"]),
       st.booleans())
def test_base64_size_from_its_ends(data, line, newline, final_newline):
    line = line // 4 * 4
    encoded = base64.b64encode(data)
    lines = [encoded[i:i + line] for i in range(0, len(encoded), line)] or [b""]
    text = newline.join(lines) + (newline if final_newline else b"")
    if len(text) <= 208:
        return  # small bodies are decoded whole instead
    assert eas_email._base64_size(len(text), text[:200], text[-8:]) == len(data)


ATTACHMENT = st.tuples(
    # Small ones are sized by decoding them, large base64 ones from their ends.
    st.one_of(st.binary(max_size=100), st.binary(min_size=300, max_size=4000)),
    st.sampled_from([("application", "octet-stream"), ("image", "png"), ("application", "pdf")]),
    st.from_regex(r"[a-z]{1,12}\.[a-z]{3}", fullmatch=True),
    st.sampled_from(["base64", "quoted-printable"]),
)


def _message(text: str, attachments, html: bool = False, embedded: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.org>"
    msg["To"] = "Bob <bob@example.org>, carol@example.org"
    msg["Subject"] = "Re: parts"
    msg["Message-ID"] = "<m1@example.org>"
    msg.set_content(text)
    if html:
        msg.add_alternative(f"<html><body><p>{text}</p></body></html>", subtype="html")
    for data, (maintype, subtype), name, cte in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name, cte=cte)
    if embedded:
        inner = EmailMessage()
        inner["Subject"] = "forwarded"
        inner.set_content("inner body")
        msg.add_attachment(inner)
    return msg.as_bytes(policy=SMTP)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ATTACHMENT, max_size=4), st.booleans(), st.booleans())
def test_attachments_are_listed_with_their_sizes_and_references(attachments, html, embedded):
    """Every attachment of a random multipart message is listed once, with its file
    name, its decoded size, and a FileReference that leads back to its bytes."""
    raw = _message("hello there", attachments, html, embedded)
    with Box() as b:
        info, structure = b.put(raw)
        data = now(application_data(b.box, info, structure))
        listed = data.find(BASE, "Attachments")
        expected = [(name, bytes(content)) for content, _, name, _ in attachments]
        if embedded:
            expected.append(("forwarded.eml", None))
        items = listed.children if listed is not None else ()
        assert [a.find(BASE, "DisplayName").text for a in items] == [n for n, _ in expected]
        for item, (_, content) in zip(items, expected):
            folder, uid, path = eas_email.parse_file_reference(item.find(BASE, "FileReference").text)
            assert (folder, uid) == (b.box.id, info.uid)
            got = now(eas_email.attachment_bytes(b.box, uid, structure.part(path)))
            if content is not None:
                assert got == content
            else:
                assert b"inner body" in got
                assert item.find(BASE, "Method").text == "5"
            assert int(item.find(BASE, "EstimatedDataSize").text) == len(got)
        body = data.find(BASE, "Body")
        assert body.find(BASE, "Data").text.strip() == "hello there"
        assert data.find(BASE, "NativeBodyType").text == ("2" if html else "1")


def test_body_types():
    plain = b"Subject: p\r\nFrom: a@example.org\r\n\r\nline <one> & two\r\n"
    html_only = (b"Subject: h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                 b"<html><head><style>p{}</style></head><body><p>Hello</p><p>w&ouml;rld</p></body></html>\r\n")
    with Box() as b:
        as_html = b.data(plain, BodyOptions(type=HTML))
        text = as_html.find(BASE, "Body").find(BASE, "Data").text
        assert as_html.find(BASE, "Body").find(BASE, "Type").text == "2"
        assert "line &lt;one&gt; &amp; two" in text
        as_plain = b.data(html_only, BodyOptions(type=PLAIN))
        assert as_plain.find(BASE, "Body").find(BASE, "Data").text == "Hello\n\nwörld"
        assert as_plain.find(BASE, "NativeBodyType").text == "2"
        html_kept = b.data(html_only, BodyOptions(type=HTML))
        assert "<p>Hello</p>" in html_kept.find(BASE, "Body").find(BASE, "Data").text


def test_mime_body_truncation_and_all_or_none():
    raw = b"Subject: m\r\nFrom: a@example.org\r\n\r\n" + b"y" * 300 + b"\r\n"
    with Box() as b:
        whole = b.data(raw, BodyOptions(type=MIME, mime_support=2, truncation=10_000))
        body = whole.find(BASE, "Body")
        assert body.find(BASE, "Type").text == "4"
        assert body.find(BASE, "Data").text.encode() == raw
        assert body.find(BASE, "Truncated").text == "0"
        assert body.find(BASE, "EstimatedDataSize").text == str(len(raw))
        cut = b.data(raw, BodyOptions(type=MIME, mime_support=2, truncation=20)).find(BASE, "Body")
        assert cut.find(BASE, "Data").text.encode() == raw[:20]
        assert cut.find(BASE, "Truncated").text == "1"
        none = b.data(raw, BodyOptions(type=MIME, mime_support=2, truncation=20, all_or_none=True))
        assert none.find(BASE, "Body").find(BASE, "Data") is None
        assert none.find(BASE, "Body").find(BASE, "Truncated").text == "1"
        # Without MIMESupport the device gets text, not MIME.
        text = b.data(raw, BodyOptions(type=MIME, mime_support=0)).find(BASE, "Body")
        assert text.find(BASE, "Type").text == "1"


def test_smime_message_class_and_mime_for_smime_only():
    raw = (b"Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; "
           b"protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--b\r\n"
           b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n")
    with Box() as b:
        data = b.data(raw, BodyOptions(type=PLAIN, mime_support=1))
        assert data.find(EMAIL, "MessageClass").text == "IPM.Note.SMIME.MultipartSigned"
        assert data.find(BASE, "Body").find(BASE, "Type").text == "4"
        assert data.find(BASE, "Attachments") is None  # the signature is no file
        plain = b.data(raw, BodyOptions(type=PLAIN, mime_support=0))
        assert plain.find(BASE, "Body").find(BASE, "Data").text.strip() == "signed text"


def test_email2_fields_headers_and_categories():
    first = (b"Subject: Plans\r\nFrom: Ann <ann@example.org>\r\nSender: list@example.org\r\n"
             b"To: Bob <bob@example.org>, carol@example.org\r\nReply-To: team@example.org\r\n"
             b"Message-ID: <root@example.org>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
             b"X-Priority: 1 (Highest)\r\n\r\nfirst\r\n")
    reply = (b"Subject: RE: Fwd: Plans\r\nFrom: bob@example.org\r\nTo: ann@example.org\r\n"
             b"Message-ID: <r2@example.org>\r\nIn-Reply-To: <root@example.org>\r\n"
             b"References: <root@example.org>\r\nImportance: low\r\n\r\nsecond\r\n")
    with Box() as b:
        one = b.data(first, BodyOptions(preview=4), version="16.1", flags=["Family~20Trip", "$Forwarded"])
        two = b.data(reply, version="16.1")
        old = b.data(first, BodyOptions(preview=4), version="12.1")
    cid = one.find(EMAIL2, "ConversationId").opaque
    assert len(cid) == 16 and cid == two.find(EMAIL2, "ConversationId").opaque
    assert len(one.find(EMAIL2, "ConversationIndex").opaque) >= 5
    assert one.find(EMAIL2, "Sender").text == "list@example.org"
    assert one.find(EMAIL, "Importance").text == "2"
    assert two.find(EMAIL, "Importance").text == "0"
    assert one.find(EMAIL, "DisplayTo").text == "Bob; carol@example.org"
    assert one.find(EMAIL, "ReplyTo").text == "team@example.org"
    assert two.find(EMAIL, "ThreadTopic").text == "Plans"
    assert one.find(EMAIL, "ContentClass").text == "urn:content-classes:message"
    assert one.find(EMAIL, "InternetCPID").text == "65001"
    assert one.find(BASE, "Body").find(BASE, "Preview").text == "firs"
    cats = one.find(EMAIL, "Categories")
    assert [c.text for c in cats.children] == ["Family Trip"]
    assert old.find(EMAIL2, "ConversationId") is None
    assert old.find(BASE, "Body").find(BASE, "Preview") is None
    # The device renames the category: the old keyword goes, the new one comes.
    from smsync.protocols.eas.wbxml import Element
    change = Element("AirSync:", "ApplicationData", (Element(EMAIL, "Categories", (
        Element(EMAIL, "Category", (), "Holiday 2027"),)),))
    add, remove = flag_changes(change, current={"Family~20Trip", "$Forwarded", "\\Seen"})
    assert add == {"Holiday~202027"} and remove == {"Family~20Trip"}


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_categories_round_trip_through_keywords(category):
    from smsync.store.common import normalize_flags
    keyword = eas_email.category_keyword(category)
    assert normalize_flags([keyword]) == {keyword}  # a valid IMAP atom the store keeps
    assert eas_email.keyword_category(keyword) == category
    assert eas_email.is_category(keyword)


# -- a window at once ---------------------------------------------------------------------

from zope.interface import implementer  # noqa: E402

from smsync.interfaces import IMailboxRangeReads  # noqa: E402


class _Reads:
    """The real mailbox seen through its reads only, counting the round trips asked of
    it: ``read_body`` alone here, ``read_ranges`` too in ``_RangeReads``."""

    def __init__(self, box):
        self.box, self.id, self.account, self.calls = box, box.id, box.account, 0

    async def read_body(self, uid, offset=0, length=None):
        self.calls += 1
        return await self.box.read_body(uid, offset, length)


@implementer(IMailboxRangeReads)
class _RangeReads(_Reads):
    def __init__(self, box):
        super().__init__(box)
        #: How many ranges each ``read_ranges`` call asked for.
        self.sizes = []

    async def read_ranges(self, ranges):
        self.calls += 1
        self.sizes.append(len(ranges))
        return await self.box.read_ranges(ranges)


OPTIONS = st.builds(
    BodyOptions,
    type=st.sampled_from([PLAIN, HTML, MIME]),
    truncation=st.one_of(st.none(), st.integers(0, 3000)),
    all_or_none=st.booleans(),
    mime_support=st.sampled_from([0, 1, 2]),
    preview=st.sampled_from([0, 0, 80]),
)
MESSAGE = st.tuples(st.one_of(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300),
                              # longer than a preview reads, so that it reads a range of its own
                              st.text("ab \u00e9\n", min_size=2500, max_size=4000)),
                    st.lists(ATTACHMENT, max_size=2), st.booleans(), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGE, min_size=1, max_size=5), OPTIONS, st.sampled_from([None, "12.1", "14.1"]),
       st.booleans(), st.integers(0, 2))
def test_a_window_at_once_is_each_message_alone_in_one_read(messages, options, version, gone, small):
    """``application_data_many`` gives what ``application_data`` gives message by message
    (a message deleted meanwhile included), reading once where the mailbox has
    ``read_ranges`` -- several times only past MAX_BATCH_READ bytes."""
    with Box() as b:
        window = [b.put(_message(*m)) for m in messages]
        if gone:  # expunged after the Sync listed it: its reads find nothing
            now(b.box.remove(UIDSet.of([window[0][0].uid])))
        alone = [now(application_data(b.box, info, structure, options, version))
                 for info, structure in window]
        reads = _RangeReads(b.box)
        limit = eas_email.MAX_BATCH_READ
        try:
            if small == 1:
                eas_email.MAX_BATCH_READ = 1  # every range on its own
            together = now(eas_email.application_data_many(reads, window, options, version))
        finally:
            eas_email.MAX_BATCH_READ = limit
        assert together == alone
        if small != 1:
            assert reads.calls == 1
        else:
            # Each read on its own (a message's header and the body right after it are
            # one read, so one message can still be one call).
            assert reads.calls >= 1 and set(reads.sizes) == {1}
        plain = _Reads(b.box)
        assert now(eas_email.application_data_many(plain, window, options, version)) == together
