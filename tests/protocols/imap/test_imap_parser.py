"""The IMAP command parser: grammar coverage and hypothesis fuzzing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.protocols.imap.parser import ParseError, literal_at_end, parse_command
from smsync.protocols.imap.syntax import FetchAtt, Section, SeqSet


def test_login_with_quoted_and_literal():
    cmd = parse_command(b'a1 LOGIN "joe@example.org" {6}\r\nse"c\\t')
    assert cmd.tag == "a1" and cmd.name == "LOGIN"
    assert cmd.args.user == b"joe@example.org"
    assert cmd.args.password == b'se"c\\t'


def test_nonsync_literal_and_append_options():
    cmd = parse_command(b'A APPEND Drafts (\\Seen $Label1) " 7-Jul-2020 10:00:00 +0200" {5+}\r\nhello')
    (msg,) = cmd.args.messages
    assert cmd.args.mailbox == b"Drafts"
    assert msg.flags == ("\\Seen", "$Label1")
    assert msg.date == datetime(2020, 7, 7, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert msg.data == b"hello"


def test_multiappend_and_binary_literal():
    cmd = parse_command(b"A APPEND INBOX {1}\r\nx ~{3}\r\na\x00b")
    assert [m.data for m in cmd.args.messages] == [b"x", b"a\x00b"]
    assert [m.binary for m in cmd.args.messages] == [False, True]


def test_fetch_sections_and_partials():
    cmd = parse_command(
        b"t UID FETCH 1:*,7 (UID BODY.PEEK[1.2.MIME]<0.1024> BODY[HEADER.FIELDS.NOT (Received X-Spam)] "
        b"BINARY.SIZE[3] BINARY.PEEK[2]<10.20> BODY[] RFC822.SIZE) (CHANGEDSINCE 12345 VANISHED)"
    )
    assert cmd.uid and cmd.name == "FETCH"
    assert cmd.args.seqset == SeqSet(((1, None), (7, 7)))
    atts = cmd.args.atts
    assert atts[1] == FetchAtt("BODY.PEEK", Section((1, 2), "MIME"), (0, 1024))
    assert atts[2] == FetchAtt("BODY", Section((), "HEADER.FIELDS.NOT", ("Received", "X-Spam")))
    assert atts[3] == FetchAtt("BINARY.SIZE", Section((3,)))
    assert atts[4] == FetchAtt("BINARY.PEEK", Section((2,)), (10, 20))
    assert atts[5] == FetchAtt("BODY", Section())
    assert cmd.args.changedsince == 12345 and cmd.args.vanished


def test_fetch_macros():
    assert [a.name for a in parse_command(b"x FETCH 1 FAST").args.atts] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [a.name for a in parse_command(b"x FETCH 1 FULL").args.atts][-1] == "BODY"


def test_search_keys_normalised():
    cmd = parse_command(b'x SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 OR UNSEEN KEYWORD $Junk NOT (LARGER 10 SINCE 1-Feb-2024) HEADER "List-Id" "dev" $ MODSEQ 7')
    args = cmd.args
    assert args.return_opts == ("MIN", "COUNT", "SAVE") and args.charset == "UTF-8"
    ops = [k.op for k in args.key.args]
    assert ops == ["OR", "NOT", "HEADER", "SEQ", "MODSEQ"]
    assert args.key.args[0].args[0].op == "NOT"
    assert args.key.args[3].args[0].saved


def test_store_and_unchangedsince():
    cmd = parse_command(b"x UID STORE 4:2 (UNCHANGEDSINCE 9) -FLAGS.SILENT \\Deleted \\Seen")
    assert cmd.args.mode == "remove" and cmd.args.silent
    assert cmd.args.flags == ("\\Deleted", "\\Seen") and cmd.args.unchangedsince == 9
    assert cmd.args.seqset.resolve(10) == [(2, 4)]


def test_list_extended_and_status():
    cmd = parse_command(b'x LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Sent/%") RETURN (CHILDREN STATUS (MESSAGES SIZE))')
    assert cmd.args.select_opts == ("SUBSCRIBED", "RECURSIVEMATCH")
    assert cmd.args.patterns == (b"INBOX", b"Sent/%")
    assert cmd.args.status_items == ("MESSAGES", "SIZE")


def test_select_qresync():
    cmd = parse_command(b"x SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211 (1:3 41,43:44)))")
    q = cmd.args.qresync
    assert q.uidvalidity == 67890007 and q.modseq == 20050715194045000
    assert q.known_uids == SeqSet(((41, 41), (43, 211)))
    assert q.seq_match[0] == SeqSet(((1, 3),))


def test_misc_commands():
    assert parse_command(b"x ID NIL").args.params is None
    assert parse_command(b'x ID ("name" "mutt" "version" NIL)').args.params == (("name", "mutt"), ("version", None))
    assert parse_command(b"x ENABLE QRESYNC imap4rev2").args.capabilities == ("QRESYNC", "IMAP4REV2")
    assert parse_command(b"x AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==").args.initial == b"AGFsaWNlAHNlY3JldA=="
    assert parse_command(b"x CREATE Archive/2024 (USE (\\Archive))").args.special_use == ("\\Archive",)
    assert parse_command(b"x UID EXPUNGE 3:5").args.seqset == SeqSet(((3, 5),))
    assert parse_command(b"x SORT (REVERSE ARRIVAL SIZE) UTF-8 ALL").args.criteria == ((True, "ARRIVAL"), (False, "SIZE"))
    assert parse_command(b"x THREAD REFERENCES US-ASCII SUBJECT hi").args.algorithm == "REFERENCES"
    assert parse_command(b"x IDLE").name == "IDLE"


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"a1",
        b"a1 FROB",
        b"a1 LOGIN onlyuser",
        b"a1 FETCH 0 FLAGS",
        b"a1 FETCH 1 (FLAGS",
        b"a1 FETCH 1 BODY[1.]",
        b"a1 FETCH 1 BODY[MIME]",
        b"a1 SEARCH NOSUCHKEY",
        b'a1 SELECT "unterminated',
        b"a1 APPEND INBOX {10}\r\nshort",
        b"a1 UID NOOP",
        b"a1 STORE 1 FLAGS.LOUD (\\Seen)",
        b"a1 SEARCH " + b"NOT " * 200 + b"ALL",
        b"a1 LOGIN a b extra",
    ],
)
def test_malformed_commands_raise_parse_error_with_tag(line):
    with pytest.raises(ParseError) as e:
        parse_command(line)
    if line.startswith(b"a1"):
        assert e.value.tag == "a1"


def test_literal_at_end():
    m = literal_at_end(b"a APPEND INBOX {123+}")
    assert (m.size, m.nonsync, m.binary) == (123, True, False)
    assert literal_at_end(b"a APPEND INBOX ~{5}").binary
    assert literal_at_end(b'a LOGIN "x{5}"') is None


_TOKENS = st.sampled_from(
    [b"a1", b"UID", b"FETCH", b"STORE", b"SEARCH", b"1:*", b"(", b")", b"[", b"]", b"<0.10>", b"BODY.PEEK[",
     b"HEADER.FIELDS", b"\\Seen", b'"q"', b"{3}\r\nabc", b"{2+}\r\nab", b"NIL", b"*", b"$", b"OR", b"NOT",
     b"LIST", b"APPEND", b"SELECT", b"INBOX", b"(QRESYNC (1 2))", b"RETURN", b"CHARSET", b"UTF-8", b" ", b"%",
     b"1-Jan-2020", b'" 1-Jan-2020 00:00:00 +0000"', b"~{1}\r\n\x00", b"LOGIN", b"ID", b"ENABLE"]
)


def _safe_parse(data: bytes) -> None:
    try:
        parse_command(data)
    except ParseError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_parse_error(data):
    _safe_parse(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=25).map(lambda t: b" ".join(t)))
def test_token_soup_only_raises_parse_error(data):
    _safe_parse(data)


_VALID = [
    b"a1 UID FETCH 1:* (FLAGS BODY.PEEK[1.2.MIME]<0.1024> BODY[HEADER.FIELDS (From To)])",
    b'a2 APPEND INBOX (\\Seen) " 7-Jul-2020 10:00:00 +0200" {5+}\r\nhello',
    b"a3 SEARCH RETURN (MIN) CHARSET UTF-8 OR FROM joe (SINCE 1-Jan-2020 NOT SEEN) 1:3,5",
    b'a4 LIST (SUBSCRIBED) "" ("*" %) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))',
    b"a5 SELECT INBOX (QRESYNC (67890007 2005 41,43:211))",
    b"a6 STORE 1 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen $Junk)",
]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(_VALID), st.data())
def test_mutated_valid_commands_only_raise_parse_error(line, data):
    buf = bytearray(line)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and buf:
            del buf[pos]
        else:
            del buf[pos:]
    _safe_parse(bytes(buf))


@given(st.sampled_from(_VALID))
def test_valid_commands_parse(line):
    assert parse_command(line).tag.startswith("a")
