"""A throw-away PostgreSQL cluster for the test run (pytest plugin, see tests/conftest.py).

Unless ``SMSYNC_TEST_PG`` names a server to use, the run starts its own cluster with
Debian's ``initdb``/``pg_ctl`` (package ``postgresql``, which ``make test`` installs when
root) in a temporary directory on a free port, points ``SMSYNC_TEST_PG`` at it for the
tests and the processes they start, and removes it at the end. When no cluster can be
started the reason goes into ``SMSYNC_TEST_PG_UNAVAILABLE``: the PostgreSQL tests then
skip saying why, or fail under ``CI=true`` (``tests/store/pg_support.py``).

The cluster runs with ``fsync=off``: the tests kill smsync, never PostgreSQL, so the
server's own flushes buy nothing here but time. (The benchmarks use a real server.)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

ENV = "SMSYNC_TEST_PG"
UNAVAILABLE = "SMSYNC_TEST_PG_UNAVAILABLE"

_cluster = None


def _bin_dir() -> str | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One temporary cluster: ``start`` (blocking, a few seconds) and ``stop``."""

    def __init__(self, bin_dir: str):
        self.bin_dir = bin_dir
        self.root = tempfile.mkdtemp(prefix="smsync-test-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self._as = []
        if os.geteuid() == 0:
            # initdb refuses to run as root: the cluster belongs to the postgres user.
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{os.path.basename(args[0])} failed: "
                               + " ".join((done.stderr or done.stdout).split())[-500:])

    def start(self) -> None:
        self._run(os.path.join(self.bin_dir, "initdb"), "-D", self.data, "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c full_page_writes=off -c max_connections=300")
        self._run(os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                  "-o", options, "-l", os.path.join(self.root, "server.log"), "start")

    def stop(self) -> None:
        try:
            self._run(os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                      "-w", "stop")
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def pytest_configure(config) -> None:
    global _cluster
    if os.environ.get(ENV) or _cluster is not None:
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        os.environ[UNAVAILABLE] = ("no PostgreSQL server binaries (initdb): install Debian's "
                                   "'postgresql' package or set SMSYNC_TEST_PG to a server")
        return
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
    except Exception as e:
        cluster.stop()
        os.environ[UNAVAILABLE] = f"could not start a PostgreSQL cluster: {e}"
        return
    _cluster = cluster
    os.environ[ENV] = cluster.uri


def pytest_unconfigure(config) -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        os.environ.pop(ENV, None)
        _cluster = None
