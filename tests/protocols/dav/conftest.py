"""The DAV server fixtures (``tests/protocols/dav/dav_fixtures.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dav"))

from dav_fixtures import server, sqlite_server  # noqa: E402,F401
