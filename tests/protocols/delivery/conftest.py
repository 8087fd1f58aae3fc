"""Fixtures: LMTP + SMTP (+ POP3) listeners over ``memory:`` (``mx``) or ``sqlite:`` (``sqlite_mx``)."""

import pytest
from delivery_harness import start

from smsync.testing.servers import SQLITE, serving


@pytest.fixture
def mx():
    yield from serving(start(pop3=True))


@pytest.fixture
def sqlite_mx():
    yield from serving(start(SQLITE, pop3=True))
