"""The ``postgresql:`` backend (``IStoreBackend``) and its URIs.

``postgresql://user[:password]@host[:port]/dbname[?param=value&...]`` names a database;
the query may carry libpq connection parameters (``sslmode``, ``connect_timeout``, ...)
and one of smsync's own, ``schema=NAME``, to keep the store in a schema other than
``public`` (several stores in one database, one per test for instance).

This module imports nothing heavy at import time: the plugin module imports it for
every ``getPlugins`` scan.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
from zope.interface import implementer

from smsync.errors import BadStoreURI
from smsync.interfaces import IStoreBackend

SCHEME = "postgresql"

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Connection parameters smsync adds unless the URI sets them: a dead peer or network is
#: noticed within seconds (the change feed relies on that to reconnect), and the
#: server's activity view names us.
DEFAULT_PARAMS = {
    "application_name": "smsync",
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}


@attrs.frozen
class Target:
    """Where a ``postgresql:`` URI points: the libpq URI (without smsync's own
    parameters), the schema, and libpq keyword parameters to add."""

    conninfo: str
    schema: str
    dbname: str
    extra: dict = attrs.field(factory=dict, hash=False)

    def connect_kwargs(self) -> dict:
        return dict(self.extra)

    def maintenance(self) -> "Target":
        """The same server's ``postgres`` database (to create the store's database)."""
        parts = urlsplit(self.conninfo)
        return attrs.evolve(self, conninfo=urlunsplit(parts._replace(path="/postgres")),
                            dbname="postgres")


def parse_uri(uri: str) -> Target:
    """Check a ``postgresql:`` URI and say where it points. ``BadStoreURI`` if malformed."""
    if not isinstance(uri, str) or not uri.lower().startswith(SCHEME + "://"):
        raise BadStoreURI(f"not a postgresql:// URI: {uri!r}")
    if "\x00" in uri:
        raise BadStoreURI("a store URI cannot contain NUL")
    try:
        parts = urlsplit(uri)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise BadStoreURI(f"malformed postgresql URI ({e}): {uri!r}") from None
    if parts.fragment:
        raise BadStoreURI(f"postgresql URIs take no fragment: {uri!r}")
    dbname = parts.path.lstrip("/")
    if not dbname or "/" in dbname:
        raise BadStoreURI(f"postgresql URI names no database (postgresql://user@host/db): {uri!r}")
    schema = "public"
    libpq = []
    for key, value in query:
        if key == "schema":
            if not _SCHEMA_RE.match(value):
                raise BadStoreURI(f"bad schema name {value!r} (lower-case letters, digits, _)")
            schema = value
        else:
            libpq.append((key, value))
    conninfo = urlunsplit((SCHEME, parts.netloc, parts.path, urlencode(libpq), ""))
    given = {k for k, _ in libpq}
    extra = {k: v for k, v in DEFAULT_PARAMS.items() if k not in given}
    if parts.hostname and parts.hostname.startswith("/"):
        extra = {k: v for k, v in extra.items() if not k.startswith("keepalives")}
    try:
        from psycopg.conninfo import conninfo_to_dict

        conninfo_to_dict(conninfo)
    except ImportError:
        raise BadStoreURI("the postgresql: backend needs psycopg (pip install 'psycopg[binary]')") from None
    except Exception as e:  # psycopg.ProgrammingError: libpq rejected the URI
        raise BadStoreURI(f"malformed postgresql URI: {' '.join(str(e).split())}") from None
    return Target(conninfo, schema, dbname, extra)


@implementer(IStoreBackend)
class PostgreSQLBackend:
    """Makes ``PostgreSQLStore`` objects from ``postgresql://`` URIs."""

    scheme = SCHEME
    description = "shared store for several frontends on one PostgreSQL database (postgresql://user@host/db)"
    #: Several processes may serve one store: they hear of each other's changes through
    #: LISTEN/NOTIFY.
    multiprocess = True

    def open(self, uri, create=True):
        """See ``IStoreBackend.open``: fires with an ``IStore`` or fails with ``BadStoreURI``.

        With ``create`` the database is created if missing (when the role may) and the
        schema is created or migrated to this smsync's version; without it, a database
        lacking the schema, or holding an older one, is ``BadStoreURI``.
        """
        from twisted.internet.defer import fail

        try:
            target = parse_uri(uri)
        except BadStoreURI as e:
            return fail(e)
        from smsync.store.postgresql.store import open_store

        return open_store(uri, target, create)
