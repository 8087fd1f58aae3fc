"""IMAP ACL (RFC 4314), LIST-MYRIGHTS (RFC 8440) and the shared namespace (RFC 2342):
alice@example.org shares folders with bob@example.org, who reaches them under
``Shared/alice@example.org/`` with exactly the rights she gave.

Each test quotes the text it checks and talks to a real server on 127.0.0.1, through a
raw socket (no library client speaks ACL) or imaplib.
"""

from __future__ import annotations

import re

import pytest_twisted
from imap_harness import OTHER, PASSWORD, USER, in_thread

SHARED = "Shared/" + USER + "/"
PROJECT = SHARED + "Project"
MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: plans\r\n\r\nthe plans\r\n"


class Client:
    """A raw IMAP connection logged in as ``user``; calling it sends one command and
    gives back every line up to the tagged one, whose tag is cut off."""

    def __init__(self, server, user: str):
        self.raw = server.raw()
        self.n = 0
        assert self(f'LOGIN {user} "{PASSWORD}"')[-1].startswith(b"OK")

    def __call__(self, text) -> list[bytes]:
        self.n += 1
        tag = b"t%d" % self.n
        lines = self.raw.command(tag, text.encode() if isinstance(text, str) else text)
        lines[-1] = lines[-1][len(tag) + 1:]
        return lines

    def ok(self, text) -> list[bytes]:
        lines = self(text)
        assert lines[-1].startswith(b"OK"), (text, lines)
        return lines

    def close(self) -> None:
        self.raw.close()


def untagged(lines: list[bytes], kind: bytes) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* " + kind + b" ")]


def flags_of(lines: list[bytes]) -> set[str]:
    """The stored flags the last FETCH response gave (\\Recent is the session's, not the
    message's)."""
    found = [m.group(1) for line in lines if (m := re.search(rb"FLAGS \(([^)]*)\)", line))]
    assert found, lines
    return set(found[-1].decode().split()) - {"\\Recent"}


async def _project(server, rights: str = None, messages=()) -> list[int]:
    """alice's folder "Project" holding ``messages`` (``(body, flags)``), shared with bob
    with ``rights`` (through the store, as SETACL would leave it)."""
    mail = await server.store.mail(USER)
    entry = await mail.create_mailbox("Project")
    box = await mail.mailbox("Project")
    uids = [(await box.append(body, flags)).uid for body, flags in messages]
    if rights is not None:
        await server.store.sharing.set(USER, entry.id, OTHER, rights)
    return uids


# -- capabilities and namespace --------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_capabilities_and_the_other_users_namespace(server):
    """RFC 4314 5.1.1: the RIGHTS= capability lists the rights beyond RFC 2086's, and
    "The set of rights MUST include "t", "e", "x", and "k""; RFC 8440 8.1: LIST-MYRIGHTS.
    RFC 2342 5: "NAMESPACE" SP personal SP other-users SP shared, the second naming the
    prefix of other users' folders."""

    def run():
        c = Client(server, OTHER)
        caps = c("CAPABILITY")[0].split()
        ns = c("NAMESPACE")
        c.close()
        return caps, ns

    caps, ns = await in_thread(run)
    assert b"ACL" in caps and b"LIST-MYRIGHTS" in caps
    rights = [c for c in caps if c.startswith(b"RIGHTS=")]
    assert len(rights) == 1 and set(b"texk") <= set(rights[0][len(b"RIGHTS="):])
    assert not set(b"lrswipacd") & set(rights[0][len(b"RIGHTS="):]), "RFC 4314 2.2: no RFC 2086 rights"
    assert ns[0] == b'* NAMESPACE (("" "/")) (("Shared/" "/")) NIL'


# -- the ACL commands ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_setacl_getacl_deleteacl_as_rfc4314_3_shows(server):
    """RFC 4314 3.1: "If the string starts with a plus, the following rights are added
    to any existing rights for the identifier. If the string starts with a minus, the
    following rights are removed [...] If the string does not start with a plus or
    minus, the rights replace any existing rights". 2.1.1: "If a client includes the "d"
    right in a rights list, then it MUST be treated as if the client had included every
    member of the "delete" right" and "When any of the "delete" member rights is set in
    a list of rights, the server MUST also include the "d" right" (likewise "c").
    3.2: DELETEACL "removes any <identifier,rights> pair for the specified identifier"
    and leaves "-Fred" alone."""
    await _project(server)

    def run():
        c = Client(server, USER)
        c.ok(f"SETACL Project {OTHER} lrsw")
        c.ok(f"SETACL Project {OTHER} +id")
        after_plus = c.ok("GETACL Project")
        c.ok(f"SETACL Project {OTHER} -w")
        c.ok(f"SETACL Project -{OTHER} s")
        c.ok("SETACL Project anyone l")
        after_minus = c.ok("GETACL Project")
        c.ok(f"DELETEACL Project {OTHER}")
        after_delete = c.ok("GETACL Project")
        c.close()
        return after_plus, after_minus, after_delete

    after_plus, after_minus, after_delete = await in_thread(run)
    assert untagged(after_plus, b"ACL") == [
        b"* ACL Project " + USER.encode() + b" lrswipkxteacd " + OTHER.encode() + b" lrswixted"]
    assert untagged(after_minus, b"ACL") == [
        b"* ACL Project " + USER.encode() + b" lrswipkxteacd -" + OTHER.encode() + b" s anyone l "
        + OTHER.encode() + b" lrsixted"]
    assert untagged(after_delete, b"ACL") == [
        b"* ACL Project " + USER.encode() + b" lrswipkxteacd -" + OTHER.encode() + b" s anyone l"]


@pytest_twisted.ensureDeferred
async def test_unknown_and_uppercase_rights_are_bad(server):
    """RFC 4314 3.1: "an unrecognized right MUST cause the command to return the BAD
    response. In particular, the server MUST NOT silently ignore unrecognized rights"
    (examples: "lrQswicda" and "lrqswicda" both BAD); 3: an identifier that "results in
    an empty string" is refused "with a BAD response"."""
    await _project(server)

    def run():
        c = Client(server, USER)
        got = [c(f"SETACL Project {OTHER} lrQswicda")[-1], c(f"SETACL Project {OTHER} lrqswicda")[-1],
               c(f"SETACL Project {OTHER} lr1")[-1], c('SETACL Project "" lr')[-1]]
        acl = c.ok("GETACL Project")
        c.close()
        return got, acl

    got, acl = await in_thread(run)
    assert all(line.startswith(b"BAD") for line in got), got
    assert untagged(acl, b"ACL") == [b"* ACL Project " + USER.encode() + b" lrswipkxteacd"]


@pytest_twisted.ensureDeferred
async def test_listrights_and_myrights(server):
    """RFC 4314 3.4: LISTRIGHTS "MUST always return the same form of an identifier as
    specified by the client"; 3.7: the required rights, then "zero or more strings each
    containing a set of rights the identifier can be granted"; "The same right MUST NOT
    be listed more than once". 3.5: "The MYRIGHTS command returns the set of rights
    that the user has to mailbox"."""
    await _project(server, "lrs")

    def run():
        alice = Client(server, USER)
        other = alice.ok(f"LISTRIGHTS Project {OTHER.upper()}")
        owner = alice.ok(f"LISTRIGHTS Project {USER}")
        mine = alice.ok("MYRIGHTS INBOX")
        bob = Client(server, OTHER)
        theirs = bob.ok(f"MYRIGHTS {PROJECT}")
        alice.close()
        bob.close()
        return other, owner, mine, theirs

    other, owner, mine, theirs = await in_thread(run)
    line = untagged(other, b"LISTRIGHTS")[0]
    assert line.startswith(b'* LISTRIGHTS Project ' + OTHER.upper().encode() + b' "" ')
    listed = line.split(b'"" ')[1].split()
    assert sorted(listed) == sorted(c.encode() for c in "lrswipkxteacd")
    assert untagged(owner, b"LISTRIGHTS") == [b"* LISTRIGHTS Project " + USER.encode() + b" lrswipkxteacd"]
    assert untagged(mine, b"MYRIGHTS") == [b"* MYRIGHTS INBOX lrswipkxteacd"]
    assert untagged(theirs, b"MYRIGHTS") == [b"* MYRIGHTS " + PROJECT.encode() + b" lrs"]


@pytest_twisted.ensureDeferred
async def test_acl_commands_take_the_a_right_and_hide_what_cannot_be_listed(server):
    """RFC 4314 4: "SETACL/DELETEACL - "a" right on the mailbox", "GETACL - "a" right",
    "LISTRIGHTS - "a" right", "MYRIGHTS - any of the following rights is required [...]
    "l", "r", "i", "k", "x", "a"". 6: "when a user agent executes a GETACL command on a
    mailbox that the user has no permission to LIST, the server would respond to that
    request with the same error that would be used if the mailbox did not exist"."""
    mail = await server.store.mail(USER)
    await _project(server, "lr")
    hidden = await mail.create_mailbox("Hidden")
    await server.store.sharing.set(USER, hidden.id, OTHER, "s")
    admin = await mail.create_mailbox("Team")
    await server.store.sharing.set(USER, admin.id, OTHER, "lra")

    def run():
        bob = Client(server, OTHER)
        got = {
            "getacl": bob(f"GETACL {PROJECT}")[-1],
            "setacl": bob(f"SETACL {PROJECT} {OTHER} lrswi")[-1],
            "deleteacl": bob(f"DELETEACL {PROJECT} {OTHER}")[-1],
            "listrights": bob(f"LISTRIGHTS {PROJECT} {OTHER}")[-1],
            "hidden getacl": bob(f"GETACL {SHARED}Hidden")[-1],
            "hidden myrights": bob(f"MYRIGHTS {SHARED}Hidden")[-1],
            "missing": bob(f"GETACL {SHARED}Nothing")[-1],
            "team setacl": bob(f"SETACL {SHARED}Team anyone l")[-1],
        }
        team = bob.ok(f"GETACL {SHARED}Team")
        bob.close()
        return got, team

    got, team = await in_thread(run)
    for key in ("getacl", "setacl", "deleteacl", "listrights"):
        assert got[key].startswith(b"NO [NOPERM]"), (key, got[key])
    for key in ("hidden getacl", "hidden myrights", "missing"):
        assert got[key].startswith(b"NO [NONEXISTENT]"), (key, got[key])
    assert got["team setacl"].startswith(b"OK")
    assert untagged(team, b"ACL") == [
        b"* ACL " + SHARED.encode() + b"Team " + USER.encode() + b" lrswipkxteacd anyone l "
        + OTHER.encode() + b" lra"]


@pytest_twisted.ensureDeferred
async def test_grants_stay_within_the_domain(server):
    """The identifiers an owner may grant to: "anyone" and the accounts of the owner's
    own domain (RFC 4314 2: "All user name strings accepted by the LOGIN or AUTHENTICATE
    commands [...] are reserved as identifiers for the corresponding users"); the owner
    always has every right (2: "the "a" right is always granted to the owner")."""
    await server.store.accounts.add("carol@other.example", (await server.store.accounts.password_hash(USER)))
    await _project(server)

    def run():
        c = Client(server, USER)
        got = [c("SETACL Project carol@other.example lr")[-1], c("SETACL Project nobody@example.org lr")[-1],
               c(f"SETACL Project {USER} lr")[-1], c(f"DELETEACL Project {USER}")[-1]]
        c.ok("SETACL Project ANYONE lr")
        acl = c.ok("GETACL Project")
        carol = Client(server, "carol@other.example")
        listed = carol.ok('LIST "" "*"')
        peek = carol(f"SELECT {PROJECT}")[-1]
        c.close()
        carol.close()
        return got, acl, listed, peek

    got, acl, listed, peek = await in_thread(run)
    assert all(line.startswith(b"NO") for line in got), got
    assert untagged(acl, b"ACL") == [b"* ACL Project " + USER.encode() + b" lrswipkxteacd anyone lr"]
    assert not any(b"Shared/" in line for line in listed), "anyone means anyone of the domain"
    assert peek.startswith(b"NO [NONEXISTENT]")


# -- the shared namespace --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_grantee_lists_what_it_may_look_up(server):
    """RFC 4314 4: "LIST - "l" right is required. However, unlike other commands (e.g.,
    SELECT) the server MUST NOT return a NO response if it can't list a mailbox"; "if the
    user has "l" right to a mailbox "A/B", but not to its parent mailbox "A", the LIST
    command should behave as if the mailbox "A" doesn't exist". Negative rights (2):
    "-fred" takes away what "fred" or "anyone" gives."""
    mail = await server.store.mail(USER)
    await _project(server, "lr")
    sub = await mail.create_mailbox("Project/Sub")
    await server.store.sharing.set(USER, sub.id, OTHER, "r")
    team = await mail.create_mailbox("Team")
    await server.store.sharing.set(USER, team.id, "anyone", "lr")
    await server.store.sharing.set(USER, team.id, "-" + OTHER, "l")

    def run():
        bob = Client(server, OTHER)
        everything = bob.ok('LIST "" "*"')
        top = bob.ok('LIST "" "%"')
        below = bob.ok(f'LIST "" "{SHARED}%"')
        selected = bob(f"SELECT {SHARED}Project/Sub")[-1]
        bob.close()
        return everything, top, below, selected

    everything, top, below, selected = await in_thread(run)
    names = [line.rsplit(b" ", 1)[1] for line in untagged(everything, b"LIST")]
    assert PROJECT.encode() in names
    assert (SHARED + "Project/Sub").encode() not in names, "no l right: not listed"
    assert (SHARED + "Team").encode() not in names, "-bob took the l right anyone gave"
    assert b"Shared" not in names and SHARED.rstrip("/").encode() not in names
    assert b'* LIST (\\HasChildren \\Noselect) "/" Shared' in untagged(top, b"LIST")
    assert [line.rsplit(b" ", 1)[1] for line in untagged(below, b"LIST")] == [PROJECT.encode()]
    assert selected.startswith(b"OK"), "r without l: not listed, yet it can be selected"


@pytest_twisted.ensureDeferred
async def test_imaplib_client_reads_a_shared_folder(server):
    """A stock client (imaplib) selects a shared folder by its name in the other users'
    namespace and reads the owner's message through it."""
    await _project(server, "lr", [(MESSAGE, ("\\Flagged",))])

    def run():
        c = server.imaplib(user=OTHER)
        typ, _ = c.select('"%s"' % PROJECT, readonly=True)
        assert typ == "OK"
        typ, data = c.fetch("1", "(FLAGS BODY.PEEK[])")
        c.logout()
        return data

    data = await in_thread(run)
    assert data[0][1] == MESSAGE
    assert b"\\Flagged" in data[0][0]


@pytest_twisted.ensureDeferred
async def test_select_reflects_the_rights(server):
    """RFC 4314 5.2: "The server MUST include a READ-ONLY response code in the tagged OK
    response to a SELECT command if none of the following rights is granted to the
    current user: "i", "e", and "shared flag rights"", READ-WRITE "if at least one" is;
    5.1.1: "Any server implementing an ACL extension MUST accurately reflect the current
    user's rights in FLAGS and PERMANENTFLAGS responses"; 4: SELECT/EXAMINE/STATUS take
    "r"."""
    mail = await server.store.mail(USER)
    await _project(server, "lr")
    for name, rights in (("Seen", "lrs"), ("Flags", "lrw"), ("Listed", "l")):
        entry = await mail.create_mailbox(name)
        await server.store.sharing.set(USER, entry.id, OTHER, rights)

    def run():
        bob = Client(server, OTHER)
        got = {name: bob(f"SELECT {SHARED}{name}") for name in ("Project", "Seen", "Flags", "Listed")}
        got["status"] = bob(f"STATUS {SHARED}Listed (MESSAGES)")
        got["list-status"] = bob(f'LIST "" "{SHARED}*" RETURN (STATUS (MESSAGES))')
        bob.close()
        return got

    got = await in_thread(run)
    assert got["Project"][-1].startswith(b"OK [READ-ONLY]")
    assert b"* OK [PERMANENTFLAGS ()] flags permitted" in got["Project"]
    assert got["Seen"][-1].startswith(b"OK [READ-WRITE]")
    assert b"* OK [PERMANENTFLAGS (\\Seen)] flags permitted" in got["Seen"]
    assert got["Flags"][-1].startswith(b"OK [READ-WRITE]")
    assert b"* OK [PERMANENTFLAGS (\\* \\Answered \\Draft \\Flagged)] flags permitted" in got["Flags"]
    assert got["Listed"][-1].startswith(b"NO [NOPERM]")
    assert got["status"][-1].startswith(b"NO [NOPERM]")
    statuses = untagged(got["list-status"], b"STATUS")
    assert len(statuses) == 3 and not any(b"Listed" in line for line in statuses)
    assert got["list-status"][-1].startswith(b"OK")


@pytest_twisted.ensureDeferred
async def test_fetch_store_expunge_take_their_rights(server):
    """RFC 4314 4: "FETCH - A FETCH request that implies setting \\Seen flag MUST NOT set
    it, if the current user doesn't have "s" right"; "STORE - the server MUST check if
    the user has "t" right - when the user modifies \\Deleted flag "s" right - when the
    user modifies \\Seen flag "w" right - for all other message flags. STORE operation
    SHOULD NOT fail if the user has rights to modify at least one flag specified";
    "EXPUNGE - "e" right"; "CLOSE - [...] If the server is unable to expunge the mailbox
    because the user doesn't have the "e" right, the server MUST ignore the expunge
    request, close the mailbox, and return the tagged OK response"."""
    mail = await server.store.mail(USER)
    await _project(server, "lr", [(MESSAGE, ()), (MESSAGE, ("\\Deleted",))])
    seen = await mail.create_mailbox("Seen")
    box = await mail.mailbox("Seen")
    for flags in ((), ("\\Deleted", "\\Answered")):
        await box.append(MESSAGE, flags)
    await server.store.sharing.set(USER, seen.id, OTHER, "lrst")

    def run():
        bob = Client(server, OTHER)
        got = {}
        bob.ok(f"SELECT {PROJECT}")
        got["fetch r"] = bob.ok("FETCH 1 (BODY[])")
        got["flags r"] = bob.ok("FETCH 1 (FLAGS)")
        got["store r"] = bob("STORE 1 +FLAGS (\\Seen)")[-1]
        got["expunge r"] = bob("EXPUNGE")[-1]
        got["close r"] = bob("CLOSE")[-1]
        bob.ok(f"SELECT {SHARED}Seen")
        got["fetch s"] = bob.ok("FETCH 1 (BODY[])")
        got["store mixed"] = bob.ok("STORE 1 +FLAGS (\\Flagged \\Deleted)")
        got["store w"] = bob("STORE 1 +FLAGS (\\Flagged)")[-1]
        got["replace"] = bob.ok("STORE 2 FLAGS (\\Seen \\Draft)")
        got["expunge s"] = bob("EXPUNGE")[-1]
        got["close s"] = bob("CLOSE")[-1]
        bob.close()
        return got

    got = await in_thread(run)
    assert flags_of(got["flags r"]) == set(), "no s right: FETCH BODY[] leaves \\Seen unset"
    assert got["store r"].startswith(b"NO [NOPERM]")
    assert got["expunge r"].startswith(b"NO [NOPERM]")
    assert got["close r"].startswith(b"OK")
    assert await (await mail.mailbox("Project")).uids() == [1, 2], "CLOSE without e expunged nothing"
    assert "\\Seen" in flags_of(got["fetch s"])
    assert flags_of(got["store mixed"]) == {"\\Seen", "\\Deleted"}, "\\Flagged needs w, \\Deleted t"
    assert got["store w"].startswith(b"NO [NOPERM]")
    assert flags_of(got["replace"]) == {"\\Seen", "\\Answered"}, \
        "replacing: \\Deleted cleared (t), \\Answered kept and \\Draft not set (no w)"
    assert got["expunge s"].startswith(b"NO [NOPERM]")
    stored = await (await mail.mailbox("Seen")).messages()
    assert [set(m.flags) for m in stored] == [{"\\Seen", "\\Deleted"}, {"\\Seen", "\\Answered"}]


@pytest_twisted.ensureDeferred
async def test_copy_and_append_keep_only_the_flags_the_rights_allow(server):
    """RFC 4314 4 and its example: "Before performing a COPY/APPEND command, the server
    MUST check if the user has "i" right for the target mailbox. If the user doesn't
    have "i" right, the operation fails. Otherwise [...] Only when the user has a
    particular right are the corresponding flags stored for the newly created message.
    The server MUST NOT fail a COPY/APPEND if the user has no rights to set a particular
    flag." With "rwis": "\\Deleted flag was lost on COPY"; with "rsti": "\\Answered,
    $Forwarded, and \\Draft flags were lost"."""
    mail = await server.store.mail(USER)
    await _project(server, "lr")
    for name, rights in (("Rwis", "lrwis"), ("Rsti", "lrsti")):
        entry = await mail.create_mailbox(name)
        await server.store.sharing.set(USER, entry.id, OTHER, rights)
    inbox = await (await server.store.mail(OTHER)).mailbox("INBOX")
    for flags in (("\\Draft", "\\Deleted"), ("\\Answered",), ("$Forwarded", "\\Seen")):
        await inbox.append(MESSAGE, flags)

    def run():
        bob = Client(server, OTHER)
        got = {}
        got["append r"] = bob(f"APPEND {PROJECT} {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE)[-1]
        got["append i"] = bob.ok(f"APPEND {SHARED}Rsti (\\Seen \\Flagged) {{{len(MESSAGE)}+}}\r\n".encode()
                                 + MESSAGE)
        bob.ok("SELECT INBOX")
        got["copy r"] = bob(f"COPY 1:3 {PROJECT}")[-1]
        got["copy rwis"] = bob.ok(f"COPY 1:3 {SHARED}Rwis")
        got["copy rsti"] = bob.ok(f"COPY 1:3 {SHARED}Rsti")
        bob.close()
        return got

    got = await in_thread(run)
    assert got["append r"].startswith(b"NO [NOPERM]")
    assert got["copy r"].startswith(b"NO [NOPERM]")
    assert got["append i"][-1].startswith(b"OK [APPENDUID ")
    assert b"COPYUID" in got["copy rwis"][-1]

    async def flags(name):
        return [set(m.flags) for m in await (await mail.mailbox(name)).messages()]

    assert await flags("Project") == []
    assert await flags("Rwis") == [{"\\Draft"}, {"\\Answered"}, {"$Forwarded", "\\Seen"}]
    assert await flags("Rsti") == [{"\\Seen"}, {"\\Deleted"}, set(), {"\\Seen"}]
    assert [set(m.flags) for m in await inbox.messages()] == [
        {"\\Draft", "\\Deleted"}, {"\\Answered"}, {"$Forwarded", "\\Seen"}], "COPY leaves the source alone"


@pytest_twisted.ensureDeferred
async def test_move_takes_what_store_copy_and_expunge_take(server):
    """RFC 6851 4.2: "The ACL rights [RFC4314] required for MOVE and UID MOVE are the
    union of the ACL rights required for UID STORE, UID COPY, and UID EXPUNGE" -- "t" and
    "e" on the source, "i" on the target; a message moved between two accounts' folders
    ends in exactly one of them."""
    mail = await server.store.mail(USER)
    await _project(server, "lrsi", [(MESSAGE, ("\\Flagged",))])
    archive = await mail.create_mailbox("Archive/Project")
    await server.store.sharing.set(USER, archive.id, OTHER, "lrswitea")

    def run():
        bob = Client(server, OTHER)
        got = {}
        bob.ok(f"SELECT {PROJECT}")
        got["no te"] = bob(f"MOVE 1 {SHARED}Archive/Project")[-1]
        bob.ok(f"SELECT {SHARED}Archive/Project")
        got["append"] = bob.ok(f"APPEND {SHARED}Archive/Project {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE)
        bob.ok("NOOP")
        got["to inbox"] = bob.ok("MOVE 1 INBOX")
        bob.ok("SELECT INBOX")
        got["back"] = bob(f"MOVE 1 {PROJECT}")
        bob.close()
        return got

    got = await in_thread(run)
    assert got["no te"].startswith(b"NO [NOPERM]")
    assert await (await mail.mailbox("Project")).uids() != []
    assert any(b"COPYUID" in line for line in got["to inbox"])
    assert b"* 1 EXPUNGE" in got["to inbox"]
    assert await (await mail.mailbox("Archive/Project")).uids() == []
    bob_inbox = await (await server.store.mail(OTHER)).mailbox("INBOX")
    assert got["back"][-1].startswith(b"OK"), "MOVE from one's own folder takes i on the target only"
    assert await bob_inbox.uids() == []
    assert len(await (await mail.mailbox("Project")).uids()) == 2


@pytest_twisted.ensureDeferred
async def test_what_the_grantee_does_is_done_in_the_owners_folder(sqlite_server):
    """The grantee works in the owner's folder itself (its store, its UIDs): what bob
    appends and flags is what alice reads, over the SQLite store."""
    server = sqlite_server
    await _project(server, "lrswite")

    def run():
        bob = Client(server, OTHER)
        bob.ok(f"APPEND {PROJECT} {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE)
        bob.ok(f"SELECT {PROJECT}")
        bob.ok("STORE 1 +FLAGS (\\Flagged)")
        alice = Client(server, USER)
        alice.ok("SELECT Project")
        fetched = alice.ok("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        bob.ok("STORE 1 +FLAGS (\\Deleted)")
        bob.ok("EXPUNGE")
        after = alice.ok("NOOP")
        bob.close()
        alice.close()
        return fetched, after

    fetched, after = await in_thread(run)
    assert "\\Flagged" in flags_of(fetched)
    assert b"Subject: plans" in b"\n".join(fetched)
    assert b"* 1 EXPUNGE" in after
    assert await server.bodies(user=USER, folder="Project") == []


@pytest_twisted.ensureDeferred
async def test_idle_in_a_shared_folder_hears_the_owner(server):
    """RFC 2177 IDLE in a folder someone else owns: a message the owner appends (another
    account's change, announced on the owner's account) reaches the idling grantee."""
    await _project(server, "lr")

    def run():
        bob = Client(server, OTHER)
        bob.ok(f"SELECT {PROJECT}")
        bob.raw.send(b"i IDLE\r\n")
        assert bob.raw.line().startswith(b"+")
        alice = Client(server, USER)
        alice.ok(f"APPEND Project {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE)
        pushed = bob.raw.line()
        bob.raw.send(b"DONE\r\n")
        done = bob.raw.until(b"i")
        alice.close()
        bob.close()
        return pushed, done

    pushed, done = await in_thread(run)
    assert pushed == b"* 1 EXISTS"
    assert done[-1].startswith(b"i OK")


# -- LIST-MYRIGHTS ---------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_list_return_myrights_as_rfc8440_shows(server):
    """RFC 8440 3: "For each listable mailbox matching the list pattern and selection
    options, the server MUST return an untagged LIST response and SHOULD also return an
    untagged MYRIGHTS response [...] the server MUST NOT send a MYRIGHTS response for a
    given mailbox before it sends the LIST response for that mailbox." Section 4: no
    MYRIGHTS for a \\NonExistent name, nor for "foo" listed only "because it has
    matching children" (LIST (SUBSCRIBED RECURSIVEMATCH))."""
    mail = await server.store.mail(USER)
    await mail.create_mailbox("foo/bar")
    await mail.subscribe("foo", False)
    await _project(server, "lrs")

    def run():
        bob = Client(server, OTHER)
        bob.ok(f"SUBSCRIBE {PROJECT}")
        alice = Client(server, USER)
        plain = alice.ok('LIST "" "%" RETURN (MYRIGHTS)')
        recursive = alice.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (MYRIGHTS)')
        theirs = bob.ok('LIST (SUBSCRIBED) "" "Shared/*" RETURN (MYRIGHTS)')
        bob.close()
        alice.close()
        return plain, recursive, theirs

    plain, recursive, theirs = await in_thread(run)
    body = plain[:-1]
    for i, line in enumerate(body):
        if line.startswith(b"* LIST"):
            name = line.rsplit(b" ", 1)[1]
            assert body[i + 1] == b"* MYRIGHTS " + name + b" lrswipkxteacd"
    assert len(untagged(plain, b"MYRIGHTS")) == len(untagged(plain, b"LIST"))
    assert b'* LIST (\\HasChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))' in recursive
    assert b"* MYRIGHTS foo lrswipkxteacd" not in recursive
    assert b"* MYRIGHTS INBOX lrswipkxteacd" in recursive
    assert untagged(theirs, b"MYRIGHTS") == [b"* MYRIGHTS " + PROJECT.encode() + b" lrs"]


# -- folders in the shared namespace ---------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_create_rename_delete_take_k_and_x(server):
    """RFC 4314 4: "CREATE - "k" right on a nearest existing parent mailbox. When a new
    mailbox is created, it SHOULD inherit the ACL from the parent mailbox"; "DELETE -
    "x" right on the mailbox"; "The DELETE command MUST delete the ACL associated with
    the deleted mailbox"; "RENAME - [...] requires the "x" right on the mailbox itself
    and the "k" right for the new parent"; "The RENAME command SHOULD NOT change the
    ACLs on the renamed mailbox"."""
    await _project(server, "lrk")

    def run():
        bob = Client(server, OTHER)
        got = {}
        got["create"] = bob(f"CREATE {PROJECT}/Notes")[-1]
        got["create top"] = bob(f"CREATE {SHARED}Mine")[-1]
        got["rename no x"] = bob(f"RENAME {PROJECT}/Notes {PROJECT}/Minutes")[-1]
        got["delete no x"] = bob(f"DELETE {PROJECT}/Notes")[-1]
        alice = Client(server, USER)
        alice.ok(f"SETACL Project/Notes {OTHER} +x")
        alice.ok("RENAME Project Plans")
        got["acl after rename"] = alice.ok("GETACL Plans/Notes")
        got["rename"] = bob(f"RENAME {SHARED}Plans/Notes {SHARED}Plans/Minutes")[-1]
        got["rename away"] = bob(f"RENAME {SHARED}Plans/Minutes Minutes")[-1]
        got["delete"] = bob(f"DELETE {SHARED}Plans/Minutes")[-1]
        alice.ok("CREATE Plans/Minutes")
        got["acl of new"] = alice.ok("GETACL Plans/Minutes")
        got["own shared"] = alice("CREATE Shared")[-1]
        alice.close()
        bob.close()
        return got

    got = await in_thread(run)
    assert got["create"].startswith(b"OK")
    assert got["create top"].startswith(b"NO")
    assert got["rename no x"].startswith(b"NO [NOPERM]")
    assert got["delete no x"].startswith(b"NO [NOPERM]")
    assert untagged(got["acl after rename"], b"ACL") == [
        b"* ACL Plans/Notes " + USER.encode() + b" lrswipkxteacd " + OTHER.encode() + b" lrkxcd"], \
        "inherited from Project on CREATE, kept by RENAME"
    assert got["rename"].startswith(b"OK")
    assert got["rename away"].startswith(b"NO")
    assert got["delete"].startswith(b"OK")
    assert untagged(got["acl of new"], b"ACL") == [
        b"* ACL Plans/Minutes " + USER.encode() + b" lrswipkxteacd " + OTHER.encode() + b" lrkc"], \
        "the deleted folder's ACL (lrkx) is gone; the new one inherits its parent's"
    assert got["own shared"].startswith(b"NO")
    names = [e.name for e in await (await server.store.mail(USER)).list_mailboxes()]
    assert "Plans/Minutes" in names and "Plans/Notes" not in names


@pytest_twisted.ensureDeferred
async def test_a_personal_folder_called_shared_keeps_working(server):
    """A folder of one's own named "Shared/..." (made before the store shared folders)
    is still one's own: the shared namespace does not hide it."""
    mail = await server.store.mail(OTHER)
    await mail.create_mailbox("Shared/Old")
    await (await mail.mailbox("Shared/Old")).append(MESSAGE)

    def run():
        bob = Client(server, OTHER)
        got = {"select": bob("SELECT Shared/Old"), "myrights": bob("MYRIGHTS Shared/Old")}
        got["rename"] = bob("RENAME Shared/Old Old")[-1]
        bob.close()
        return got

    got = await in_thread(run)
    assert b"* 1 EXISTS" in got["select"]
    assert untagged(got["myrights"], b"MYRIGHTS") == [b"* MYRIGHTS Shared/Old lrswipkxteacd"]
    assert got["rename"].startswith(b"OK")
    assert await server.bodies(user=OTHER, folder="Old") == [MESSAGE]


@pytest_twisted.ensureDeferred
async def test_subscriptions_to_shared_folders_are_the_grantees(server):
    """RFC 4314 4: "SUBSCRIBE - "l" right is required only if the server checks for
    mailbox existence", "UNSUBSCRIBE - no rights required"; the owner's subscriptions
    stay the owner's."""
    await _project(server, "lr")
    mail = await server.store.mail(USER)
    await mail.subscribe("Project", False)

    def run():
        bob = Client(server, OTHER)
        got = {"subscribe": bob(f"SUBSCRIBE {PROJECT}")[-1],
               "missing": bob(f"SUBSCRIBE {SHARED}Nothing")[-1]}
        got["lsub"] = bob.ok('LSUB "" "*"')
        got["subscribed"] = bob.ok('LIST (SUBSCRIBED) "" "*"')
        bob.ok(f"UNSUBSCRIBE {PROJECT}")
        got["after"] = bob.ok('LIST (SUBSCRIBED) "" "*"')
        bob.close()
        return got

    got = await in_thread(run)
    assert got["subscribe"].startswith(b"OK")
    assert got["missing"].startswith(b"NO")
    assert any(line.endswith(PROJECT.encode()) for line in untagged(got["lsub"], b"LSUB"))
    assert any(line.endswith(PROJECT.encode()) for line in untagged(got["subscribed"], b"LIST"))
    assert not any(line.endswith(PROJECT.encode()) for line in untagged(got["after"], b"LIST"))
    assert not [e for e in await mail.list_mailboxes() if e.name == "Project" and e.subscribed]


@pytest_twisted.ensureDeferred
async def test_unshared_folder_is_gone_for_the_grantee(server):
    """DELETEACL takes a folder out of the grantee's namespace: LIST no longer shows it
    and SELECT answers as for a folder that does not exist (RFC 4314 6)."""
    await _project(server, "lr", [(MESSAGE, ())])

    def run():
        bob = Client(server, OTHER)
        before = bob.ok('LIST "" "*"')
        alice = Client(server, USER)
        alice.ok(f"DELETEACL Project {OTHER}")
        after = bob.ok('LIST "" "*"')
        select = bob(f"SELECT {PROJECT}")[-1]
        alice.close()
        bob.close()
        return before, after, select

    before, after, select = await in_thread(run)
    assert any(line.endswith(PROJECT.encode()) for line in before)
    assert not any(b"Shared/" in line for line in after)
    assert select.startswith(b"NO [NONEXISTENT]")


@pytest_twisted.ensureDeferred
async def test_own_folders_are_unchanged_by_sharing(server):
    """With nothing shared an account's session is what it was: its own folders with
    every right, COPY between them keeping every flag, and imaplib's usual calls."""
    inbox = await server.mailbox()
    await inbox.append(MESSAGE, ("\\Answered", "\\Deleted", "$Label"))

    def run():
        c = server.imaplib()
        c.select("INBOX")
        typ, _ = c.copy("1", "Archive")
        c.select("Archive")
        typ, data = c.fetch("1", "(FLAGS)")
        c.logout()
        return data

    data = await in_thread(run)
    assert b"\\Answered" in data[0] and b"\\Deleted" in data[0] and b"$Label" in data[0]
    assert await (await server.mailbox("INBOX")).uids() == [1]
