"""IMAP METADATA (RFC 5464): server and folder annotations, /private per account and
/shared per folder, also on folders shared between two accounts of one domain (RFC 4314).

Each test quotes the text it checks and talks to a real server on 127.0.0.1 through a
raw socket: no library client speaks METADATA.
"""

from __future__ import annotations

import pytest_twisted
from imap_harness import OTHER, USER, in_thread
from test_imap_acl import PROJECT, Client, untagged

from smsync.protocols.imap.metadata import MAX_ENTRIES, MAX_VALUE


def _response(client: Client, text: bytes) -> bytes:
    """Every byte up to the tagged line, literals read by their announced length."""
    client.n += 1
    tag = b"t%d" % client.n
    raw = client.raw
    raw.send(tag + b" " + text + b"\r\n")
    out = b""
    while True:
        line = raw.line()
        out += line + b"\r\n"
        if line.endswith(b"}"):
            size = int(line[line.rindex(b"{") + 1:-1])
            while len(raw.buf) < size:
                raw.buf += raw.sock.recv(65536)
            out += raw.buf[:size]
            raw.buf = raw.buf[size:]
            continue
        if line.startswith(tag + b" "):
            return out


@pytest_twisted.ensureDeferred
async def test_capabilities(server):
    """RFC 5464 1: a server with server and mailbox annotations returns "METADATA";
    "METADATA-SERVER" names server annotations, which it has too."""

    def run():
        c = Client(server, USER)
        caps = c("CAPABILITY")[0].split()
        c.close()
        return caps

    caps = await in_thread(run)
    assert b"METADATA" in caps and b"METADATA-SERVER" in caps


@pytest_twisted.ensureDeferred
async def test_server_and_mailbox_entries_as_rfc5464_shows(server):
    """RFC 5464 4.2 and 4.3, their examples: a server entry (mailbox ""), a mailbox
    entry set from a multi-line literal, several entries in one command, NIL removing
    one; 3.2: "Entry names are case-insensitive"."""

    def run():
        c = Client(server, USER)
        got = {}
        c.ok('SETMETADATA "" (/shared/comment "Shared comment")')
        got["server"] = c.ok('GETMETADATA "" /shared/comment')
        # (The RFC's line break before ")" is for readability: the literal ends the value.)
        c.ok(b"SETMETADATA INBOX (/private/comment {33+}\r\nMy new comment across\r\ntwo lines.)")
        c.ok('SETMETADATA INBOX (/shared/comment "This one is for you!")')
        got["both"] = _response(c, b'GETMETADATA "INBOX" (/shared/comment /PRIVATE/Comment)')
        got["unlisted form"] = c.ok('GETMETADATA "INBOX" /private/comment /shared/comment')
        c.ok("SETMETADATA INBOX (/private/comment NIL)")
        got["removed"] = c.ok('GETMETADATA "INBOX" (/private/comment /shared/comment)')
        got["server untouched"] = c.ok('GETMETADATA "" (/shared/comment /private/comment)')
        c.close()
        return got

    got = await in_thread(run)
    assert untagged(got["server"], b"METADATA") == [b'* METADATA "" (/shared/comment "Shared comment")']
    assert (b'* METADATA INBOX (/shared/comment "This one is for you!" /private/comment '
            b'{33}\r\nMy new comment across\r\ntwo lines.)\r\n') in got["both"]
    assert untagged(got["unlisted form"], b"METADATA")[0].startswith(b"* METADATA INBOX (/private/comment {33}")
    assert untagged(got["removed"], b"METADATA") == [
        b'* METADATA INBOX (/private/comment NIL /shared/comment "This one is for you!")']
    assert untagged(got["server untouched"], b"METADATA") == [
        b'* METADATA "" (/shared/comment "Shared comment" /private/comment NIL)']


@pytest_twisted.ensureDeferred
async def test_maxsize_leaves_out_larger_values(server):
    """RFC 5464 4.2.1: "Only entry values that are less than or equal in octet size to
    the specified MAXSIZE limit are returned. If there are any entries with values larger
    than the MAXSIZE limit, the server MUST include the METADATA LONGENTRIES response
    code [...] the size of the biggest entry value requested by the client that exceeded
    the MAXSIZE limit." The options come after the mailbox in the RFC's example and
    before it in its ABNF (getmetadata = "GETMETADATA" [SP getmetadata-options] SP
    mailbox SP entries)."""
    big = b"x" * 2199

    def run():
        c = Client(server, USER)
        c.ok(b"SETMETADATA INBOX (/shared/comment {%d+}\r\n" % len(big) + big
             + b' /private/comment "My own comment")')
        after = c.ok('GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment /private/comment)')
        before = c.ok('GETMETADATA (MAXSIZE 1024) "INBOX" (/shared/comment /private/comment)')
        enough = _response(c, b'GETMETADATA "INBOX" (MAXSIZE 2199) (/shared/comment)')
        c.close()
        return after, before, enough

    after, before, enough = await in_thread(run)
    for got in (after, before):
        assert untagged(got, b"METADATA") == [b'* METADATA INBOX (/private/comment "My own comment")']
        assert got[-1].startswith(b"OK [METADATA LONGENTRIES 2199]")
    assert b"{2199}\r\n" + big in enough
    assert b"LONGENTRIES" not in enough


@pytest_twisted.ensureDeferred
async def test_depth(server):
    """RFC 5464 4.2.2: ""0" - no entries below the specified entry are returned; "1" -
    only entries immediately below the specified entry are returned; "infinity" - all
    entries below the specified entry are returned"; "If the DEPTH option is not
    specified, this is the same as specifying "DEPTH 0"" (its example: DEPTH 1 of
    /private/filters/values returns .../small and .../boss)."""

    def run():
        c = Client(server, USER)
        c.ok('SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" '
             '/private/filters/values/boss "FROM \\"boss@example.com\\"" '
             '/private/filters/values/boss/when "weekdays")')
        got = {depth: c.ok(f'GETMETADATA "INBOX" (DEPTH {depth}) (/private/filters/values)')
               for depth in ("0", "1", "infinity")}
        got["none"] = c.ok('GETMETADATA "INBOX" (/private/filters/values)')
        got["scope"] = c.ok('GETMETADATA "INBOX" (DEPTH infinity) /private')
        c.close()
        return got

    got = await in_thread(run)
    assert untagged(got["0"], b"METADATA") == [b"* METADATA INBOX (/private/filters/values NIL)"]
    assert untagged(got["none"], b"METADATA") == untagged(got["0"], b"METADATA")
    assert untagged(got["1"], b"METADATA") == [
        b'* METADATA INBOX (/private/filters/values/boss "FROM \\"boss@example.com\\"" '
        b'/private/filters/values/small "SMALLER 5000")']
    infinity = untagged(got["infinity"], b"METADATA")[0]
    assert b"/private/filters/values/boss/when" in infinity and b"/small" in infinity
    assert untagged(got["scope"], b"METADATA") == [infinity]


@pytest_twisted.ensureDeferred
async def test_invalid_entry_names_are_bad(server):
    """RFC 5464 3.2: "An entry name MUST NOT contain two consecutive "/" characters and
    MUST NOT end with a "/" character"; "MUST NOT contain asterisk ("*") or percent
    ("%") characters and MUST NOT contain non-ASCII characters [...] Invalid entry names
    result in a BAD response"; entries have "at least" two components (four under
    vendor), and 6: "All entries MUST have either "/shared" or "/private" as a prefix"."""

    def run():
        c = Client(server, USER)
        got = [c(f'GETMETADATA INBOX {entry}')[-1] for entry in
               ("/private//x", "/private/x/", "/private/*", "/private/x%", "/other/x", "private/x")]
        got.append(c(b'GETMETADATA INBOX "/private/caf\xc3\xa9"')[-1])
        got += [c(f'SETMETADATA INBOX ({entry} "v")')[-1] for entry in
                ("/private", "/shared/vendor/acme", "/shared//x")]
        c.close()
        return got

    got = await in_thread(run)
    assert all(line.startswith(b"BAD") for line in got), got


@pytest_twisted.ensureDeferred
async def test_limits_and_all_or_nothing(server):
    """RFC 5464 4.3: "If the server is unable to set an annotation because the size of
    its value is too large, the server MUST return a tagged NO response with a "[METADATA
    MAXSIZE NNN]" response code"; "[METADATA TOOMANY]" when "the maximum number of
    allowed annotations has already been reached"; "When any one annotation fails to be
    set, resulting in a tagged NO response from the server, then the server MUST NOT
    change the values for other annotations specified in the SETMETADATA command."
    4.1: at least 1024 octets and 10 entries are accepted; 6.2.2: "/shared/admin [...]
    is always read-only"."""
    too_big = b"y" * (MAX_VALUE + 1)

    def run():
        c = Client(server, USER)
        got = {}
        got["1024"] = c(b"SETMETADATA INBOX (/private/a {1024+}\r\n" + b"z" * 1024 + b")")[-1]
        got["maxsize"] = c(b'SETMETADATA INBOX (/private/b "kept out" /private/c {%d+}\r\n' % len(too_big)
                           + too_big + b")")[-1]
        fill = " ".join(f'/private/n{i} "v"' for i in range(MAX_ENTRIES - 1))
        got["fill"] = c(f"SETMETADATA INBOX ({fill})")[-1]
        got["toomany"] = c('SETMETADATA INBOX (/private/n0 "changed" /private/one-more "v")')[-1]
        got["replace"] = c('SETMETADATA INBOX (/private/n0 "changed")')[-1]
        got["read"] = c.ok('GETMETADATA INBOX (/private/b /private/n0 /private/one-more)')
        got["admin"] = c('SETMETADATA "" (/shared/admin "mailto:me@example.org")')[-1]
        got["no folder"] = c('SETMETADATA Nothing (/private/comment "x")')[-1]
        c.close()
        return got

    got = await in_thread(run)
    assert got["1024"].startswith(b"OK")
    assert got["maxsize"].startswith(b"NO [METADATA MAXSIZE %d]" % MAX_VALUE)
    assert got["fill"].startswith(b"OK")
    assert got["toomany"].startswith(b"NO [METADATA TOOMANY]")
    assert got["replace"].startswith(b"OK"), "replacing a value adds no entry"
    assert untagged(got["read"], b"METADATA") == [
        b'* METADATA INBOX (/private/b NIL /private/n0 "changed" /private/one-more NIL)']
    assert got["admin"].startswith(b"NO")
    assert got["no folder"].startswith(b"NO [NONEXISTENT]")


@pytest_twisted.ensureDeferred
async def test_binary_values_come_back_as_literal8(server):
    """RFC 5464 5: "value = nstring / literal8": a value holding NUL travels as a
    literal8 both ways, unchanged."""
    value = b"\x00bin\xffary\x00"

    def run():
        c = Client(server, USER)
        c.ok(b"SETMETADATA INBOX (/private/vendor/example.org/blob ~{%d+}\r\n" % len(value) + value + b")")
        got = _response(c, b"GETMETADATA INBOX /private/vendor/example.org/blob")
        c.close()
        return got

    got = await in_thread(run)
    assert b"/private/vendor/example.org/blob ~{%d}\r\n" % len(value) + value + b")" in got


@pytest_twisted.ensureDeferred
async def test_annotations_on_a_shared_folder(server):
    """RFC 5464 3.2: "/private" entries are "stored on a per-user basis" and "not visible
    to other users", "/shared" ones "shared between authorized users"; 3.3: with ACL,
    "users can only set and retrieve private or shared mailbox annotations on a mailbox
    on which they have the "l" right and any one of the "r", "s", "w", "i", or "p"
    rights", else "the server MUST respond with a NO response". Here setting a /shared
    entry on someone else's folder also takes "w"."""
    mail = await server.store.mail(USER)
    entry = await mail.create_mailbox("Project")
    await server.store.sharing.set(USER, entry.id, OTHER, "lr")
    looked = await mail.create_mailbox("Listed")
    await server.store.sharing.set(USER, looked.id, OTHER, "l")
    hidden = await mail.create_mailbox("Hidden")
    await server.store.sharing.set(USER, hidden.id, OTHER, "k")

    def run():
        alice = Client(server, USER)
        bob = Client(server, OTHER)
        got = {}
        alice.ok('SETMETADATA Project (/private/comment "alice\'s note" /shared/comment "for the team")')
        bob.ok(f'SETMETADATA {PROJECT} (/private/comment "bob\'s note")')
        got["bob reads"] = bob.ok(f"GETMETADATA {PROJECT} (/private/comment /shared/comment)")
        got["alice reads"] = alice.ok("GETMETADATA Project (/private/comment /shared/comment)")
        got["bob shared lr"] = bob(f'SETMETADATA {PROJECT} (/shared/comment "mine now")')[-1]
        alice.ok(f"SETACL Project {OTHER} +w")
        got["bob shared lrw"] = bob(f'SETMETADATA {PROJECT} (/shared/comment "updated")')[-1]
        got["alice sees"] = alice.ok("GETMETADATA Project /shared/comment")
        got["listed only"] = bob(f"GETMETADATA Shared/{USER}/Listed /shared/comment")[-1]
        got["hidden"] = bob(f"GETMETADATA Shared/{USER}/Hidden /shared/comment")[-1]
        alice.close()
        bob.close()
        return got

    got = await in_thread(run)
    assert untagged(got["bob reads"], b"METADATA") == [
        b'* METADATA ' + PROJECT.encode() + b' (/private/comment "bob\'s note" /shared/comment "for the team")']
    assert untagged(got["alice reads"], b"METADATA") == [
        b'* METADATA Project (/private/comment "alice\'s note" /shared/comment "for the team")']
    assert got["bob shared lr"].startswith(b"NO [NOPERM]")
    assert got["bob shared lrw"].startswith(b"OK")
    assert untagged(got["alice sees"], b"METADATA") == [b'* METADATA Project (/shared/comment "updated")']
    assert got["listed only"].startswith(b"NO [NOPERM]")
    assert got["hidden"].startswith(b"NO [NONEXISTENT]")


@pytest_twisted.ensureDeferred
async def test_annotations_follow_rename_and_go_with_delete(sqlite_server):
    """RFC 5464 4.1: "Servers SHOULD ensure that mailbox annotations are automatically
    moved when the mailbox they refer to is renamed"; "Servers SHOULD delete annotations
    for a mailbox when the mailbox is deleted, so that a mailbox created with the same
    name as a previously existing mailbox does not inherit the old mailbox annotations"
    -- over the SQLite store, where they are kept across connections."""
    server = sqlite_server

    def run():
        c = Client(server, USER)
        c.ok("CREATE Project")
        c.ok('SETMETADATA Project (/shared/comment "plans" /private/comment "mine")')
        c.ok("RENAME Project Plans")
        c.close()
        c = Client(server, USER)
        got = {"renamed": c.ok("GETMETADATA Plans (/shared/comment /private/comment)")}
        c.ok("DELETE Plans")
        c.ok("CREATE Plans")
        got["recreated"] = c.ok("GETMETADATA Plans (/shared/comment /private/comment)")
        c.close()
        return got

    got = await in_thread(run)
    assert untagged(got["renamed"], b"METADATA") == [
        b'* METADATA Plans (/shared/comment "plans" /private/comment "mine")']
    assert untagged(got["recreated"], b"METADATA") == [
        b"* METADATA Plans (/shared/comment NIL /private/comment NIL)"]
