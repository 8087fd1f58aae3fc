"""What the SQLite and PostgreSQL stores share: the SQL logic written once.

Each module here holds the logic both SQL backends run, written against a ``Dialect``
(``dialect.py``) that says what differs between the two databases. A backend subclasses
the shared classes, names its dialect, and overrides only what is really different
(and says why there). The backends still run every statement through their own
``db.py`` runners: ``read(fn, *args)`` calls ``fn(conn, *args)`` and ``write(fn, *args)``
calls ``fn(conn, ctx, *args)``, with a DB-API connection that has ``execute``.

Modules: ``dialect``, ``handles`` (the bases of the per-account and per-folder or
collection handles), ``accounts``, ``devices``, ``mail``/``mailbox``
(``IMailStore``/``IMailbox``), ``collections`` (``ICollectionStore``/``ICollection``),
``rows``, ``store`` and ``timerange``.
"""
