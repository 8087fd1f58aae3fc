"""Advertised extensions checked against their RFCs' own words: BINARY (RFC 3516),
CONDSTORE (RFC 7162, with ESEARCH's RFC 4731 section 3.2), LIST-EXTENDED (RFC 5258) and
SORT=DISPLAY (RFC 5957).

Each test quotes the text it checks and talks to a real server on 127.0.0.1 through a
raw socket, since no library client speaks literal8, CHILDINFO or ESEARCH MODSEQ.
"""

from __future__ import annotations

import base64
import binascii
import re

import pytest_twisted
from imap_harness import in_thread
from imap_wire import login as _login
from imap_wire import response as _response
from imap_wire import send as _send

from smsync.model import FlagMode, UIDSet


def _literal(response: bytes, label: bytes) -> tuple[bool, bytes]:
    """The literal that follows ``label`` in a FETCH response: (was it a literal8, bytes)."""
    at = response.index(label + b" ") + len(label) + 1
    m = re.compile(rb"(~?)\{(\d+)\}\r\n").match(response, at)
    assert m, response[at : at + 40]
    start = m.end()
    return bool(m.group(1)), response[start : start + int(m.group(2))]


def _number(response: bytes, label: bytes) -> int:
    m = re.search(re.escape(label) + rb" (\d+)", response)
    assert m, response
    return int(m.group(1))


# -- BINARY (RFC 3516) -----------------------------------------------------------------

QP_MESSAGE = (
    b"From: a@example.org\r\nSubject: qp\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    # Padding added by a transport after "one", and after the soft-break "=" of "soft=".
    b"line one  \t \r\n"
    b"soft= \t\r\n"
    b"break=\r\n"
    b"x=3Dy\r\n"
)
#: RFC 2045 6.7 rule 3: "when decoding a Quoted-Printable body, any trailing white space
#: on a line must be deleted, as it will necessarily have been added by intermediate
#: transport agents"; its grammar: qp-segment := qp-section *(SPACE / TAB) "=" followed by
#: transport-padding CRLF is a soft line break ("receivers MUST be able to handle padding
#: added by message transports").
QP_DECODED = b"line one\r\nsoftbreakx=y\r\n"


@pytest_twisted.ensureDeferred
async def test_binary_decodes_quoted_printable_as_rfc2045_says(server):
    """RFC 3516 4.2/4.3: BINARY returns the section "after removing any CTE-related
    encoding"; BINARY.SIZE "MUST match the size of the <nstring> or <literal8> that will be
    returned by the corresponding FETCH BINARY request"; "the <partial> arguments refer
    to the DECODED section data"."""
    box = await server.mailbox()
    await box.append(QP_MESSAGE)

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        got = _send(raw, b"f", b"FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<5.8>)")
        raw.close()
        return got

    got = await in_thread(run)
    assert _literal(got, b"BINARY[1]")[1] == QP_DECODED
    assert _number(got, b"BINARY.SIZE[1]") == len(QP_DECODED)
    assert _literal(got, b"BINARY[1]<5>")[1] == QP_DECODED[5:13]


BINARY_PART = b"\x00\x01\x02binary\x00data\xff\r\n\x00"
BINARY_MESSAGE = (
    b"From: a@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    + BINARY_PART
    + b"\r\n--b1--\r\n"
)
_BASE_CTES = {"7BIT", "8BIT", "BASE64", "QUOTED-PRINTABLE"}


@pytest_twisted.ensureDeferred
async def test_binary_append_with_nul_is_fetched_encoded_by_body_and_decoded_by_binary(server):
    """RFC 3516 4.4: "The APPEND command is extended to allow the client to append data
    containing NULs by using the <literal8> syntax. The server MAY modify the CTE of the
    appended data, however any such transformation MUST NOT result in a loss of data."
    Section 6: "the server MUST issue BODYSTRUCTURE responses that describe the message as
    though the binary-encoded sections are encoded in a CTE acceptable to the IMAP4 base
    specification. Furthermore, the results of a FETCH BODY MUST return the message body
    content in the format described by the corresponding FETCH BODYSTRUCTURE response."
    Section 4.3: BINARY is "An <nstring> or <literal8> expressing the content of the
    specified section after removing any CTE-related encoding" (and a <literal> cannot
    hold NUL: RFC 3501 CHAR8 is %x01-ff)."""

    def run():
        raw = server.raw()
        _login(raw)
        raw.send(b"a APPEND INBOX ~{%d+}\r\n" % len(BINARY_MESSAGE) + BINARY_MESSAGE + b"\r\n")
        appended = _response(raw, b"a")
        _send(raw, b"s", b"SELECT INBOX")
        structure = _send(raw, b"b", b"FETCH 1 (BODYSTRUCTURE)")
        body = _send(raw, b"f", b"FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2])")
        raw.close()
        return appended, structure, body

    appended, structure, body = await in_thread(run)
    assert b"a OK" in appended
    m = re.search(rb'\("APPLICATION" "OCTET-STREAM" NIL NIL NIL "([^"]+)" (\d+)', structure)
    assert m, structure
    cte, size = m.group(1).decode().upper(), int(m.group(2))
    assert cte in _BASE_CTES

    was_binary, encoded = _literal(body, b"BODY[2]")
    assert not was_binary and b"\x00" not in encoded
    assert len(encoded) == size
    if cte == "BASE64":
        assert binascii.a2b_base64(encoded) == BINARY_PART
    elif cte == "QUOTED-PRINTABLE":
        assert binascii.a2b_qp(encoded) == BINARY_PART

    was_binary, decoded = _literal(body, b"BINARY[2]")
    assert was_binary and decoded == BINARY_PART
    assert _number(body, b"BINARY.SIZE[2]") == len(BINARY_PART)


# -- CONDSTORE (RFC 7162) ----------------------------------------------------------------

MSG = b"From: a@example.org\r\nSubject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody\r\n"

#: RFC 7162 3.1: 'A client supporting the CONDSTORE extension indicates its willingness
#: to receive mod-sequence updates in all untagged FETCH responses by issuing one of the
#: following, which are called "CONDSTORE enabling commands"' -- each list here issues one.
ENABLING = [
    [b"SELECT INBOX (CONDSTORE)"],
    [b"SELECT INBOX", b"STATUS INBOX (HIGHESTMODSEQ)"],
    [b"SELECT INBOX", b"FETCH 1 (MODSEQ)"],
    [b"SELECT INBOX", b"SEARCH MODSEQ 1"],
    [b"SELECT INBOX", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1)"],
    [b"SELECT INBOX", b"STORE 1 (UNCHANGEDSINCE 4611686018427387903) +FLAGS.SILENT ($Cond)"],
    [b"ENABLE CONDSTORE", b"SELECT INBOX"],
]


@pytest_twisted.ensureDeferred
async def test_condstore_enabling_commands_turn_on_modseq_reporting(server):
    """RFC 7162 3.1: "Once a client issues a CONDSTORE enabling command [...] The server
    MUST then include mod-sequence data in all subsequent untagged FETCH responses (until
    the connection is closed), whether they were caused by a regular STORE, a STORE with
    an UNCHANGEDSINCE modifier, or an external agent. [...] A first CONDSTORE enabling
    command executed in the session with a mailbox selected MUST cause the server to
    return HIGHESTMODSEQ (Section 3.1.2.1) for the mailbox"."""
    box = await server.mailbox()
    for i in range(3):
        await box.append(MSG % (i, i))

    def run():
        other = server.raw()
        _login(other)
        _send(other, b"s", b"SELECT INBOX")
        for n, commands in enumerate(ENABLING):
            raw = server.raw()
            _login(raw)
            for i, command in enumerate(commands):
                got = _send(raw, b"c%d" % i, command)
                assert re.search(rb"^c%d OK" % i, got, re.M), (command, got)
            # The command that enabled CONDSTORE, or the SELECT after it, names it.
            assert b"[HIGHESTMODSEQ " in got, (commands, got)
            # A change by an external agent (another session), reported by NOOP...
            _send(other, b"x", b"STORE 2 +FLAGS.SILENT ($Ext%d)" % n)
            got = _send(raw, b"n", b"NOOP")
            assert re.search(rb"^\* 2 FETCH \(.*\$Ext%d.*\)" % n, got, re.M), (commands, got)
            assert re.search(rb"^\* 2 FETCH \(.*MODSEQ \(\d+\).*\)", got, re.M), (commands, got)
            # ...and one by a regular STORE of this session.
            got = _send(raw, b"o", b"STORE 3 +FLAGS ($Own%d)" % n)
            assert re.search(rb"^\* 3 FETCH \(.*MODSEQ \(\d+\).*\)", got, re.M), (commands, got)
            raw.close()
        other.close()

    await in_thread(run)


@pytest_twisted.ensureDeferred
async def test_qresync_server_sends_uid_and_modseq_once_condstore_is_on(server):
    """RFC 7162 3.2.4, "Additional Requirements on QRESYNC Servers": "Once a CONDSTORE
    enabling command is issued by the client, the server MUST automatically include both
    UID and mod-sequence data in all subsequent untagged FETCH responses (until the
    connection is closed), whether they were caused by a regular STORE/UID STORE, a
    STORE/UID STORE with an UNCHANGEDSINCE modifier, a FETCH/UID FETCH that implicitly set
    the \\Seen flag, or an external agent." """
    box = await server.mailbox()
    for i in range(3):
        await box.append(MSG % (i, i))

    def run():
        raw = server.raw()
        _login(raw)
        capability = _send(raw, b"c", b"CAPABILITY")
        _send(raw, b"s", b"SELECT INBOX (CONDSTORE)")
        store = _send(raw, b"t", b"STORE 1 +FLAGS (\\Flagged)")
        fetch = _send(raw, b"f", b"FETCH 2 (BODY[TEXT])")
        raw.close()
        return capability, store, fetch

    capability, store, fetch = await in_thread(run)
    assert b" QRESYNC" in capability
    assert re.search(rb"^\* 1 FETCH \((?=.*UID 1[ )])(?=.*MODSEQ \(\d+\))(?=.*FLAGS \(\\Flagged( \\Recent)?\)).*\)\r$",
                     store, re.M), store
    # The body literal spans lines: look at the whole response to the FETCH.
    assert re.search(rb"^\* 2 FETCH \((?=.*UID 2[ )])(?=.*MODSEQ \(\d+\))(?=.*FLAGS \((\\Recent )?\\Seen\)).*\)\r\nf OK",
                     fetch, re.M | re.S), fetch


def _modseqs(raw) -> dict[int, int]:
    got = _send(raw, b"m", b"FETCH 1:* (MODSEQ)")
    return {int(s): int(m) for s, m in re.findall(rb"^\* (\d+) FETCH \(MODSEQ \((\d+)\)\)", got, re.M)}


@pytest_twisted.ensureDeferred
async def test_esearch_modseq_follows_the_returned_messages(server):
    """RFC 7162 3.1.10: with a MODSEQ criterion "the server MUST return the ESEARCH
    response containing the MODSEQ result option as defined in Section 3.2 of [RFC4731]",
    which says: "If the SEARCH/UID SEARCH command contained a single MIN or MAX result
    option, the MODSEQ result option contains the mod-sequence for the found message. If
    [it] contained both MIN and MAX result options and no ALL/COUNT option, the MODSEQ
    result option contains the highest mod-sequence for the two returned messages.
    Otherwise the MODSEQ result option contains the highest mod-sequence for all messages
    being returned." The commands are those of its example (RFC 7162 3.1.5's entry name
    "/flags/\\draft", which a server keeping one mod-sequence per message "MUST ignore")."""
    box = await server.mailbox()
    for i in range(5):
        await box.append(MSG % (i, i))
    # \Draft set on 5, then 1, then 3: the mod-sequences rise in that order.
    for uid in (5, 1, 3):
        await box.store_flags(UIDSet.of([uid]), FlagMode.ADD, ("\\Draft",))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        modseq = _modseqs(raw)
        since = modseq[5]
        assert modseq[5] < modseq[1] < modseq[3] and since > max(modseq[2], modseq[4])
        entry = b'MODSEQ "/flags/\\\\draft" all %d' % since
        answers = {ret: _send(raw, b"a", b"SEARCH RETURN (%s) " % ret + entry).split(b"\r\n")[0]
                   for ret in (b"MIN", b"MAX", b"MIN MAX", b"MIN COUNT", b"ALL", b"")}
        plain = _send(raw, b"p", b"SEARCH " + entry).split(b"\r\n")[0]
        sort = _send(raw, b"o", b"SORT (REVERSE ARRIVAL) UTF-8 " + entry).split(b"\r\n")[0]
        raw.close()
        return modseq, answers, plain, sort

    modseq, answers, plain, sort = await in_thread(run)
    assert answers[b"MIN"] == b'* ESEARCH (TAG "a") MIN 1 MODSEQ %d' % modseq[1]
    assert answers[b"MAX"] == b'* ESEARCH (TAG "a") MAX 5 MODSEQ %d' % modseq[5]
    assert answers[b"MIN MAX"] == b'* ESEARCH (TAG "a") MIN 1 MAX 5 MODSEQ %d' % modseq[1]
    assert answers[b"MIN COUNT"] == b'* ESEARCH (TAG "a") MIN 1 COUNT 3 MODSEQ %d' % modseq[3]
    assert answers[b"ALL"] == b'* ESEARCH (TAG "a") ALL 1,3,5 MODSEQ %d' % modseq[3]
    assert answers[b""] == answers[b"ALL"]
    # RFC 7162 3.1.5: "the server MUST also append (to the end of the untagged SEARCH
    # response) the highest mod-sequence for all messages being returned."
    assert plain == b"* SEARCH 1 3 5 (MODSEQ %d)" % modseq[3]
    # RFC 7162 3.1.9: "If a client specifies a MODSEQ criterion in a SORT (or UID SORT)
    # command and the server returns a non-empty SORT result, the server MUST also append
    # (to the end of the untagged SORT response) the highest mod-sequence for all messages
    # being returned."
    assert sort == b"* SORT 5 3 1 (MODSEQ %d)" % modseq[3]


# -- LIST-EXTENDED (RFC 5258) ----------------------------------------------------------------

_LIST_LINE = re.compile(rb'^\* LIST \(([^)]*)\) "/" ("(?:[^"\\]|\\.)*"|[^ ]+)(?: (.*))?$')
_CHILD_ATTRS = {"\\HasChildren", "\\HasNoChildren"}


def _listed(response: bytes, children: bool = False) -> dict[str, tuple[set, bytes]]:
    """The LIST responses as name -> (attributes, extended data or None); without
    ``children`` the \\HasChildren/\\HasNoChildren attributes are left out (RFC 5258 4: a
    server "MAY provide it even if the option is not specified")."""
    out = {}
    for line in response.split(b"\r\n"):
        m = _LIST_LINE.match(line)
        if not m:
            continue
        name = m.group(2).decode()
        if name.startswith('"'):
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        attrs = {a for a in m.group(1).decode().split() if children or a not in _CHILD_ATTRS}
        assert name not in out, f"{name} listed twice"
        out[name] = (attrs, m.group(3))
    return out


def _folders(raw, create: list[bytes], subscribe: list[bytes], delete: list[bytes] = ()) -> set[str]:
    """Create the folders (their parents come with them), leave exactly ``subscribe``
    subscribed, then delete ``delete``. Returns the folders the account had before
    (INBOX and the special-use ones a new account gets)."""
    before = set(_listed(_send(raw, b"l", b'LIST "" "*"')))
    for name in create:
        assert b"c OK" in _send(raw, b"c", b"CREATE " + name)
    for name in _listed(_send(raw, b"l", b'LIST "" "*"')):
        _send(raw, b"u", b"UNSUBSCRIBE " + name.encode())
    for name in subscribe:
        assert b"s OK" in _send(raw, b"s", b"SUBSCRIBE " + name)
    for name in delete:
        assert b"d OK" in _send(raw, b"d", b"DELETE " + name)
    return before


@pytest_twisted.ensureDeferred
async def test_list_unknown_return_option_is_bad(server):
    """RFC 5258 3: "A server MUST respond to options it does not recognize with a BAD
    response." (Selection options and return options alike.)"""

    def run():
        raw = server.raw()
        _login(raw)
        answers = [_send(raw, b"r%d" % i, command) for i, command in enumerate([
            b'LIST "" "*" RETURN (X-NO-SUCH-OPTION)',
            b'LIST "" "*" RETURN (CHILDREN X-NO-SUCH-OPTION)',
            b'LIST (X-NO-SUCH-OPTION) "" "*"',
            b'LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN SUBSCRIBED)',
        ])]
        raw.close()
        return answers

    answers = await in_thread(run)
    for i, got in enumerate(answers[:3]):
        assert got.split(b"\r\n")[-2].startswith(b"r%d BAD" % i), got
    assert answers[3].split(b"\r\n")[-2].startswith(b"r3 OK"), answers[3]


@pytest_twisted.ensureDeferred
async def test_list_subscribed_names_a_deleted_folder_nonexistent(server):
    """RFC 5258 3.1, SUBSCRIBED: "It's also possible for this list to contain the names of
    mailboxes that don't exist. In any case, the list MUST include exactly those mailbox
    names that match the canonical list pattern and are subscribed to." Section 3: "The
    "\\NonExistent" attribute indicates that a mailbox name does not refer to an existing
    mailbox" and "MUST be accurately computed". RFC 3501 6.3.6: the server "MUST NOT
    unilaterally remove an existing mailbox name from the subscription list even if a
    mailbox by that name no longer exists." The hierarchy is that of RFC 5258 section 5,
    examples 1, 2 and 6 ("perhaps it was deleted while still subscribed")."""

    def run():
        raw = server.raw()
        _login(raw)
        before = _folders(raw,
                 [b"Fruit/Apple", b"Fruit/Banana", b"Fruit/Peach", b"Tofu", b"Vegetable/Broccoli", b"Vegetable/Corn"],
                          [b"INBOX", b"Fruit/Banana", b"Fruit/Peach", b"Vegetable", b"Vegetable/Broccoli"],
                          [b"Fruit/Peach"])
        a02 = _send(raw, b"a02", b'LIST (SUBSCRIBED) "" "*"')
        a06 = _send(raw, b"a06", b'LIST "" "*" RETURN (SUBSCRIBED)')
        a2 = _send(raw, b"a2", b'LIST (SUBSCRIBED) "" "Fruit/*"')
        # The name was subscribed, not the folder: a folder created under it is listed.
        _send(raw, b"c", b"CREATE Fruit/Peach")
        again = _send(raw, b"a", b'LIST (SUBSCRIBED) "" "Fruit/*"')
        raw.close()
        return before - {"INBOX"}, a02, a06, a2, again

    others, a02, a06, a2, again = await in_thread(run)
    assert _listed(a02) == {
        "INBOX": ({"\\Subscribed"}, None),
        "Fruit/Banana": ({"\\Subscribed"}, None),
        "Fruit/Peach": ({"\\Subscribed", "\\NonExistent"}, None),
        "Vegetable": ({"\\Subscribed"}, None),
        "Vegetable/Broccoli": ({"\\Subscribed"}, None),
    }
    # Example 6: "the output of this command is not a superset of the output in the
    # previous example, as it doesn't include LIST response for the non-existent
    # "Fruit/Peach"" (return options "MUST NOT cause the server to report information
    # about additional mailbox names").
    assert {k: v for k, v in _listed(a06).items() if k not in others} == {
        "INBOX": ({"\\Subscribed"}, None),
        "Fruit": (set(), None),
        "Fruit/Apple": (set(), None),
        "Fruit/Banana": ({"\\Subscribed"}, None),
        "Tofu": (set(), None),
        "Vegetable": ({"\\Subscribed"}, None),
        "Vegetable/Broccoli": ({"\\Subscribed"}, None),
        "Vegetable/Corn": (set(), None),
    }
    assert _listed(a2) == {
        "Fruit/Banana": ({"\\Subscribed"}, None),
        "Fruit/Peach": ({"\\Subscribed", "\\NonExistent"}, None),
    }
    assert _listed(again)["Fruit/Peach"] == ({"\\Subscribed"}, None)


CHILDINFO = b'("CHILDINFO" ("SUBSCRIBED"))'


@pytest_twisted.ensureDeferred
async def test_list_recursivematch_childinfo(server):
    """RFC 5258 3.3: "There are only two reasons for including a matching mailbox name in
    the responses to the LIST command": A. it "also satisfies the selection criteria",
    B. it doesn't, "but it has at least one descendant mailbox name that satisfies the
    selection criteria and that doesn't match the canonical LIST pattern". 3.5: "Servers
    SHOULD ONLY return a non-matching mailbox name along with CHILDINFO if at least one
    matching child is not also being returned." The hierarchy and the answers are those
    of section 5, example 9 (the "*2" listing without the lines it says "would violate a
    SHOULD NOT"), example 8 A2 ("\\NonExistent" parent) and example 10 a3 (CHILDINFO
    "doesn't necessarily imply \\HasChildren")."""

    def run():
        raw = server.raw()
        _login(raw)
        _folders(raw,
                 [b"foo2/bar1", b"foo2/bar2", b"baz2/bar2", b"baz2/bar22", b"baz2/bar222", b"eps2/mamba",
                  b"qux2/bar2", b"foo/bar"],
                 [b"foo2/bar1", b"foo2/bar2", b"baz2/bar2", b"baz2/bar22", b"baz2/bar222", b"eps2",
                  b"eps2/mamba", b"qux2/bar2", b"foo/bar"],
                 # "qux2/bar2" without its parent; "foo/bar" subscribed but gone.
                 [b"qux2", b"foo/bar"])
        d03 = _send(raw, b"d03", b'LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"')
        c04 = _send(raw, b"c04", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
        a3 = _send(raw, b"a3", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)')
        raw.close()
        return d03, c04, a3

    d03, c04, a3 = await in_thread(run)
    assert _listed(d03) == {
        "foo2": (set(), CHILDINFO),
        "foo2/bar2": ({"\\Subscribed"}, None),
        "baz2/bar2": ({"\\Subscribed"}, None),
        "baz2/bar22": ({"\\Subscribed"}, None),
        "baz2/bar222": ({"\\Subscribed"}, None),
        "eps2": ({"\\Subscribed"}, CHILDINFO),
        "qux2/bar2": ({"\\Subscribed"}, None),
    }
    assert _listed(c04) == {
        "baz2": (set(), CHILDINFO),
        "eps2": ({"\\Subscribed"}, CHILDINFO),
        "foo": (set(), CHILDINFO),
        "foo2": (set(), CHILDINFO),
        "qux2": ({"\\NonExistent"}, CHILDINFO),
    }
    assert _listed(a3, children=True) == {"foo": ({"\\HasNoChildren"}, CHILDINFO)}


# -- SORT=DISPLAY (RFC 5957) -------------------------------------------------------------

#: (From, To) of messages 1..7. The display-name (decoded) where there is a non-empty one,
#: else the address: Zed, beta@example.org, Émile, Frank, _under, Adam, c@example.org.
DISPLAY_ADDRESSES = [
    "Zed <z@example.org>",
    "beta@example.org",
    "=?utf-8?q?=C3=89mile?= <e@example.org>",
    "Frank <f@example.org>",
    '"_under" <u@example.org>',
    "Adam <a@example.org>",
    '"" <c@example.org>',
]


@pytest_twisted.ensureDeferred
async def test_sort_display_orders_by_display_name_else_address(server):
    """RFC 5957 section 3: "If the address structure's [IMAP] addr-name is non-NIL, apply
    the procedure from [RFC5255], Section 4.6. (That is, decode any [RFC2047] encoded-words
    [...]) If the resulting octet string is not the empty string, use it as the sort value
    for the address. Otherwise, if the address structure's [IMAP] addr-mailbox and [IMAP]
    addr-host are both non-NIL, the sort value for the address is addr-mailbox@addr-host."
    Section 4: the message's value is that of "the first [IMAP] address in the
    derived-addr value" (env-from for DISPLAYFROM, env-to for DISPLAYTO). Section 7: "the
    active [RFC4790] collation as per [RFC5255] MUST be used", i;unicode-casemap (RFC 5256
    section 7): titlecase, then full decomposition, so "Émile" sorts as "E\\u0301MILE",
    between "beta" and "Frank", and "_" (0x5F) after every capital letter."""
    box = await server.mailbox()
    for i, address in enumerate(DISPLAY_ADDRESSES):
        # The To list starts with the same address, then one that must not count.
        await box.append(b"From: %s\r\nTo: %s, Aaron <aaron@example.org>\r\nSubject: s%d\r\n\r\nbody\r\n"
                         % (address.encode(), address.encode(), i))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        answers = [_send(raw, b"o", b"SORT (%s) UTF-8 ALL" % crit).split(b"\r\n")[0]
                   for crit in (b"DISPLAYFROM", b"DISPLAYTO", b"REVERSE DISPLAYFROM")]
        raw.close()
        return answers

    display_from, display_to, reverse = await in_thread(run)
    # Adam, beta@example.org, c@example.org, Émile, Frank, Zed, _under
    assert display_from == b"* SORT 6 2 7 3 4 1 5"
    assert display_to == display_from
    assert reverse == b"* SORT 5 1 4 3 7 2 6"


@pytest_twisted.ensureDeferred
async def test_binary_sends_text_with_crlf_line_ends(server):
    """RFC 3516 6: "When sending data using the Binary extension, servers MUST ensure that
    textual line-oriented sections are always transmitted using the IMAP4 CRLF line
    termination syntax, regardless of the underlying storage representation of the data
    on the server." Here a text part whose base64 content has bare LF line ends; BINARY.SIZE
    "MUST match the size of the <nstring> or <literal8> that will be returned"."""
    text = b"first\nsecond\nthird\n"
    await (await server.mailbox()).append(
        b"From: a@example.org\r\nSubject: lf\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(text).replace(b"\n", b"\r\n"))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        got = _send(raw, b"f", b"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])")
        raw.close()
        return got

    got = await in_thread(run)
    assert _literal(got, b"BINARY[1]")[1] == b"first\r\nsecond\r\nthird\r\n"
    assert _number(got, b"BINARY.SIZE[1]") == len(b"first\r\nsecond\r\nthird\r\n")


@pytest_twisted.ensureDeferred
async def test_vanished_without_enable_qresync_is_bad(server):
    """RFC 7162 3.2.3: "A server MUST respond with a tagged BAD response if the QRESYNC
    parameter to the SELECT/EXAMINE command or the VANISHED UID FETCH modifier is
    specified and the client hasn't issued "ENABLE QRESYNC", or the server has not
    positively responded (in the current connection) to that command with the untagged
    ENABLED response containing QRESYNC." """
    await (await server.mailbox()).append(MSG % (1, 1))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX (CONDSTORE)")
        before = _send(raw, b"v", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        _send(raw, b"u", b"UNSELECT")
        _send(raw, b"e", b"ENABLE QRESYNC")
        _send(raw, b"s", b"SELECT INBOX")
        after = _send(raw, b"w", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        raw.close()
        return before, after

    before, after = await in_thread(run)
    assert before.split(b"\r\n")[-2].startswith(b"v BAD"), before
    assert after.split(b"\r\n")[-2].startswith(b"w OK"), after


# -- QRESYNC EXPUNGE (RFC 7162 3.2.7, 3.2.9) ------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_expunge_with_qresync_ends_with_highestmodseq(server):
    """RFC 7162 3.2.7, EXPUNGE (and by 3.2.9 UID EXPUNGE): "If at least one message got
    expunged and QRESYNC was enabled, the server MUST send the updated per-mailbox
    modification sequence using the HIGHESTMODSEQ response code (see Section 3.1.2.1) in
    the tagged OK response." Its example: "C: A202 EXPUNGE / S: * VANISHED 8 / S: A202 OK
    [HIGHESTMODSEQ 20010715194045319] expunged". The value is the mailbox's, as a
    STATUS HIGHESTMODSEQ right after says."""
    box = await server.mailbox()
    for i in range(4):
        await box.append(MSG % (i, i))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"e", b"ENABLE QRESYNC")
        _send(raw, b"s", b"SELECT INBOX")
        _send(raw, b"d", b"STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        uid = _send(raw, b"x1", b"UID EXPUNGE 2")
        plain = _send(raw, b"x2", b"EXPUNGE")
        _send(raw, b"u", b"UNSELECT")
        status = _send(raw, b"st", b"STATUS INBOX (HIGHESTMODSEQ)")
        raw.close()
        return uid, plain, status

    uid, plain, status = await in_thread(run)
    assert b"* VANISHED 2\r\n" in uid
    first = int(re.search(rb"^x1 OK \[HIGHESTMODSEQ (\d+)\]", uid, re.M).group(1))
    assert b"* VANISHED 1,3\r\n" in plain
    second = int(re.search(rb"^x2 OK \[HIGHESTMODSEQ (\d+)\]", plain, re.M).group(1))
    assert first < second == _number(status, b"HIGHESTMODSEQ")


# -- SORT and THREAD collation (RFC 5256, I18NLEVEL=1 of RFC 5255) ----------------------------


@pytest_twisted.ensureDeferred
async def test_thread_groups_base_subjects_by_unicode_casemap(server):
    """RFC 5256 section 1: "A server that implements the SORT and/or THREAD extensions
    MUST collate strings in accordance with the requirements of I18NLEVEL=1, as
    described in [IMAP-I18N]"; section 7: "the SORT and THREAD extensions MUST collate
    strings according to the i;unicode-casemap collation described in [UNICASEMAP]".
    RFC 5051 compares the titlecased, fully decomposed forms, so "Café" (precomposed é)
    and "CAFE" followed by U+0301 (e and a combining acute) are one base subject for
    ORDEREDSUBJECT ("messages are grouped [...] by base subject", 2.1 after RFC 2047
    decoding) and REFERENCES step 5. RFC 5255 4.1 names the capability "I18NLEVEL=1"."""
    box = await server.mailbox()
    subjects = (b"=?utf-8?q?Caf=C3=A9?=", b"=?utf-8?q?Re=3A_CAFE=CC=81?=", b"other")
    for i, subject in enumerate(subjects):
        await box.append(b"From: a@example.org\r\nSubject: %s\r\nDate: Mon, 01 Jan 2024 10:0%d:00 +0000\r\n"
                         b"Message-ID: <t%d@example.org>\r\n\r\nbody\r\n" % (subject, i, i))

    def run():
        raw = server.raw()
        _login(raw)
        caps = _send(raw, b"c", b"CAPABILITY")
        _send(raw, b"s", b"SELECT INBOX")
        ordered = _send(raw, b"t1", b"THREAD ORDEREDSUBJECT UTF-8 ALL")
        references = _send(raw, b"t2", b"THREAD REFERENCES UTF-8 ALL")
        raw.close()
        return caps, ordered, references

    caps, ordered, references = await in_thread(run)
    assert b" I18NLEVEL=1" in caps
    assert b"* THREAD (1 2)(3)\r\n" in ordered
    assert b"* THREAD (1 2)(3)\r\n" in references


# -- SEARCHRES with MIN/MAX (RFC 5182 2.4) ----------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_save_with_min_or_max_saves_only_those_messages(server):
    """RFC 5182 2.4: "If the SAVE result option is combined with the MIN or MAX [ESEARCH]
    result option, and none of the other ESEARCH result options are present, the
    corresponding MIN/MAX is returned (if the search result is not empty) and the "$"
    marker would contain a single message as returned in the MIN/MAX return item." With
    both MIN and MAX, "the "$" marker would contain one or two messages as returned in
    the MIN/MAX return items"; with ALL and/or COUNT, "the "$" marker would always
    contain all messages found by the SEARCH or UID SEARCH command"."""
    box = await server.mailbox()
    for i in range(5):
        await box.append(MSG % (i, i))

    def run():
        raw = server.raw()
        _login(raw)
        _send(raw, b"s", b"SELECT INBOX")
        out = {}
        for ret in (b"SAVE MIN", b"SAVE MAX", b"SAVE MIN MAX", b"SAVE MIN COUNT", b"SAVE"):
            answer = _send(raw, b"a", b"SEARCH RETURN (%s) 2:4" % ret)
            fetched = _send(raw, b"f", b"FETCH $ (UID)")
            out[ret] = answer, sorted(int(n) for n in re.findall(rb"^\* (\d+) FETCH", fetched, re.M))
        raw.close()
        return out

    out = await in_thread(run)
    assert b"MIN 2" in out[b"SAVE MIN"][0] and out[b"SAVE MIN"][1] == [2]
    assert b"MAX 4" in out[b"SAVE MAX"][0] and out[b"SAVE MAX"][1] == [4]
    assert out[b"SAVE MIN MAX"][1] == [2, 4]
    assert b"COUNT 3" in out[b"SAVE MIN COUNT"][0] and out[b"SAVE MIN COUNT"][1] == [2, 3, 4]
    assert b"ESEARCH" not in out[b"SAVE"][0] and out[b"SAVE"][1] == [2, 3, 4]


# -- LSUB and the subscriptions of deleted folders (RFC 3501 6.3.6, 6.3.9) ----------------------


@pytest_twisted.ensureDeferred
async def test_lsub_lists_a_subscription_whose_folder_was_deleted(server):
    """RFC 3501 6.3.6, DELETE: "The server MUST NOT unilaterally remove an existing
    mailbox name from the subscription list even if a mailbox by that name no longer
    exists." 6.3.9, LSUB: "The LSUB command returns a subset of names from the set of
    names that the user has declared as being "active" or "subscribed"." A name no
    folder has cannot be selected: \\Noselect ("It is not possible to use this name as a
    selectable mailbox", 7.2.2). Its unsubscribed parent that a "%" reaches is \\Noselect
    too (6.3.9: "if "foo/bar" is subscribed but "foo" is not, a "%" wildcard to LSUB must
    return foo")."""

    def run():
        raw = server.raw()
        _login(raw)
        for cmd in (b"CREATE Gone/child", b"SUBSCRIBE Gone/child", b"CREATE Kept", b"SUBSCRIBE Kept",
                    b"DELETE Gone/child"):
            assert re.search(rb"^c OK", _send(raw, b"c", cmd), re.M), cmd
        star = _send(raw, b"l", b'LSUB "" *')
        percent = _send(raw, b"p", b'LSUB "" %')
        _send(raw, b"u", b"UNSUBSCRIBE Gone/child")
        after = _send(raw, b"m", b'LSUB "" *')
        raw.close()
        return star, percent, after

    star, percent, after = await in_thread(run)
    assert b'* LSUB (\\Noselect) "/" Gone/child\r\n' in star
    assert b'* LSUB () "/" Kept\r\n' in star
    assert b'* LSUB (\\Noselect) "/" Gone\r\n' in percent
    assert b"Gone" not in after
