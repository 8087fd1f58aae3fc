"""Fixtures of the CLI tests."""

import pytest

from .helpers import ok


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A directory with an initialised ./smsync-data and the account alice@example.org."""
    root = tmp_path_factory.mktemp("site")
    ok("init", cwd=root)
    ok("user", "add", "alice@example.org", "--password", "wonderland", cwd=root)
    return root
