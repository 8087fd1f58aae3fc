"""rewrite_uid: only UID lines change, whatever the folding and line endings."""

from hypothesis import given, strategies as st

from smsync.sync.uids import _logical_lines, property_name, rewrite_uid

_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":;"),
                min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_eol = st.sampled_from([b"\r\n", b"\n"])


def fold(line: bytes, width: int, eol: bytes) -> bytes:
    """RFC 5545 folding at ``width`` octets."""
    parts = [line[:width]] + [b" " + line[i:i + width] for i in range(width, len(line), width)]
    return eol.join(parts) + eol


@st.composite
def documents(draw):
    eol = draw(_eol)
    props = draw(st.lists(st.tuples(_text, _value), max_size=8))
    uid_at = draw(st.lists(st.integers(0, len(props)), max_size=3))
    lines = [(name.encode(), value.encode()) for name, value in props]
    for pos in sorted(uid_at, reverse=True):
        uid_name = draw(st.sampled_from([b"UID", b"uid", b"item1.UID", b"UID;X-P=1"]))
        lines.insert(pos, (uid_name, draw(_value).encode()))
    width = draw(st.integers(5, 75))
    body = b"".join(fold(n + b":" + v, width, eol) for n, v in lines)
    return body, len(uid_at)


@given(documents(), st.uuids())
def test_only_uid_lines_change(doc, new):
    content, n_uids = doc
    out = rewrite_uid(content, str(new))
    before = _logical_lines(content)
    after = _logical_lines(out)
    assert len(before) == len(after)
    uid_lines = 0
    for old, now in zip(before, after):
        if property_name(old) == b"UID":
            uid_lines += 1
            assert b"".join(now).rstrip(b"\r\n") == b"UID:" + str(new).encode()
        else:
            assert old == now
    assert uid_lines == n_uids


def test_event_copy_gets_new_uid_and_keeps_the_rest():
    content = (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:abc\r\n SPLIT\r\nSUMMARY:Hi\r\n"
               b"END:VEVENT\r\nBEGIN:VEVENT\r\nUID:abcSPLIT\r\nRECURRENCE-ID:20240101T000000Z\r\n"
               b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    out = rewrite_uid(content, "new-1")
    assert out.count(b"UID:new-1\r\n") == 2
    assert b"abc" not in out
    assert out.replace(b"UID:new-1\r\n", b"") == content.replace(b"UID:abc\r\n SPLIT\r\n", b"").replace(
        b"UID:abcSPLIT\r\n", b"")


def test_no_uid_unchanged():
    assert rewrite_uid(b"BEGIN:VCARD\nFN:x\nEND:VCARD\n", "u") == b"BEGIN:VCARD\nFN:x\nEND:VCARD\n"
