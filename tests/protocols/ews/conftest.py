"""The EWS tests' server: EWS over a fresh SQLite store, stopped after the test."""

import pytest

from tests.protocols.ews.ews_support import start, stop


@pytest.fixture
def server():
    running = start()
    yield running
    stop(running)
