"""Two-way sync with Debian's isync (``mbsync``): a real client with opinions about UIDs,
flags, UIDPLUS and expunges.

Skipped with a reason when mbsync is not installed, except under ``CI=true`` where a
missing mbsync is a failure (``make test-deps`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread

from smsync.model import FlagMode, UIDSet

MBSYNC = shutil.which("mbsync")

if MBSYNC is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("mbsync (Debian package isync) is required under CI=true; run `make test-deps`")
    pytestmark = pytest.mark.skip(reason="mbsync not installed (apt-get install isync, or `make test-deps`)")


def _config(home: Path, port: int) -> Path:
    rc = home / "mbsyncrc"
    rc.write_text(
        textwrap.dedent(
            f"""\
            IMAPAccount smsync
            Host 127.0.0.1
            Port {port}
            User {USER}
            Pass "{PASSWORD}"
            SSLType None
            AuthMechs LOGIN

            IMAPStore remote
            Account smsync

            MaildirStore local
            Path {home}/mail/
            Inbox {home}/mail/INBOX
            SubFolders Verbatim

            Channel sync
            Far :remote:
            Near :local:
            Patterns *
            Create Both
            Expunge Both
            SyncState *
            Sync All
            """
        )
    )
    (home / "mail").mkdir()
    return rc


def _mbsync(rc: Path) -> None:
    result = subprocess.run([MBSYNC, "-c", str(rc), "-a"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _local(home: Path) -> dict[str, tuple[bytes, str]]:
    """Every local message: subject line -> (content, maildir flags)."""
    out = {}
    for path in (home / "mail").glob("*/*/*"):
        if path.parent.name not in ("cur", "new"):
            continue
        data = path.read_bytes()
        subject = next(l for l in data.splitlines() if l.startswith(b"Subject:"))
        flags = path.name.rpartition(":2,")[2] if ":2," in path.name else ""
        out[subject.decode()] = (path, flags)
    return out


def _msg(subject: str) -> bytes:
    return f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\nbody: {subject}\r\n".encode()


async def _server_state(server) -> dict:
    mail = await server.store.mail(USER)
    state = {}
    for entry in await mail.list_mailboxes():
        box = await mail.mailbox(entry.name)
        info = await box.info()
        msgs = await box.messages()
        state[entry.name] = (info.highestmodseq, {m.uid: sorted(m.flags) for m in msgs})
    return state


@pytest_twisted.ensureDeferred
async def test_two_way_sync_with_flag_changes(server, tmp_path):
    inbox = await server.mailbox()
    one = await inbox.append(_msg("one"), flags=("\\Seen",))
    await inbox.append(_msg("two"))
    await inbox.append(_msg("doomed"))
    archive = await server.mailbox("Archive")
    await archive.append(_msg("archived"))
    rc = _config(tmp_path, server.portno)

    await in_thread(_mbsync, rc)
    local = _local(tmp_path)
    assert set(local) == {"Subject: one", "Subject: two", "Subject: doomed", "Subject: archived"}
    assert "S" in local["Subject: one"][1] and "S" not in local["Subject: two"][1]

    # Changes on both sides between syncs.
    path, flags = local["Subject: two"]
    new_name = path.name.rpartition(":2,")[0] + ":2," + "".join(sorted(flags + "F"))
    path.rename(path.parent.parent / "cur" / new_name)
    path, flags = local["Subject: doomed"]
    path.rename(path.parent.parent / "cur" / (path.name.rpartition(":2,")[0] + ":2," + "".join(sorted(flags + "T"))))
    (tmp_path / "mail" / "INBOX" / "new" / "1700000000.local.host").write_bytes(_msg("written locally"))
    await inbox.append(_msg("delivered on server"))
    await inbox.store_flags(UIDSet.of([one.uid]), FlagMode.ADD, ("\\Answered",))

    await in_thread(_mbsync, rc)
    by_subject = {}
    for info in await inbox.messages():
        body = await inbox.read_body(info.uid)
        by_subject[body.split(b"\r\n")[0].decode()] = info.flags
    assert set(by_subject) == {"Subject: one", "Subject: two", "Subject: written locally", "Subject: delivered on server"}
    assert "\\Flagged" in by_subject["Subject: two"]
    local = _local(tmp_path)
    assert "Subject: doomed" not in local and "Subject: delivered on server" in local
    assert "R" in local["Subject: one"][1]

    # A third run has nothing to move: neither side changes.
    before_server = await _server_state(server)
    before_local = {k: (v[0].name, v[1]) for k, v in _local(tmp_path).items()}
    await in_thread(_mbsync, rc)
    assert await _server_state(server) == before_server
    assert {k: (v[0].name, v[1]) for k, v in _local(tmp_path).items()} == before_local
