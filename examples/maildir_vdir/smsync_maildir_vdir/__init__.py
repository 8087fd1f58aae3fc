"""A third-party smsync store backend: Maildir++ for mail, vdir for collections.

``maildirvdir:///srv/mail`` keeps every account under ``/srv/mail/ACCOUNT/`` as files
other programs can read: a Maildir++ tree (mutt, notmuch, dovecot) and a vdir (khal,
todoman, vdirsyncer). A small JSON state file per folder and per collection holds what
those formats cannot: UIDs, UIDVALIDITY, MODSEQ and revisions, and tombstones.

It is written as documentation by example (see ``docs/backends.md``): simple, correct
and slow -- every operation reads and rewrites whole state files under one lock.

Modules: ``backend`` (IStoreBackend, IStore, IAccountStore), ``mail`` and ``folders``
(IMailStore, IMailbox), ``vdir`` (ICollectionStore, ICollection), ``devices``
(IDeviceRegistry), ``worker`` (blocking work off the reactor thread), ``files``.
The plugin module smsync finds is ``smsync/plugins/maildir_vdir_backend.py`` next to
this package.
"""
