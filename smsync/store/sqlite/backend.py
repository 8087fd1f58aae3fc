"""The ``sqlite:`` backend (``IStoreBackend``) and the opened store (``IStore``).

``sqlite:///absolute/dir`` or ``sqlite:relative/dir`` names a directory holding
``smsync.sqlite3`` (metadata) and ``bodies/`` (message bodies). Several processes may
open the same directory: they share the database (WAL), every process holds a shared
lock on ``dir/lock``, and only a process that finds itself alone (it gets the lock
exclusively) removes orphaned body files.

This module imports nothing heavy at import time: the plugin module imports it for
every ``getPlugins`` scan.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

from zope.interface import implementer

from smsync.errors import BadStoreURI
from smsync.interfaces import IStoreBackend

SCHEME = "sqlite"


def directory_of(uri: str) -> str:
    """The absolute directory a ``sqlite:`` URI names. ``BadStoreURI`` if malformed."""
    if not isinstance(uri, str) or not uri.lower().startswith(SCHEME + ":"):
        raise BadStoreURI(f"not a sqlite: URI: {uri!r}")
    rest = uri[len(SCHEME) + 1 :]
    if "?" in rest or "#" in rest:
        raise BadStoreURI(f"sqlite: URIs take no query or fragment: {uri!r}")
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise BadStoreURI(f"sqlite: URIs name a local directory, not host {host!r}: {uri!r}")
        path = slash + path
    else:
        path = rest
    path = unquote(path)
    if not path.strip("/") or "\x00" in path:
        raise BadStoreURI(f"sqlite: URI names no directory: {uri!r}")
    return os.path.abspath(path)


@implementer(IStoreBackend)
class SQLiteBackend:
    """Makes ``SQLiteStore`` objects from ``sqlite:`` URIs."""

    scheme = SCHEME
    description = "embedded store: metadata in SQLite, message bodies as files (sqlite:///dir)"
    #: Several processes may serve one store: they share the database (WAL), and each
    #: hears of the others' changes (the doorbell, ``watch``).
    multiprocess = True

    def open(self, uri, create=True):
        """See ``IStoreBackend.open``: fires with an ``IStore`` or fails with ``BadStoreURI``."""
        from twisted.internet.defer import fail

        try:
            directory = directory_of(uri)
        except BadStoreURI as e:
            return fail(e)
        from smsync.store.sqlite.store import open_store

        return open_store(uri, directory, create)
