"""Fixtures: LMTP + SMTP (+ POP3) listeners over ``memory:`` (``mx``) or ``sqlite:`` (``sqlite_mx``)."""

import functools

from delivery_harness import start

from smsync.testing.servers import store_fixtures

mx, sqlite_mx = store_fixtures(functools.partial(start, pop3=True), names=("mx", "sqlite_mx"))
