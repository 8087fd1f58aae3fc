"""Fixtures: a real IMAP server over ``memory:`` (``server``) or ``sqlite:`` (``sqlite_server``)."""

from imap_harness import start_server

from smsync.testing.servers import store_fixtures

server, sqlite_server = store_fixtures(start_server)
