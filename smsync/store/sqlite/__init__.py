"""The embedded default store backend, ``sqlite:``: metadata in SQLite, bodies as files.

Modules: ``backend`` (URI parsing, ``IStoreBackend``), ``store`` (opening a directory,
``IStore``), ``db`` (the database: ``writer`` -- writer thread, group commit, append
pipeline -- and ``reader`` -- reader pool, other processes' events -- over
``connection``), ``schema`` (tables and migrations), ``bodies`` (body files), ``reads``
(body reads), ``listing`` (cached folder listings), ``rows`` (row <-> value types),
``mail``/``mailbox`` (``IMailStore``/``IMailbox``), ``collections`` and ``timerange``
(``ICollectionStore``/``ICollection``), ``accounts``, ``devices`` (``IDeviceRegistry``)
and ``watch`` (change notification across processes, woken by ``doorbell``). Most of the SQL logic is shared
with the PostgreSQL store in ``smsync.store.sql``; the modules here hold what differs.
"""
