"""Find store backends by URI scheme through the Twisted plugin system."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from twisted.plugin import getPlugins

from smsync.errors import BadStoreURI
from smsync.interfaces import IStoreBackend


def backends() -> dict:
    """Every installed ``IStoreBackend``, by scheme."""
    import smsync.plugins

    found = {}
    for backend in getPlugins(IStoreBackend, smsync.plugins):
        found.setdefault(backend.scheme, backend)
    return found


def scheme_of(uri: str) -> str:
    scheme, sep, _ = uri.partition(":")
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").isalnum():
        raise BadStoreURI(f"not a store URI (expected scheme:...): {uri!r}")
    return scheme.lower()


def open_store(uri: str, create: bool = True) -> Deferred:
    """Open the store named by ``uri`` with the backend registered for its scheme.

    Fires with an ``IStore``; fails with ``BadStoreURI`` for an unknown scheme.
    """
    try:
        scheme = scheme_of(uri)
        available = backends()
        if scheme not in available:
            known = ", ".join(sorted(available)) or "none"
            raise BadStoreURI(f"no store backend for scheme {scheme!r} (installed: {known})")
    except BadStoreURI as e:
        return fail(e)
    return available[scheme].open(uri, create=create)
