"""One login for every protocol: the portal's answer, the policy's, the log lines and
the limiter's hook, over a real store and portal."""

import re
from pathlib import Path

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from smsync.auth import hash_password, make_portal
from smsync.edge.logins import (BadCredentials, ILoginLimiter, LoginRefused, Logins, NoLimit,
                                ProtocolNotAllowed)
from smsync.edge.policy import Policy
from smsync.store.registry import open_store

USER = "alice@example.org"
PASSWORD = "pw"


class RecordingLimiter(NoLimit):
    """Records what the limiter is told; refuses a locked-out user before any check."""

    def __init__(self, locked=()):
        self.calls = []
        self.locked = set(locked)

    async def before(self, protocol, user, host):
        self.calls.append(("before", protocol, user, host))
        if user in self.locked:
            raise LoginRefused("locked out")

    def failed(self, protocol, user, host):
        self.calls.append(("failed", protocol, user, host))

    def succeeded(self, protocol, account, host):
        self.calls.append(("succeeded", protocol, account, host))


class CountingPortal:
    def __init__(self, portal):
        self.portal, self.logins, self.logouts = portal, 0, 0

    def login(self, *args):
        self.logins += 1

        def counted(result):
            interface, avatar, logout = result

            def counting_logout():
                self.logouts += 1
                logout()

            return interface, avatar, counting_logout

        return self.portal.login(*args).addCallback(counted)


@pytest.fixture
def store():
    s = pytest_twisted.blockon(open_store("memory:"))
    pytest_twisted.blockon(s.accounts.add(USER, hash_password(PASSWORD)))
    yield s
    pytest_twisted.blockon(s.close())


def test_no_limit_is_a_limiter():
    assert verifyObject(ILoginLimiter, NoLimit())


@pytest_twisted.ensureDeferred
async def test_right_wrong_and_refused_logins(store, log_capture):
    limiter = RecordingLimiter()
    portal = CountingPortal(make_portal(store))
    logins = Logins(portal, Policy(store), limiter)
    done = await logins.login("pop3", "Alice@Example.org", PASSWORD, "192.0.2.1")
    assert done.account == USER and done.avatar.account == USER
    with pytest.raises(BadCredentials):
        await logins.login("pop3", USER.encode(), b"wrong", "192.0.2.1")
    await store.policy.set("example.org", {"imap"})
    logins.policy.forget()
    with pytest.raises(ProtocolNotAllowed):
        await logins.login("pop3", USER, PASSWORD, "192.0.2.1")
    assert portal.logouts == 1  # the refused login's avatar was logged out
    assert (await logins.login("imap", USER, PASSWORD, "192.0.2.1")).account == USER
    assert log_capture.lines("smsync.client") == [
        f"smsync: pop3: authentication failed for {USER} from 192.0.2.1",
        f"smsync: pop3: protocol not allowed for {USER} from 192.0.2.1",
    ]
    assert [c[0] for c in limiter.calls] == ["before", "succeeded", "before", "failed", "before",
                                             "before", "succeeded"]


@pytest_twisted.ensureDeferred
async def test_the_limiter_can_stop_an_attempt_before_the_password_is_checked(store):
    portal = CountingPortal(make_portal(store))
    logins = Logins(portal, Policy(store), RecordingLimiter(locked={USER}))
    with pytest.raises(LoginRefused):
        await logins.login("imap", USER, PASSWORD, "192.0.2.1")
    assert portal.logins == 0


def test_fail2ban_matches_failed_logins_not_policy_refusals(log_capture):
    from smsync.edge.logins import log_failed_login, log_refused_login

    doc = (Path(__file__).resolve().parents[2] / "docs" / "running.md").read_text("utf-8")
    failregex = re.search(r"^\s*failregex = (.+)$", doc, re.M).group(1)
    pattern = re.compile(failregex.replace("<HOST>", r"(?P<host>[\w.:\[\]-]+)"))
    log_failed_login("submission", "mallory@example.org", "192.0.2.9")
    log_refused_login("submission", "alice@example.org", "192.0.2.8")
    lines = log_capture.lines("smsync.client")
    assert [m.group("host") for m in map(pattern.search, lines) if m] == ["192.0.2.9"]
