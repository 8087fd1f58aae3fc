"""smsync.auth: password hashes, the store checker, the realm and the portal, over the
real ``memory:`` store."""

import threading
import time

import pytest
import pytest_twisted
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.threads import deferToThread
from twisted.python.components import registerAdapter
from zope.interface import Interface, implementer

from smsync import auth
from smsync.auth import (AccountAvatar, SmsyncRealm, StoreChecker, hash_password, make_portal,
                         register_avatar_factory, verify_password)
from smsync.interfaces import IAccountAvatar
from smsync.store.registry import open_store


def test_hash_is_argon2id_and_salted():
    first, second = hash_password("secret"), hash_password("secret")
    assert first.startswith("$argon2id$")
    assert first != second
    assert verify_password(first, "secret") and verify_password(second, "secret")
    assert not verify_password(first, "wrong") and not verify_password(first, "Secret")


@pytest.mark.parametrize("stored, given", [
    (None, "x"), ("", "x"), ("!", "x"), ("$argon2id$garbage", "x"), ("plain", "plain"),
])
def test_verify_never_raises_on_bad_hashes(stored, given):
    assert verify_password(stored, given) is False


@pytest.fixture(scope="module")
def store():
    s = pytest_twisted.blockon(open_store("memory:"))
    pytest_twisted.blockon(s.accounts.add("alice@example.org", hash_password("wonderland")))
    yield s
    pytest_twisted.blockon(s.close())


def _login(checker, user, password):
    return checker.requestAvatarId(UsernamePassword(user, password))


@pytest_twisted.ensureDeferred
async def test_checker_accepts_and_normalises(store):
    checker = StoreChecker(store)
    assert await _login(checker, b"Alice@Example.ORG", b"wonderland") == "alice@example.org"
    assert await _login(checker, " alice@example.org ", "wonderland") == "alice@example.org"


@pytest.mark.parametrize("user, password", [
    (b"alice@example.org", b"Wonderland"),   # wrong password
    (b"bob@example.org", b"wonderland"),     # unknown user
    (b"not an address", b"wonderland"),      # malformed name
    (b"alice@example.org", b"\xff\xfe"),     # undecodable password
    (b"\xff@example.org", b"wonderland"),    # undecodable name
    (b"alice@example.org", b""),
])
@pytest_twisted.ensureDeferred
async def test_checker_refuses_with_one_error(store, user, password):
    with pytest.raises(UnauthorizedLogin) as info:
        await _login(StoreChecker(store), user, password)
    assert str(info.value) == "invalid user name or password"


@pytest_twisted.ensureDeferred
async def test_checker_verifies_off_the_reactor_thread(store, monkeypatch):
    threads = []
    real = auth._check

    def spy(stored, password):
        threads.append(threading.current_thread())
        return real(stored, password)

    monkeypatch.setattr(auth, "_check", spy)
    await _login(StoreChecker(store), b"alice@example.org", b"wonderland")
    with pytest.raises(UnauthorizedLogin):
        await _login(StoreChecker(store), b"nobody@example.org", b"x")
    assert len(threads) == 2
    assert all(t is not threading.main_thread() for t in threads)


@pytest_twisted.ensureDeferred
async def test_unknown_user_costs_as_much_as_a_wrong_password(store):
    checker = StoreChecker(store)
    await deferToThread(auth._dummy_hash)  # the one-off cost is not what is measured

    async def timed(user):
        start = time.perf_counter()
        with pytest.raises(UnauthorizedLogin):
            await _login(checker, user, b"nope")
        return time.perf_counter() - start

    wrong = min([await timed(b"alice@example.org") for _ in range(3)])
    unknown = min([await timed(b"nobody@example.org") for _ in range(3)])
    # Both run one argon2 verification (~0.1 s); without the dummy hash "unknown"
    # would answer in microseconds.
    assert unknown > wrong * 0.5


@pytest_twisted.ensureDeferred
async def test_password_change_takes_effect(store):
    checker = StoreChecker(store)
    await store.accounts.add("carol@example.org", hash_password("old"))
    await store.accounts.set_password_hash("carol@example.org", hash_password("new"))
    assert await _login(checker, b"carol@example.org", b"new") == "carol@example.org"
    with pytest.raises(UnauthorizedLogin):
        await _login(checker, b"carol@example.org", b"old")


@pytest_twisted.ensureDeferred
async def test_portal_login_gives_account_avatar(store):
    portal = make_portal(store)
    iface, avatar, logout = await portal.login(
        UsernamePassword(b"ALICE@example.org", b"wonderland"), None, IAccountAvatar)
    assert iface is IAccountAvatar
    assert isinstance(avatar, AccountAvatar)
    assert IAccountAvatar.providedBy(avatar)
    assert avatar.account == "alice@example.org" and avatar.store is store
    mail = await avatar.mail()
    assert "INBOX" in [m.name for m in await mail.list_mailboxes()]
    logout()


class IThing(Interface):
    pass


class IOther(Interface):
    pass


@implementer(IThing)
class Thing:
    def __init__(self, avatar):
        self.avatar = avatar
        self.logged_out = False

    def logout(self):
        self.logged_out = True


def test_realm_uses_per_realm_factories(store):
    realm = SmsyncRealm(store, {IThing: Thing})
    iface, thing, logout = realm.requestAvatar("alice@example.org", None, IThing)
    assert iface is IThing and isinstance(thing, Thing)
    assert thing.avatar.account == "alice@example.org"
    logout()
    assert thing.logged_out


def test_realm_uses_registered_factories(store, monkeypatch):
    monkeypatch.setattr(auth, "AVATAR_FACTORIES", {})
    register_avatar_factory(IThing, Thing)
    iface, thing, _ = SmsyncRealm(store).requestAvatar("alice@example.org", None, IOther, IThing)
    assert iface is IThing and isinstance(thing, Thing)


def test_realm_uses_zope_adapters(store):
    @implementer(IOther)
    class Other:
        def __init__(self, avatar):
            self.avatar = avatar

    registerAdapter(Other, AccountAvatar, IOther)
    iface, other, _ = SmsyncRealm(store).requestAvatar("alice@example.org", None, IOther)
    assert iface is IOther and other.avatar.account == "alice@example.org"


def test_realm_refuses_unknown_interfaces(store):
    class INothing(Interface):
        pass

    with pytest.raises(NotImplementedError):
        SmsyncRealm(store).requestAvatar("alice@example.org", None, INothing)
