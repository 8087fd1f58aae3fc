"""Fixtures: a real POP3 server over ``memory:`` (``server``) or ``sqlite:`` (``sqlite_server``)."""

from pop3_harness import start_server

from smsync.testing.servers import store_fixtures

server, sqlite_server = store_fixtures(start_server)
