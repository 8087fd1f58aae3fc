"""Exchange ActiveSync (MS-AS*): phones' mail, calendar, contacts, tasks and notes.

Not served yet: only its first stones are laid, as pure codecs -- WBXML (``wbxml``) with
the MS-ASWBXML code pages (``codepages``), the MS-ASHTTP request line (``request``) and
mobile Autodiscover (``autodiscover``); the HTTP endpoint and the commands come later
(issue 12), so the protocol is not registered in ``smsync.tap.registry``.
"""
