"""The ``postgresql:`` store backend: several frontends (processes, machines) on one
PostgreSQL database.

Modules: ``backend`` (URI parsing, ``IStoreBackend``), ``store`` (opening, ``IStore``),
``db`` (connections, the writer thread with group commit, read pool, error mapping),
``schema`` (tables and versioned migrations), ``listen`` (LISTEN/NOTIFY change feed with
reconnect and RESYNC), ``mail``/``mailbox`` (``IMailStore``/``IMailbox``),
``collections`` and ``timerange`` (``ICollectionStore``/``ICollection``), ``accounts``,
``devices`` (``IDeviceRegistry``) and ``rows`` (row <-> value type helpers). Most of the
SQL logic is shared with the SQLite store in ``smsync.store.sql``; the modules here hold
what differs.

See docs/postgresql.md for running several frontends on one database.
"""
