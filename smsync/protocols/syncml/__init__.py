"""SyncML (OMA Data Synchronization 1.1 and 1.2): contacts, calendars, tasks and notes.

So far the codec: the SyncML, MetInf and DevInf code pages (``codepages``) and the
message codec (``codec``), XML and WBXML, pure functions over bytes. The session and
sync layers of issue 15 build on them.
"""
