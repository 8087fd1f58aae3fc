"""Fixtures: a real IMAP server over ``memory:`` (``server``) or ``sqlite:`` (``sqlite_server``)."""

import pytest
import pytest_twisted
from imap_harness import start_server
from twisted.internet.defer import Deferred


@pytest.fixture
def server():
    running = pytest_twisted.blockon(Deferred.fromCoroutine(start_server()))
    yield running
    pytest_twisted.blockon(Deferred.fromCoroutine(running.stop()))


@pytest.fixture
def sqlite_server(tmp_path):
    running = pytest_twisted.blockon(Deferred.fromCoroutine(start_server(f"sqlite:///{tmp_path}/store")))
    yield running
    pytest_twisted.blockon(Deferred.fromCoroutine(running.stop()))
