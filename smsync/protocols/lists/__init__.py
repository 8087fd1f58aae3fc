"""Add to Outlook: the SharePoint Lists web service (MS-LISTSWS) as Outlook's connector
for SharePoint lists uses it (MS-OUTSPS), over the account's calendars, address books
and task lists; and the ``stssync://`` links (MS-STSSYN) that hand a list to Outlook.

The codec (``soap``), the list ids (``ids``), change tokens (``tokens``), the schema
(``schema``), rows (``rows``), CAML queries (``caml``), attachment URLs
(``attachments``) and links (``links``, from ``smsync.formats.stssync``) are pure
functions. ``catalog``
finds an account's lists and turns items into rows through the converters of each list
type (``converters``: ``fields_events``, ``fields_contacts``, ``fields_tasks``).
``state`` keeps, per Outlook, the item IDs and the generation its tokens belong to.
``server`` is the endpoint: log in, decode, run the operation's handler from the
registry (``operations``), encode; ``downloads`` answers the site's GETs (the
owssvr.dll export Outlook 2003 reads, attachment files).
"""

#: The site the links name: the service is ``<site>/_vti_bin/Lists.asmx`` (matched
#: ignoring case, below any list URL of the site too).
LISTS_PATH = "/lists"
SERVICE_PATH = LISTS_PATH + "/_vti_bin/Lists.asmx"


def build_resources(edge):
    """``{path: resource}`` of the Lists service over ``edge`` (``smsync.tap``'s HTTP
    builder signature)."""
    from smsync.protocols.lists.server import ListsEndpoint, ListsResource

    return {LISTS_PATH: ListsResource(ListsEndpoint(edge, LISTS_PATH))}
