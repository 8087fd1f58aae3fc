"""Exchange ActiveSync (MS-AS*): phones' mail, calendar, contacts, tasks and notes.

Not served by default yet: the codecs -- WBXML (``wbxml``) with the MS-ASWBXML code
pages (``codepages``), the MS-ASHTTP request line (``request``), mobile Autodiscover
(``autodiscover``) -- and the endpoint (``server``) with its first commands (Provision,
FolderSync and FolderCreate/Update/Delete, Sync of mail folders with the Email converter
``email``, Ping, MoveItems, and SendMail/SmartReply/SmartForward over ``outgoing``:
``commands``) exist; the other data kinds and the remaining commands come next (issue
12), so the protocol is not registered in ``smsync.tap.registry``. ``build_resources`` is what it
will register, and what tests and embedders mount today.
"""


def build_resources(edge):
    """``{path: resource}`` of the EAS endpoint over ``edge`` (``smsync.tap``'s HTTP
    builder signature)."""
    from smsync.protocols.eas.server import EASEndpoint, EASResource

    return {"/Microsoft-Server-ActiveSync": EASResource(EASEndpoint(edge))}
