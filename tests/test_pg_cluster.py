"""``make test`` brings its own PostgreSQL (issue 11, item 7)."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests import pg_cluster
from tests.store.pg_support import ADMIN_URI, require_postgresql


def test_the_run_uses_its_own_cluster_unless_told_otherwise():
    require_postgresql()
    cluster = pg_cluster._cluster
    if cluster is None:
        # The user named a server: it is the one used.
        assert os.environ.get("SMSYNC_TEST_PG") == ADMIN_URI
        pytest.skip(f"SMSYNC_TEST_PG names a server: {ADMIN_URI}")
    assert ADMIN_URI == cluster.uri == os.environ["SMSYNC_TEST_PG"]
    with psycopg.connect(ADMIN_URI) as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]
    assert data == cluster.data and os.path.basename(cluster.root).startswith("smsync-test-pg-")


def test_a_cluster_starts_on_a_free_port_and_leaves_nothing_behind():
    bin_dir = pg_cluster._bin_dir()
    if bin_dir is None:
        require_postgresql()
        pytest.skip("no PostgreSQL binaries; the run uses SMSYNC_TEST_PG")
    cluster = pg_cluster.Cluster(bin_dir)
    try:
        cluster.start()
        with psycopg.connect(cluster.uri) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
    assert not os.path.exists(cluster.root)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.uri, connect_timeout=2)
