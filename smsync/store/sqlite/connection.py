"""Opening a connection to a ``sqlite:`` store's database, and fsyncing a directory."""

from __future__ import annotations

import os
import sqlite3


#: Page cache of each connection, KiB (see ``connect``).
CACHE_KIB = 2000


def connect(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the pragmas every connection of the store uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA temp_store = MEMORY")
    # SQLite's default 2 MB page cache per connection, not more: the kernel's page cache
    # already holds the database file, so a bigger private cache mostly copied it into
    # every connection (32 MB each was most of the 1.8 KiB of RSS a stored event cost at
    # 50,000 events, with no read or PUT figure faster for it; docs/performance.md).
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
