"""SyncML (OMA Data Synchronization 1.1 and 1.2): contacts, calendars, tasks and notes.

The codec (``codepages``, ``codec``: XML and WBXML, pure functions over bytes) and the
server built on it: ``server`` is the HTTP endpoint (one POST per message), ``session``
keeps what a session spans and packs answers within the client's MaxMsgSize, ``auth``
checks the SyncHdr Cred (basic and md5), ``commands`` holds one handler per SyncML
command, ``engine`` syncs one database over the shared sync engine, ``databases`` maps
database names to collections and keeps each device's anchors and id maps, ``devinf``
builds the server's DevInf and reads the client's, and ``formats`` converts items.
"""

#: Where the endpoint answers on the shared site: SyncEvolution's and most clients'
#: ``/syncml``, and ``/sync``, which Funambol's clients default to.
PATHS = ("/syncml", "/sync")


def build_resources(edge):
    """``{path: resource}`` of the SyncML endpoint over ``edge`` (``smsync.tap``'s HTTP
    builder signature): one endpoint, so one set of sessions, on every path."""
    from smsync.protocols.syncml.server import SyncMLEndpoint, SyncMLResource

    resource = SyncMLResource(SyncMLEndpoint(edge))
    return {path: resource for path in PATHS}
