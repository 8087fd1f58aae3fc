"""ESORT, CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267), and RETURN (UPDATE) with FETCH
attributes (RFC 5465 section 7), checked against the RFCs' own words through a raw
socket on a real server: no library client speaks ESEARCH ADDTO or REMOVEFROM."""

from __future__ import annotations

import re

import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread

MSG = (b"From: a@example.org\r\nSubject: %s\r\nDate: Mon, 01 Jan 2024 10:0%d:00 +0000\r\n"
       b"Message-ID: <%s@example.org>\r\n\r\nbody\r\n")


def _msg(subject: bytes, minute: int = 0) -> bytes:
    return MSG % (subject, minute, subject)


def _login(raw) -> None:
    assert raw.command(b"L", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")


def _esearch(lines, tag: bytes) -> list[bytes]:
    return [l for l in lines if l.startswith(b'* ESEARCH (TAG "' + tag + b'")')]


def _append(raw, tag: bytes, mailbox: bytes, body: bytes, flags: bytes = b"") -> list[bytes]:
    raw.send(tag + b" APPEND " + mailbox + b" " + flags + b"{%d}\r\n" % len(body))
    assert raw.line().startswith(b"+")
    raw.send(body + b"\r\n")
    return raw.until(tag)


@pytest_twisted.ensureDeferred
async def test_capabilities_announce_esort_and_contexts(server):
    """RFC 5267 7: "This document defines the ESORT, CONTEXT=SEARCH, and CONTEXT=SORT
    IMAP capabilities"; 4.1: "Servers advertising CONTEXT=SORT also advertise the SORT
    capability"."""

    def run():
        raw = server.raw()
        _login(raw)
        caps = raw.command(b"c", b"CAPABILITY")[0].split()
        raw.close()
        return caps

    caps = await in_thread(run)
    assert {b"ESORT", b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"SORT"} <= set(caps)


@pytest_twisted.ensureDeferred
async def test_esort_answers_min_max_all_count_in_sort_order(server):
    """RFC 5267 3: "the extended SORT command returns results in an ESEARCH response".
    3.1: "MIN Return the message number/UID of the lowest sorted message satisfying the
    search criteria. MAX Return the message number/UID of the highest sorted message
    [...] ALL Return all message numbers/UIDs which match the search criteria, in the
    requested sort order, using a sequence-set. COUNT As in [ESEARCH]." 3.3: "If the list
    of return options is present but empty, then the server provides the ALL return data
    item in an ESEARCH response." 3.2: ranges "MUST be ordered in increasing numerical
    order after expansion"."""
    # UIDs 1..5 with subjects that sort as 3, 1, 2, 5, 4.
    await server.deliver(_msg(b"b"), _msg(b"c"), _msg(b"a"), _msg(b"e"), _msg(b"d"))

    def run():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        full = raw.command(b"e1", b"UID SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL")
        empty = raw.command(b"e2", b"SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL")
        some = raw.command(b"e3", b"SORT RETURN (COUNT MAX) (SUBJECT) UTF-8 NOT SUBJECT e")
        none = raw.command(b"e4", b"SORT RETURN (MIN ALL COUNT) (SUBJECT) UTF-8 SUBJECT zzz")
        plain = raw.command(b"p", b"SORT (SUBJECT) UTF-8 ALL")
        raw.close()
        return full, empty, some, none, plain

    full, empty, some, none, plain = await in_thread(run)
    assert _esearch(full, b"e1") == [b'* ESEARCH (TAG "e1") UID MIN 3 MAX 4 ALL 3,1:2,5,4 COUNT 5']
    assert not any(l.startswith(b"* SORT") for l in full)
    assert _esearch(empty, b"e2") == [b'* ESEARCH (TAG "e2") ALL 4:5,2,1,3']
    assert _esearch(some, b"e3") == [b'* ESEARCH (TAG "e3") MAX 5 COUNT 4']
    assert _esearch(none, b"e4") == [b'* ESEARCH (TAG "e4") COUNT 0']
    assert b"* SORT 3 1 2 5 4" in plain


@pytest_twisted.ensureDeferred
async def test_partial_returns_a_window_of_the_results(server):
    """RFC 5267 4.4: "The PARTIAL search return option causes the server to provide in
    an ESEARCH response a subset of the results denoted by the sequence range given as
    the mandatory argument. The first result is 1"; "A range 500:400 is the same as
    400:500"; "the server returns the results that are in the set. This yields a PARTIAL
    return data item that has, as payload, the original range and a potentially missing
    set of results"; "NIL indicates no results correspond to the requested range". "A
    single command MUST NOT contain more than one PARTIAL or ALL search return option".
    For SORT the window is of the results in sort order (4.1: CONTEXT=SORT accepts the
    three return options "for this extended SORT")."""
    await server.deliver(*[_msg(s) for s in (b"b", b"c", b"a", b"e", b"d")])

    def run():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        out = [
            raw.command(b"p1", b"SEARCH RETURN (PARTIAL 2:3) ALL"),
            raw.command(b"p2", b"UID SEARCH RETURN (PARTIAL 5:4 COUNT) ALL"),
            raw.command(b"p3", b"UID SEARCH RETURN (PARTIAL 4:10) ALL"),
            raw.command(b"p4", b"SEARCH RETURN (PARTIAL 9:10) ALL"),
            raw.command(b"p5", b"UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL"),
            raw.command(b"p6", b"SEARCH RETURN (PARTIAL 1:2 ALL) ALL"),
        ]
        raw.close()
        return out

    p1, p2, p3, p4, p5, p6 = await in_thread(run)
    assert _esearch(p1, b"p1") == [b'* ESEARCH (TAG "p1") PARTIAL (2:3 2:3)']
    assert _esearch(p2, b"p2") == [b'* ESEARCH (TAG "p2") UID PARTIAL (5:4 4:5) COUNT 5']
    assert _esearch(p3, b"p3") == [b'* ESEARCH (TAG "p3") UID PARTIAL (4:10 4:5)']
    assert _esearch(p4, b"p4") == [b'* ESEARCH (TAG "p4") PARTIAL (9:10 NIL)']
    assert _esearch(p5, b"p5") == [b'* ESEARCH (TAG "p5") UID PARTIAL (1:2 3,1)']
    assert p6[-1].startswith(b"p6 BAD")


@pytest_twisted.ensureDeferred
async def test_search_update_adds_and_removes_as_the_mailbox_changes(server):
    """RFC 5267 4.3: "The search return option UPDATE, if used by a client, causes the
    server to issue unsolicited notifications containing updates to the results that
    would be returned by an unmodified searching command. These update sets are carried
    in ADDTO and REMOVEFROM data items in ESEARCH responses." 4.3.2: the set is "UIDs or
    message numbers, depending on how the UPDATE was specified". 4.3.3: "an ADDTO
    containing message sequence numbers added as a result of those messages being
    delivered or appended MUST be sent after the EXISTS notification itself"; "Where the
    searching command is a SEARCH or UID SEARCH command, the context position MAY be
    zero". 4.3.4: "a REMOVEFROM containing message sequence numbers removed as a result
    of those messages being expunged MUST be sent prior to the expunge notification
    itself". 4.3.5: CANCELUPDATE "will prevent all updates to the contexts named in the
    arguments from being transmitted by the server"; "Updates will cease when the mailbox
    is no longer selected". And 4.3: "An attempt to use UPDATE where a tag is already in
    use with a previous searching command that itself used UPDATE SHALL result in the
    server rejecting the searching command with a BAD response." """
    await server.deliver(*[_msg(b"m%d" % i) for i in range(1, 5)])

    def run():
        a = server.raw()
        _login(a)
        b = server.raw()
        _login(b)
        a.command(b"s", b"SELECT INBOX")
        b.command(b"s", b"SELECT INBOX")
        first = a.command(b"U1", b"UID SEARCH RETURN (UPDATE COUNT) FLAGGED")
        second = a.command(b"N1", b"SEARCH RETURN (UPDATE) FLAGGED")
        reuse = a.command(b"U1", b"SEARCH RETURN (UPDATE) ALL")

        b.command(b"f", b"UID STORE 2,3 +FLAGS (\\Flagged)")
        flagged = a.command(b"n1", b"NOOP")

        _append(b, b"ap", b"INBOX", _msg(b"m5"), b"(\\Flagged) ")
        arrived = a.command(b"n2", b"NOOP")

        b.command(b"d", b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        b.command(b"x", b"EXPUNGE")
        expunged = a.command(b"n3", b"NOOP")

        cancel = a.command(b"c", b'CANCELUPDATE "U1"')
        unknown = a.command(b"c2", b'CANCELUPDATE "U1"')
        b.command(b"g", b"UID STORE 1 +FLAGS (\\Flagged)")
        after_cancel = a.command(b"n4", b"NOOP")

        a.command(b"s2", b"SELECT INBOX")
        b.command(b"h", b"UID STORE 1 -FLAGS (\\Flagged)")
        after_select = a.command(b"n5", b"NOOP")
        a.close()
        b.close()
        return first, second, reuse, flagged, arrived, expunged, cancel, unknown, after_cancel, after_select

    (first, second, reuse, flagged, arrived, expunged, cancel, unknown,
     after_cancel, after_select) = await in_thread(run)
    assert _esearch(first, b"U1") == [b'* ESEARCH (TAG "U1") UID COUNT 0']
    assert _esearch(second, b"N1") == [b'* ESEARCH (TAG "N1")']
    assert reuse[-1].startswith(b"U1 BAD")

    assert b'* ESEARCH (TAG "U1") UID ADDTO (0 2:3)' in flagged
    assert b'* ESEARCH (TAG "N1") ADDTO (0 2:3)' in flagged

    exists = arrived.index(b"* 5 EXISTS")
    assert arrived.index(b'* ESEARCH (TAG "U1") UID ADDTO (0 5)') > exists
    assert arrived.index(b'* ESEARCH (TAG "N1") ADDTO (0 5)') > exists

    gone = expunged.index(b"* 2 EXPUNGE")
    assert expunged.index(b'* ESEARCH (TAG "U1") UID REMOVEFROM (0 2)') < gone
    assert expunged.index(b'* ESEARCH (TAG "N1") REMOVEFROM (0 2)') < gone

    assert cancel[-1].startswith(b"c OK")
    assert unknown[-1].startswith(b"c2 NO")
    assert not _esearch(after_cancel, b"U1")
    assert b'* ESEARCH (TAG "N1") ADDTO (0 1)' in after_cancel
    assert not any(l.startswith(b"* ESEARCH") for l in after_select)


@pytest_twisted.ensureDeferred
async def test_sort_update_keeps_positions_in_sort_order(server):
    """RFC 5267 4.3.3: "The ADDTO return data item contains, as payload, a list
    containing pairs of a context position and a set of result updates in the requested
    order to be inserted at the context position [...] If the context position is
    non-zero, the result update is inserted at the given context position, meaning that
    the first result in the set will occupy the new context position after insertion".
    4.3.4, REMOVEFROM: "If the context position is non-zero, the results are removed at
    the given context position, meaning that the first result in the set will occupy the
    given context position before removal"."""
    # UIDs 1, 2, 3: subjects a, c, e -- all unseen.
    await server.deliver(_msg(b"a"), _msg(b"c"), _msg(b"e"))

    def run():
        a = server.raw()
        _login(a)
        b = server.raw()
        _login(b)
        a.command(b"s", b"SELECT INBOX")
        initial = a.command(b"S1", b"UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN")
        _append(b, b"ap", b"INBOX", _msg(b"b"))  # UID 4 sorts second
        added = a.command(b"n1", b"NOOP")
        b.command(b"s", b"SELECT INBOX")
        b.command(b"f", b"UID STORE 2 +FLAGS (\\Seen)")  # "c", now third, leaves
        removed = a.command(b"n2", b"NOOP")
        a.close()
        b.close()
        return initial, added, removed

    initial, added, removed = await in_thread(run)
    assert _esearch(initial, b"S1") == [b'* ESEARCH (TAG "S1") UID ALL 1:3']
    assert b'* ESEARCH (TAG "S1") UID ADDTO (2 4)' in added
    assert b'* ESEARCH (TAG "S1") UID REMOVEFROM (3 2)' in removed


@pytest_twisted.ensureDeferred
async def test_update_fetches_what_it_asks_of_new_results_before_adding_them(server):
    """RFC 5465 7: "If the server that supports the NOTIFY extension also supports
    CONTEXT=SEARCH and/or CONTEXT=SORT as defined in [RFC5267], the UPDATE return option
    is extended so that a client can request that FETCH attributes be returned when a
    new message is added to the context result set", "modifier-update = "UPDATE" [ "("
    fetch-att *(SP fetch-att) ")" ]", and the FETCH comes after the EXISTS and before the
    ESEARCH that adds the message."""
    await server.deliver(_msg(b"one"))

    def run():
        a = server.raw()
        _login(a)
        b = server.raw()
        _login(b)
        a.command(b"s", b"SELECT INBOX")
        a.command(b"F1", b"UID SEARCH RETURN (UPDATE (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])) UNSEEN")
        _append(b, b"ap", b"INBOX", _msg(b"two"))
        lines = a.command(b"n", b"NOOP")
        a.close()
        b.close()
        return lines

    lines = await in_thread(run)
    exists = lines.index(b"* 2 EXISTS")
    fetch = next(i for i, l in enumerate(lines) if l.startswith(b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {"))
    addto = lines.index(b'* ESEARCH (TAG "F1") UID ADDTO (0 2)')
    assert exists < fetch < addto
    assert b"Subject: two" in lines[fetch + 1]


@pytest_twisted.ensureDeferred
async def test_too_many_contexts_is_noupdate_and_the_search_still_answers(server):
    """RFC 5267 4.3.1: "the server MAY refuse to provide updates [...] In such a case,
    an untagged NO is generated during processing of the command with a response-code
    of NOUPDATE. The response-code contains, as argument, the tag of the search command
    for which the server is refusing to honour the UPDATE request. [...] Other return
    options specified SHALL still be honoured." """
    await server.deliver(_msg(b"x"))

    def run():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        answers = [raw.command(b"t%d" % i, b"SEARCH RETURN (UPDATE COUNT) ALL") for i in range(40)]
        raw.close()
        return answers

    answers = await in_thread(run)
    refused = [i for i, lines in enumerate(answers) if any(re.match(rb'\* NO \[NOUPDATE "t\d+"\]', l) for l in lines)]
    assert refused, "some context must be refused"
    assert refused[0] >= 1 and refused == list(range(refused[0], 40))
    for i in refused:
        assert b'* NO [NOUPDATE "t%d"]' % i in answers[i][0]
        assert _esearch(answers[i], b"t%d" % i) == [b'* ESEARCH (TAG "t%d") COUNT 1' % i]
        assert answers[i][-1].startswith(b"t%d OK" % i)
