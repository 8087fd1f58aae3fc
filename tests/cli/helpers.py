"""Running the ``smsync`` command as a subprocess, the way users do."""

import subprocess
import sys
from pathlib import Path

SMSYNC = str(Path(sys.executable).with_name("smsync"))
DATA = Path(__file__).with_name("data")


class Result:
    def __init__(self, completed):
        self.status = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr

    def __repr__(self):
        return f"<exit {self.status} stdout={self.out!r} stderr={self.err!r}>"


def run(*args, cwd, stdin=None, env=None, timeout=120):
    """Run ``smsync ARGS`` in ``cwd``; ``stdin`` is text fed to it (default: nothing)."""
    completed = subprocess.run([SMSYNC, *map(str, args)], cwd=cwd, input=stdin or "",
                               capture_output=True, text=True, timeout=timeout, env=env)
    return Result(completed)


def ok(*args, cwd, **kw):
    result = run(*args, cwd=cwd, **kw)
    assert result.status == 0, result
    return result
