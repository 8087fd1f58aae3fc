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


# -- issue 11, item 2: hashing that is not the bottleneck or the attack ------------------


def test_hashes_use_the_stated_parameters():
    stored = hash_password("x")
    assert f"$m={auth.MEMORY_COST_KIB},t={auth.TIME_COST},p={auth.PARALLELISM}$" in stored
    assert auth.MEMORY_COST_KIB == 19456 and auth.TIME_COST == 2  # OWASP's first choice


@pytest_twisted.ensureDeferred
async def test_an_old_hash_is_redone_at_the_next_good_login(store):
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("rabbit")
    await store.accounts.add("dora@example.org", old)
    assert await _login(StoreChecker(store), b"dora@example.org", b"rabbit") == "dora@example.org"
    new = await store.accounts.password_hash("dora@example.org")
    assert new != old and not auth.needs_rehash(new) and verify_password(new, "rabbit")
    assert await _login(StoreChecker(store), b"dora@example.org", b"rabbit") == "dora@example.org"


@pytest_twisted.ensureDeferred
async def test_verified_credentials_are_not_hashed_again(store, monkeypatch):
    checks = []
    real = auth._check
    monkeypatch.setattr(auth, "_check", lambda stored, pw: checks.append(pw) or real(stored, pw))
    checker = StoreChecker(store)
    await store.accounts.add("erin@example.org", hash_password("one"))
    for _ in range(3):
        assert await _login(checker, b"erin@example.org", b"one") == "erin@example.org"
    assert checks == ["one"]
    # A wrong password is always checked (and refused), never answered from the cache.
    for _ in range(2):
        with pytest.raises(UnauthorizedLogin):
            await _login(checker, b"erin@example.org", b"two")
    assert checks == ["one", "two", "two"]
    # A changed password makes the remembered one useless at once.
    await store.accounts.set_password_hash("erin@example.org", hash_password("two"))
    with pytest.raises(UnauthorizedLogin):
        await _login(checker, b"erin@example.org", b"one")
    assert await _login(checker, b"erin@example.org", b"two") == "erin@example.org"


def test_verified_cache_expires_and_is_bounded():
    now = [0.0]
    cache = auth.VerifiedCache(ttl=10, max_entries=2, clock=lambda: now[0])
    cache.add("a@x", "h", "p")
    assert ("a@x", "h", "p") in cache and ("a@x", "h", "q") not in cache
    assert ("a@x", "h2", "p") not in cache
    now[0] = 11
    assert ("a@x", "h", "p") not in cache
    for name in ("b@x", "c@x", "d@x"):
        cache.add(name, "h", "p")
    assert ("b@x", "h", "p") not in cache and ("d@x", "h", "p") in cache


@pytest_twisted.ensureDeferred
async def test_checks_run_in_a_bounded_pool_and_overflow_is_refused_at_once():
    pool = auth.CheckPool(threads=1, max_waiting=2)
    gate = threading.Event()
    running = []

    def slow():
        running.append(threading.current_thread())
        gate.wait(10)
        return "done"

    from twisted.internet.defer import ensureDeferred

    held = [ensureDeferred(pool.run(slow)) for _ in range(3)]
    start = time.perf_counter()
    with pytest.raises(auth.LoginBusy):
        await pool.run(slow)
    assert time.perf_counter() - start < 0.5
    assert issubclass(auth.LoginBusy, UnauthorizedLogin)
    gate.set()
    for d in held:
        assert await d == "done"
    assert pool.pending == 0
    assert len(set(running)) == 1  # one thread did all three


@pytest_twisted.ensureDeferred
async def test_parallel_wrong_logins_never_hash_more_than_checkers_at_once(store, monkeypatch):
    active, peak = [0], [0]
    lock = threading.Lock()
    real = auth._check

    def counting(stored, password):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real(stored, password)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(auth, "_check", counting)
    checker = StoreChecker(store, auth.CheckPool(threads=2, max_waiting=100))
    from twisted.internet.defer import DeferredList

    results = await DeferredList([_login(checker, b"alice@example.org", f"guess{i}".encode())
                                  for i in range(20)], consumeErrors=True)
    assert all(not ok for ok, _ in results)
    assert peak[0] <= 2
