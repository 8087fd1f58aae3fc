"""Fixtures: a real IMAP server over ``memory:`` (``server``) or ``sqlite:`` (``sqlite_server``)."""

import pytest
from imap_harness import start_server

from smsync.testing.servers import SQLITE, serving


@pytest.fixture
def server():
    yield from serving(start_server())


@pytest.fixture
def sqlite_server():
    yield from serving(start_server(SQLITE))
