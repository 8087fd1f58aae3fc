"""Drop-in plugin module: makes the ``maildirvdir:`` scheme known to smsync.

smsync finds store backends with ``twisted.plugin.getPlugins(IStoreBackend,
smsync.plugins)``. ``smsync/plugins/__init__.py`` extends its ``__path__`` with
``pluginPackagePaths``, so every ``smsync/plugins/`` directory on ``sys.path`` without
an ``__init__.py`` of its own is searched too -- this one included, once
``examples/maildir_vdir`` is on ``sys.path``. (Do not add ``smsync/__init__.py`` or
``smsync/plugins/__init__.py`` here: that would shadow smsync itself.)

Twisted imports every plugin module just to list what it offers, so this one stays
tiny and imports the backend only when a store is opened.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from smsync.interfaces import IStoreBackend


@implementer(IPlugin, IStoreBackend)
class _MaildirVdirPlugin:
    scheme = "maildirvdir"
    description = "Maildir++ folders and vdir collections in a directory (example backend)"

    def open(self, uri, create=True):
        """Open ``maildirvdir:///path``; see ``smsync_maildir_vdir.backend``."""
        from smsync_maildir_vdir.backend import MaildirVdirBackend

        return MaildirVdirBackend().open(uri, create=create)


maildirvdir = _MaildirVdirPlugin()
