"""Fixtures: a real CalDAV/CardDAV server over ``memory:`` (``server``) or ``sqlite:``
(``sqlite_server``). The caldav and carddav test directories use these too."""

from dav_harness import start_server

from smsync.testing.servers import store_fixtures

server, sqlite_server = store_fixtures(start_server)
