"""Twisted's plugin caches (``dropin.cache``), brought up to date after an install.

Twisted keeps a cache of the plugins in each plugin directory and rewrites it whenever a
plugin file is newer than it -- if it can. When smsync is installed by root and run by a
service user, the cache in the installed ``twisted/plugins`` (and ``smsync/plugins``)
cannot be rewritten at run time, and every start then scans and complains. ``smsync
init`` and ``make venv``, run by whoever installed smsync, call ``refresh`` so the caches
are current from the start.
"""

from __future__ import annotations


def refresh() -> None:
    """Load every twistd and store-backend plugin, rewriting stale caches where the
    directory is writable. Never raises for an unwritable directory."""
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    import smsync.plugins
    from smsync.interfaces import IStoreBackend

    list(getPlugins(IServiceMaker))
    list(getPlugins(IStoreBackend, smsync.plugins))
