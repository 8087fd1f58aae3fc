"""Registers the ``postgresql:`` store backend with the plugin system (scheme "postgresql").

Tiny and lazy: ``getPlugins`` imports every module here just to list backends, so the
driver (psycopg) and the store are imported on first ``open``.
"""

from twisted.plugin import IPlugin
from zope.interface import alsoProvides

from smsync.store.postgresql.backend import PostgreSQLBackend

postgresql_backend = PostgreSQLBackend()
alsoProvides(postgresql_backend, IPlugin)
