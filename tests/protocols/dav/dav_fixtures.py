"""Fixtures: a real CalDAV/CardDAV server over ``memory:`` (``server``) or ``sqlite:``
(``sqlite_server``). The caldav and carddav test directories use these too."""

import pytest
from dav_harness import start_server

from smsync.testing.servers import SQLITE, serving


@pytest.fixture
def server():
    yield from serving(start_server())


@pytest.fixture
def sqlite_server():
    yield from serving(start_server(SQLITE))
