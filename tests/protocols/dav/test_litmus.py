"""Debian's litmus, the WebDAV server test suite, against a real server: its basic,
copymove, props and http suites run inside the calendar home (where litmus makes its
own plain ``litmus/`` collection) and must pass without a failure or a warning
(RFC 4918 as litmus checks it; issue 14 section 2).

Skipped with a reason when litmus is not installed, except under ``CI=true`` where a
missing litmus is a failure (``make test-deps`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import pytest_twisted

from dav_harness import PASSWORD, USER, in_thread

LITMUS = shutil.which("litmus")

if LITMUS is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("litmus (Debian package litmus) is required under CI=true; run `make test-deps`")
    pytestmark = pytest.mark.skip(reason="litmus not installed (apt-get install litmus, or `make test-deps`)")

SUITES = ("basic", "copymove", "props", "http")
_SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def _litmus(url: str, workdir) -> subprocess.CompletedProcess:
    # litmus writes debug.log and child.log into its working directory.
    env = dict(os.environ, TESTS=" ".join(SUITES))
    return subprocess.run([LITMUS, "-k", url, USER, PASSWORD], cwd=workdir, env=env,
                          capture_output=True, text=True, errors="replace", timeout=300)


def summaries(output: str) -> dict:
    """suite -> (run, passed, failed) from litmus's summary lines."""
    return {m.group(1): tuple(int(g) for g in m.group(2, 3, 4)) for m in _SUMMARY.finditer(output)}


async def run_litmus(server, tmp_path) -> None:
    result = await in_thread(_litmus, f"{server.url}/dav/calendars/{USER}/", tmp_path)
    output = result.stdout + result.stderr
    found = summaries(output)
    assert sorted(found) == sorted(SUITES), output
    failed = {suite: counts for suite, counts in found.items() if counts[2] or counts[0] != counts[1]}
    assert not failed, output
    assert "WARNING" not in output, output
    assert result.returncode == 0, output


@pytest_twisted.ensureDeferred
async def test_litmus_memory(server, tmp_path):
    await run_litmus(server, tmp_path)


@pytest_twisted.ensureDeferred
async def test_litmus_sqlite(sqlite_server, tmp_path):
    await run_litmus(sqlite_server, tmp_path)


def test_summaries_are_read():
    """The parser the assertions rely on, on litmus's own summary format."""
    out = ("-> running `basic':\n 0. init.................. pass\n"
           "<- summary for `basic': of 16 tests run: 15 passed, 1 failed. 93.8%\n"
           "<- summary for `http': of 4 tests run: 4 passed, 0 failed. 100.0%\n")
    assert summaries(out) == {"basic": (16, 15, 1), "http": (4, 4, 0)}
