"""Opening ``postgresql:`` stores: URIs, database creation, versioned re-runnable
migrations, ``smsync init --store postgresql://...``, and recovery of the writer and
reader connections after the server dropped them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import pytest_twisted
from pg_support import admin_sql, database_uri, fresh_schema_uri, pg_database, require_postgresql  # noqa: F401

from smsync.errors import BadStoreURI
from smsync.store.postgresql.backend import parse_uri
from smsync.store.postgresql.schema import SCHEMA_VERSION
from smsync.store.registry import backends, open_store
from smsync.testing import samples

SMSYNC = str(Path(sys.executable).with_name("smsync"))


def test_plugin_registers_the_scheme():
    assert "postgresql" in backends()


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://",
        "postgresql://host",
        "postgresql://host/",
        "postgresql://host/db/extra",
        "postgresql://host:notaport/db",
        "postgresql://host/db#frag",
        "postgresql://host/db?schema=Bad-Name",
        "postgresql://host/db?schema=",
        "postgres://host/db",
        "sqlite:///tmp/x",
    ],
)
def test_malformed_uris_are_bad_store_uris(uri):
    with pytest.raises(BadStoreURI):
        parse_uri(uri)


def test_uri_parts_and_libpq_parameters():
    target = parse_uri("postgresql://u:pw@db.example:6432/mail?schema=tenant_1&sslmode=require")
    assert (target.schema, target.dbname) == ("tenant_1", "mail")
    assert "schema" not in target.conninfo and "sslmode=require" in target.conninfo
    assert target.extra["application_name"] == "smsync"
    assert parse_uri("postgresql://h/db").schema == "public"


@pytest_twisted.ensureDeferred
async def test_unreachable_server_is_bad_store_uri():
    with pytest.raises(BadStoreURI, match="cannot connect"):
        await open_store("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")


@pytest_twisted.ensureDeferred
async def test_migrations_are_versioned_and_rerunnable(pg_database):
    uri = fresh_schema_uri(pg_database)
    with pytest.raises(BadStoreURI, match="smsync init"):
        await open_store(uri, create=False)
    first = await open_store(uri, create=True)
    await first.accounts.add("a@example.com", "h")
    # A second frontend starting while the first runs, then a plain re-open.
    second = await open_store(uri, create=True)
    await second.close()
    await first.close()
    again = await open_store(uri, create=False)
    assert await again.accounts.list() == ["a@example.com"]
    await again.close()
    schema = parse_uri(uri).schema
    import psycopg

    with psycopg.connect(parse_uri(uri).conninfo) as conn:
        rows = conn.execute(f'SELECT version FROM "{schema}".schema_version').fetchall()
        assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        conn.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (%s)', (SCHEMA_VERSION + 1,))
    with pytest.raises(BadStoreURI, match="newer"):
        await open_store(uri, create=True)


@pytest_twisted.ensureDeferred
async def test_create_makes_the_database():
    require_postgresql()
    name = "smsync_test_new_" + uuid.uuid4().hex[:10]
    try:
        store = await open_store(database_uri(name), create=True)
        await store.accounts.add("a@example.com", "h")
        await store.close()
        assert admin_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == [(1,)]
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_smsync_init_creates_and_rerun_keeps_the_schema(pg_database, tmp_path):
    uri = fresh_schema_uri(pg_database)
    for data in ("one", "two"):
        result = subprocess.run(
            [SMSYNC, "init", "--data", str(tmp_path / data), "--store", uri],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [SMSYNC, "user", "add", "bob@example.com", "--password", "pw", "--data", str(tmp_path / "one")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr


@pytest_twisted.ensureDeferred
async def test_writes_and_reads_survive_killed_connections(pg_database):
    """The server drops every connection of the store (a restart, a failover): the next
    read and write reconnect instead of failing or hanging."""
    store = await open_store(fresh_schema_uri(pg_database))
    try:
        await store.accounts.add("a@example.com", "h")
        inbox = await (await store.mail("a@example.com")).mailbox("INBOX")
        first = await inbox.append(samples.message("before"))
        killed = admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'smsync'",
            (pg_database.rsplit("/", 1)[1],),
        )
        assert len(killed) >= 2  # the writer, a reader, the change feed
        second = await inbox.append(samples.message("after"))
        assert second.uid == first.uid + 1
        assert [m.uid for m in await inbox.messages()] == [first.uid, second.uid]
        assert await inbox.read_body(second.uid) == samples.message("after")
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_writer_commits_durably_where_the_database_says_otherwise():
    """A database configured with synchronous_commit = off: the writer's session (and the
    one it reconnects with) still waits for the WAL flush before an append is answered."""
    require_postgresql()
    name = "smsync_test_" + uuid.uuid4().hex[:12]
    admin_sql(f'CREATE DATABASE "{name}"')
    admin_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    store = await open_store(database_uri(name), create=True)
    try:
        db = store.db
        await store.accounts.add("a@example.com", "x")
        inbox = await (await store.mail("a@example.com")).mailbox("INBOX")
        await inbox.append(samples.message("one"))
        assert db._writer_conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'smsync'",
            (name,),
        )
        await inbox.append(samples.message("two"))
        assert db._writer_conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        # The premise: any other session of that database does not wait.
        import psycopg

        with psycopg.connect(database_uri(name)) as other:
            assert other.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    finally:
        await store.close()
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
