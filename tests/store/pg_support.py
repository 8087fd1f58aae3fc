"""What the PostgreSQL tests share: finding the server and a throw-away database.

The server is ``SMSYNC_TEST_PG`` (a libpq URI of a role that may create databases): the
one the user names, or else the throw-away cluster the test run starts
(``tests/pg_cluster.py``). Without a reachable server the tests are skipped with the
reason -- except under ``CI=true``, where that is a failure: CI must not go green by
testing nothing.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URI = os.environ.get("SMSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _unavailable() -> str | None:
    """Why PostgreSQL cannot be used for the tests, or None if it can."""
    if not os.environ.get("SMSYNC_TEST_PG") and os.environ.get("SMSYNC_TEST_PG_UNAVAILABLE"):
        return os.environ["SMSYNC_TEST_PG_UNAVAILABLE"]
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    try:
        psycopg.connect(ADMIN_URI, connect_timeout=5).close()
    except psycopg.Error as e:
        return f"PostgreSQL at {ADMIN_URI} is unreachable: {' '.join(str(e).split())}"
    return None


def require_postgresql() -> None:
    """Skip (fail under CI=true) when PostgreSQL is not there."""
    reason = _unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def admin_sql(sql: str, params=()) -> list:
    """Run one statement on the admin database (autocommit); its rows, if any."""
    import psycopg

    with psycopg.connect(ADMIN_URI, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def database_uri(name: str) -> str:
    parts = urlsplit(ADMIN_URI)
    return urlunsplit(("postgresql", parts.netloc, "/" + name, parts.query, ""))


@pytest.fixture(scope="module")
def pg_database():
    """A fresh database (random name) for one test module, dropped after it. Yields its
    ``postgresql://`` URI."""
    require_postgresql()
    name = "smsync_test_" + uuid.uuid4().hex[:12]
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield database_uri(name)
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_schema_uri(database: str) -> str:
    """A store URI in ``database`` naming a schema no test has used."""
    return f"{database}?schema=s_{uuid.uuid4().hex[:16]}"
