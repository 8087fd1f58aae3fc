"""Running vdirsyncer (the real CLI, from the virtualenv) against the test server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dav_harness import PASSWORD, USER

VDIRSYNCER = str(Path(sys.executable).with_name("vdirsyncer"))


def write_config(tmp: Path, server, kind: str, collection: str, url: str | None = None) -> Path:
    """A vdirsyncer config pairing ``tmp/<kind>/`` with the server's ``collection``;
    ``kind`` is ``caldav`` or ``carddav``; ``url`` the one URL vdirsyncer is given
    (default: the DAV mount, ``/dav/``)."""
    ext = ".ics" if kind == "caldav" else ".vcf"
    (tmp / "status").mkdir(exist_ok=True)
    (tmp / kind).mkdir(exist_ok=True)
    config = tmp / f"{kind}.conf"
    config.write_text(f"""[general]
status_path = "{tmp}/status/"

[pair p]
a = "local"
b = "remote"
collections = ["{collection}"]
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "{tmp}/{kind}/"
fileext = "{ext}"

[storage remote]
type = "{kind}"
url = "{url or server.url + '/dav/'}"
username = "{USER}"
password = "{PASSWORD}"
""")
    return config


def vdirsyncer(config: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([VDIRSYNCER, "-c", str(config), *args], input="y\n" * 5,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"vdirsyncer {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
