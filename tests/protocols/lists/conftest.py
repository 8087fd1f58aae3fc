"""The Add to Outlook tests' server: the Lists service over a fresh SQLite store."""

import pytest

from tests.protocols.lists.lists_support import start, stop


@pytest.fixture
def server():
    running = start()
    yield running
    stop(running)
