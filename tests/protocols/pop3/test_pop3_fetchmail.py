"""Debian's fetchmail against the POP3 server: first with ``keep`` (nothing deleted,
UIDL remembered), then without it (everything fetched and deleted -- only once the
client QUITs).

Skipped with a reason when fetchmail is not installed, except under ``CI=true`` where a
missing fetchmail is a failure (``make test-deps`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import pytest_twisted
from pop3_harness import PASSWORD, USER, in_thread, message, start_server

from smsync.protocols.pop3.server import POP3Server
from smsync.testing.servers import SQLITE

FETCHMAIL = shutil.which("fetchmail")

if FETCHMAIL is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("fetchmail is required under CI=true; run `make test-deps`")
    pytestmark = pytest.mark.skip(reason="fetchmail not installed (apt-get install fetchmail, "
                                         "or `make test-deps`)")


def _run(home: Path, port: int, keep: bool) -> str:
    rc = home / "fetchmailrc"
    out = home / "out"
    out.mkdir(exist_ok=True)
    rc.write_text(textwrap.dedent(f"""\
        set no syslog
        set no bouncemail
        set invisible
        poll 127.0.0.1 with proto POP3 port {port} uidl
          user "{USER}" there with password "{PASSWORD}" is "nobody" here
          {"keep" if keep else "nokeep fetchall"}
          sslproto ''
          mda "/bin/sh -c 'cat > {out}/msg.$$.$(date +%s%N)'"
        """))
    rc.chmod(0o600)
    env = {**os.environ, "FETCHMAILHOME": str(home), "HOME": str(home)}
    result = subprocess.run([FETCHMAIL, "-f", str(rc), "--nodetach", "-v"], env=env,
                            capture_output=True, text=True, timeout=60)
    # 0: mail fetched; 1: no mail.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.stdout + result.stderr


def _fetched(home: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in (home / "out").iterdir())


@pytest_twisted.ensureDeferred
async def test_fetchmail_keep_then_delete(tmp_path):
    running = await start_server(SQLITE)
    try:
        bodies = [message(i, 2000 * i) for i in range(1, 4)]
        await running.deliver(*bodies)
        inbox = await running.mailbox()
        # Watch the sessions: at each DELE and at QUIT, what the store holds.
        observed = []

        class Watching(POP3Server):
            async def _line(self, line):
                verb = line.split(b" ")[0].upper()
                if verb in (b"DELE", b"QUIT"):
                    observed.append((verb, len(await inbox.uids())))
                await super()._line(line)

        running.factory.buildProtocol = lambda addr: _with_factory(Watching(), running.factory)

        home = tmp_path / "home"
        home.mkdir()
        log1 = await in_thread(_run, home, running.portno, True)
        assert "3 messages" in log1
        assert _fetched(home) == sorted(_delivered(b) for b in bodies)
        assert len(await inbox.uids()) == 3
        assert not any(v == b"DELE" for v, _ in observed)

        # Same UIDLs next time: fetchmail (with keep) sees nothing new.
        shutil.rmtree(home / "out")
        await in_thread(_run, home, running.portno, True)
        assert _fetched(home) == []

        observed.clear()
        await in_thread(_run, home, running.portno, False)
        assert _fetched(home) == sorted(_delivered(b) for b in bodies)
        # Every DELE left the messages in place; they went only with QUIT.
        deles = [n for v, n in observed if v == b"DELE"]
        assert len(deles) == 3 and set(deles) == {3}
        assert await inbox.uids() == []
    finally:
        await running.stop()


def _with_factory(proto, factory):
    proto.factory = factory
    return proto


def _delivered(body: bytes) -> bytes:
    # fetchmail hands the MDA LF-terminated lines (and, being "invisible", adds no
    # Received field of its own).
    return body.replace(b"\r\n", b"\n")
