"""The ``memory:`` store: the reference implementation of every store interface.

Everything is held in dicts in this process; nothing survives it. Protocol tests use it
(``memory:NAME`` shares one store between a server and its test; see
``smsync.store.memory.backend``). Modules, by concern:

* ``backend``: ``IStoreBackend`` (URI parsing, named stores) and ``IStore``.
* ``accounts``: ``IAccountStore`` and the per-account state.
* ``mail`` over ``folder``: ``IMailStore``/``IMailbox`` and one folder's indexes.
* ``collections`` over ``items`` and ``timeindex``: ``ICollectionStore``/``ICollection``,
  one collection's indexes, and the calendar time-range index.
* ``devices``: ``IDeviceRegistry``.
"""

from smsync.store.memory.backend import MemoryBackend, MemoryStore, parse_uri

__all__ = ["MemoryBackend", "MemoryStore", "parse_uri"]
