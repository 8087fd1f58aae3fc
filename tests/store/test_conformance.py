"""Our own backends against the shared store conformance suite (``smsync.testing``)."""

import pytest

from smsync.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    reopen_supported = False

    @pytest.fixture
    def store_uri(self):
        # Plain "memory:" is a fresh, empty store on every open.
        return "memory:"


class TestSqliteStore(StoreConformance):
    reopen_supported = True

    @pytest.fixture
    def store_uri(self, tmp_path):
        return f"sqlite://{tmp_path / 'store'}"
