"""Registers the ``sqlite:`` store backend with the plugin system (scheme "sqlite")."""

from twisted.plugin import IPlugin
from zope.interface import alsoProvides

from smsync.store.sqlite.backend import SQLiteBackend

sqlite_backend = SQLiteBackend()
alsoProvides(sqlite_backend, IPlugin)
