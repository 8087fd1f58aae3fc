"""Driving Debian's SyncEvolution client headless against a test server (a test aid).

Debian 12's ``syncevolution`` 2.0.0 crashes on its first HTTP POST (NULL libcurl
callbacks); ``curlshim.c`` beside this file is an ``LD_PRELOAD`` library that puts working
callbacks in their place. ``shim()`` builds it with gcc once per run.

``Device`` is one simulated phone: its own HOME (config, file-backend databases), one
SyncEvolution config named ``dev`` with the four SyncEvolution databases (addressbook,
calendar, todo, memo) on file backends; ``sync(mode)`` runs one session. Items are plain
files in ``db(name)``; after editing one, its mtime is moved forward (the file backend
notices changes by mtime).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent
#: The four SyncEvolution databases and the type each keeps its items in.
DATABASES = {"addressbook": "text/vcard", "calendar": "text/calendar", "todo": "text/calendar",
             "memo": "text/plain"}

_shim: dict = {}


def missing() -> Optional[str]:
    """Why SyncEvolution tests cannot run here (None: they can)."""
    if shutil.which("syncevolution") is None:
        return "syncevolution not installed (apt-get install syncevolution, or `make test-deps`)"
    if shutil.which("gcc") is None:
        return "gcc not installed (needed to build the SyncEvolution curl shim)"
    return None


def require():
    """Skip (or, under CI=true, fail) when SyncEvolution cannot run."""
    why = missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{why}; required under CI=true")
    pytest.skip(why)


def shim() -> str:
    """The path of the built curl shim (built once per process)."""
    if "path" not in _shim:
        out = Path(tempfile.mkdtemp(prefix="smsync-curlshim-")) / "curlshim.so"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", f"-Wl,--version-script={HERE / 'curlshim.map'}",
                        "-o", str(out), str(HERE / "curlshim.c"), "-ldl"], check=True,
                       capture_output=True)
        _shim["path"] = str(out)
    return _shim["path"]


class SyncFailed(AssertionError):
    pass


class Device:
    """One SyncEvolution client with its own home directory."""

    def __init__(self, root: Path, name: str, url: str, user: str, password: str, *,
                 wbxml: bool = False, databases=("addressbook", "calendar", "todo", "memo"),
                 uris: Optional[dict] = None):
        self.name = name
        self.home = root / name
        self.home.mkdir(parents=True, exist_ok=True)
        self.databases = tuple(databases)
        self.env = dict(os.environ, HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"),
                        XDG_DATA_HOME=str(self.home / ".local/share"),
                        XDG_CACHE_HOME=str(self.home / ".cache"), LD_PRELOAD=shim(),
                        LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        args = ["--configure", "--template", "SyncEvolution", "--keyring=no",
                "--sync-property", f"syncURL={url}", "--sync-property", f"username={user}",
                "--sync-property", f"password={password}", "--sync-property", f"deviceId={name}",
                "--sync-property", f"enableWBXML={1 if wbxml else 0}",
                "--sync-property", "preventSlowSync=0", "--sync-property", "printChanges=0",
                "--sync-property", "dumpData=0", "--sync-property", "maxLogDirs=1",
                "--sync-property", "loglevel=1"]
        for db, mime in DATABASES.items():
            if db in self.databases:
                self.db(db).mkdir(parents=True, exist_ok=True)
                args += ["--source-property", f"{db}/backend=file",
                         "--source-property", f"{db}/databaseFormat={mime}",
                         "--source-property", f"{db}/database=file://{self.db(db)}",
                         "--source-property", f"{db}/uri={(uris or {}).get(db, db)}",
                         "--source-property", f"{db}/sync=two-way"]
            else:
                args += ["--source-property", f"{db}/sync=disabled"]
        self.run(*args, "dev")

    def db(self, name: str) -> Path:
        return self.home / "data" / name

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(["syncevolution", "--daemon=no", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise SyncFailed(f"syncevolution {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    def sync(self, mode: Optional[str] = None, *databases: str, check: bool = True) -> str:
        """Run one session (``mode``: two-way, slow, refresh-from-server, ...); its
        report."""
        args = ["--run"]
        if mode:
            args += ["--sync", mode]
        done = self.run(*args, "dev", *databases, check=check)
        return done.stdout + done.stderr

    def items(self, db: str) -> dict:
        """file name -> content of the database's items."""
        return {p.name: p.read_bytes() for p in sorted(self.db(db).iterdir()) if p.is_file()}

    def write(self, db: str, name: str, content: bytes) -> None:
        path = self.db(db) / name
        existed = path.exists()
        path.write_bytes(content)
        if existed:
            later = time.time() + 3
            os.utime(path, (later, later))

    def delete(self, db: str, name: str) -> None:
        (self.db(db) / name).unlink()
