"""Fixtures: LMTP + SMTP (+ POP3) listeners over ``memory:`` (``mx``) or ``sqlite:`` (``sqlite_mx``)."""

import pytest
import pytest_twisted
from delivery_harness import start
from twisted.internet.defer import Deferred


@pytest.fixture
def mx():
    running = pytest_twisted.blockon(Deferred.fromCoroutine(start(pop3=True)))
    yield running
    pytest_twisted.blockon(Deferred.fromCoroutine(running.stop()))


@pytest.fixture
def sqlite_mx(tmp_path):
    running = pytest_twisted.blockon(
        Deferred.fromCoroutine(start(f"sqlite:///{tmp_path}/store", pop3=True)))
    yield running
    pytest_twisted.blockon(Deferred.fromCoroutine(running.stop()))
