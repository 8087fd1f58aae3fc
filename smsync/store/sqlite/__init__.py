"""The embedded default store backend, ``sqlite:``: metadata in SQLite, bodies as files.

Modules: ``backend`` (URI parsing, ``IStoreBackend``), ``store`` (opening a directory,
``IStore``), ``db`` (connections, writer thread, group commit), ``schema`` (tables and
migrations), ``bodies`` (body files), ``mail``/``mailbox`` (``IMailStore``/``IMailbox``),
``collections`` and ``timerange`` (``ICollectionStore``/``ICollection``), ``accounts``,
``devices`` (``IDeviceRegistry``) and ``watch`` (change notification across processes).
"""
