"""Exchange ActiveSync (MS-AS*): phones' mail, calendar, contacts, tasks and notes.

Not served yet: only its first stone is laid, the WBXML codec (``wbxml``) and the
MS-ASWBXML code pages (``codepages``); the HTTP endpoint and the commands come later
(issue 12), so the protocol is not registered in ``smsync.tap.registry``.
"""
