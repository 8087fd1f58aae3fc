"""Twisted plugin: the ``memory:`` store backend.

Kept tiny and lazy, as Twisted plugin modules should be: ``getPlugins`` imports every
module here just to list backends, so the store itself is imported on first ``open``.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from smsync.interfaces import IStoreBackend


@implementer(IPlugin, IStoreBackend)
class _MemoryBackendPlugin:
    scheme = "memory"
    description = "In-process memory store for tests; memory:NAME is shared by name while open"

    def open(self, uri, create=True):
        """Open a ``memory:`` or ``memory:NAME`` store; see ``smsync.store.memory.backend``."""
        from smsync.store.memory.backend import MemoryBackend

        return MemoryBackend().open(uri, create=create)


memory_backend = _MemoryBackendPlugin()
