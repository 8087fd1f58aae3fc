"""The quota on IMAP's other ways of making an account's mail bigger: COPY and UID
COPY into a full account's folders answer NO [OVERQUOTA] (RFC 9208 5.3) and copy
nothing; MOVE within the account adds nothing and goes through; REPLACE by a bigger
message is refused, by one no bigger is not. The quota is set through
``smsync.admin.accounts`` as the CLI and the web pages set it."""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.admin import accounts
from smsync.testing.servers import OTHER, PASSWORD, SQLITE, USER, RunningServers, in_thread


@pytest.fixture
def servers():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("imap",), SQLITE)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


# imaplib sends any command it knows the states of (RFC 8508's REPLACE: selected).
imaplib.Commands.setdefault("REPLACE", ("SELECTED",))


def message(n: int, size: int = 400) -> bytes:
    return b"Subject: quota %d\r\n\r\n" % n + b"x" * size + b"\r\n"


async def fill(servers, *bodies) -> None:
    """Store ``bodies`` in USER's Inbox and make the quota exactly what they take."""
    await servers.deliver(*bodies)
    await accounts.set_quota(servers.store, USER, await accounts.usage(servers.store, USER))
    servers.service.edge.quotas.forget()


def messages_in(c, folder: str) -> int:
    status = c.status(folder, "(MESSAGES)")
    return int(status[1][0].split(b"MESSAGES ")[1].rstrip(b")"))


@pytest_twisted.ensureDeferred
async def test_copy_into_a_full_account_is_refused_and_copies_nothing(servers):
    await fill(servers, message(1), message(2))

    def imap():
        c = imaplib.IMAP4(servers.host, servers.port("imap"))
        c.login(USER, PASSWORD)
        c.create("Kept")
        c.select("INBOX")
        copy = c.copy("1", "Kept")
        uid_copy = c.uid("COPY", "1:*", "Kept")
        kept = messages_in(c, "Kept")
        # Moving within the account adds nothing: no quota check.
        moved = c._simple_command("MOVE", "2", "Kept")
        after_move = messages_in(c, "Kept"), messages_in(c, "INBOX")
        c.logout()
        return copy, uid_copy, kept, moved, after_move

    copy, uid_copy, kept, moved, after_move = await in_thread(imap)
    assert copy[0] == "NO" and b"[OVERQUOTA]" in copy[1][0]
    assert uid_copy[0] == "NO" and b"[OVERQUOTA]" in uid_copy[1][0]
    assert kept == 0
    assert moved[0] == "OK" and after_move == (1, 1)
    assert len(await servers.bodies(folder="Kept")) == 1

    # With room, the same COPY goes through (the refusal was the quota's).
    await accounts.set_quota(servers.store, USER, 10 ** 6)
    servers.service.edge.quotas.forget()

    def again():
        c = imaplib.IMAP4(servers.host, servers.port("imap"))
        c.login(USER, PASSWORD)
        c.select("INBOX")
        copied = c.copy("1", "Kept")
        c.logout()
        return copied

    assert (await in_thread(again))[0] == "OK"
    assert len(await servers.bodies(folder="Kept")) == 2


@pytest_twisted.ensureDeferred
async def test_replace_counts_only_what_it_adds(servers):
    await fill(servers, message(1))

    def imap():
        c = imaplib.IMAP4(servers.host, servers.port("imap"))
        c.login(USER, PASSWORD)
        c.select("INBOX")
        c.literal = message(1, 2000)  # sent as the command's last argument
        refused = c._simple_command("REPLACE", "1", "INBOX")
        c.literal = message(1, 100)
        replaced = c._simple_command("REPLACE", "1", "INBOX")
        c.logout()
        return refused, replaced

    refused, replaced = await in_thread(imap)
    assert refused[0] == "NO" and b"[OVERQUOTA]" in refused[1][0]
    assert replaced[0] == "OK"
    bodies = await servers.bodies()
    assert len(bodies) == 1 and len(bodies[0]) < len(message(1))


@pytest_twisted.ensureDeferred
async def test_shared_folders_count_in_their_owners_quota(servers):
    # alice (USER) shares "Project" with bob (OTHER). A MOVE out of it into bob's own
    # folders adds to bob's mail: checked against bob's quota; a COPY into it adds to
    # alice's: checked against hers.
    mail = await servers.store.mail(USER)
    entry = await mail.create_mailbox("Project")
    await servers.deliver(message(1), folder="Project")
    await servers.store.sharing.set(USER, entry.id, OTHER, "lrswitedk")
    await servers.deliver(message(2), user=OTHER)
    for account in (USER, OTHER):
        await accounts.set_quota(servers.store, account, await accounts.usage(servers.store, account))
    servers.service.edge.quotas.forget()

    def imap():
        c = imaplib.IMAP4(servers.host, servers.port("imap"))
        c.login(OTHER, PASSWORD)
        c.select(f'"Shared/{USER}/Project"')
        moved = c._simple_command("MOVE", "1", "INBOX")
        c.select("INBOX")
        copied = c.copy("1", f'"Shared/{USER}/Project"')
        c.logout()
        return moved, copied

    moved, copied = await in_thread(imap)
    assert moved[0] == "NO" and b"[OVERQUOTA]" in moved[1][0]
    assert copied[0] == "NO" and b"[OVERQUOTA]" in copied[1][0]
    assert len(await servers.bodies(folder="Project")) == 1
    assert len(await servers.bodies(user=OTHER)) == 1
