"""Fixtures every test directory shares."""

from __future__ import annotations

import pytest
from twisted.logger import formatEvent, globalLogPublisher

# The throw-away PostgreSQL cluster of the run (unless SMSYNC_TEST_PG names a server).
pytest_plugins = ["tests.pg_cluster"]


class LogCapture:
    """The Twisted log events emitted while a test runs."""

    def __init__(self):
        self.events: list[dict] = []

    def lines(self, namespace: str) -> list[str]:
        """The formatted lines of ``namespace``'s events, in order."""
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == namespace]


@pytest.fixture
def log_capture():
    capture = LogCapture()
    globalLogPublisher.addObserver(capture.events.append)
    yield capture
    globalLogPublisher.removeObserver(capture.events.append)
