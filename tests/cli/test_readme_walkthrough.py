"""The README's CLI walk-through works exactly as written."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def walkthrough_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- walkthrough")
    block = re.search(r"```sh\n(.*?)```", text[marker:], re.S).group(1)
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def test_walkthrough_runs_as_written(tmp_path):
    commands = walkthrough_commands()
    assert [c.split()[:2] for c in commands][:4] == [
        ["smsync", "init"], ["smsync", "user"], ["smsync", "import"], ["smsync", "import"]]
    # Run from a copy of the repository's relevant files, as a user in its root would.
    shutil.copytree(ROOT / "tests" / "cli" / "data", tmp_path / "tests" / "cli" / "data")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    outputs = []
    for command in commands:
        result = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stderr == "", (command, result.stderr)
        outputs.append(result.stdout)
    joined = "\n".join(outputs)
    assert "imported 3 messages into alice@example.org INBOX" in joined
    assert "imported 3 items into alice@example.org calendar" in joined
    assert "alice@example.org\n" in joined
    assert "no devices have synced alice@example.org yet" in joined
    assert (tmp_path / "alice.ics").read_bytes().count(b"BEGIN:VEVENT") == 4
