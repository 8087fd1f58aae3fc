"""Fixtures: a real POP3 server over ``memory:`` (``server``) or ``sqlite:`` (``sqlite_server``)."""

import pytest
from pop3_harness import start_server

from smsync.testing.servers import SQLITE, serving


@pytest.fixture
def server():
    yield from serving(start_server())


@pytest.fixture
def sqlite_server():
    yield from serving(start_server(SQLITE))
