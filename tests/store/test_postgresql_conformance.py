"""The ``postgresql:`` backend against the whole store conformance suite.

One database per module (``pg_support.pg_database``) holding one store schema; before
each test every table of that schema is emptied, so each test opens a fresh, empty
store (creating a schema per test costs ten times more in DDL).
"""

import pytest
from pg_support import fresh_schema_uri, pg_database  # noqa: F401

from smsync.store.postgresql.backend import parse_uri
from smsync.testing import StoreConformance


@pytest.fixture(scope="module")
def conformance_schema(pg_database):  # noqa: F811 - the fixture imported above
    """The module's store URI and an admin connection to empty it between tests."""
    import psycopg

    uri = fresh_schema_uri(pg_database)
    target = parse_uri(uri)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        yield uri, target.schema, conn


class TestPostgreSQLStore(StoreConformance):
    reopen_supported = True

    @pytest.fixture
    def store_uri(self, conformance_schema):
        uri, schema, conn = conformance_schema
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_name NOT IN ('schema_version', 'meta')",
                (schema,),
            )
        ]
        # Plain DELETEs: the tables hold a few rows, and TRUNCATE would rewrite files.
        for table in tables:
            conn.execute(f'DELETE FROM "{schema}"."{table}"')
        return uri
