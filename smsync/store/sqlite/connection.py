"""Opening a connection to a ``sqlite:`` store's database, and fsyncing a directory."""

from __future__ import annotations

import os
import sqlite3


def connect(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the pragmas every connection of the store uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32000")
    return conn


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
