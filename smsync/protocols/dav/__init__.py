"""The WebDAV core (RFC 4918, 3744 subset, 4331, 5397, 5689, 6578, 6764) on twisted.web
and lxml. It imports nothing of CalDAV or CardDAV: those are ``Extension`` objects
(homes, properties, reports, methods) installed into a ``DavApp``.

Embedding::

    app = DavApp(store, make_portal(store))
    app.install(caldav.EXTENSION)
    root.putChild(b"dav", app.resource)
"""

from smsync.protocols.dav.registry import (ChangeSet, Extension, HomeSpec, ItemHooks, Method, Property,
                                           Report)
from smsync.protocols.dav.server import MAX_XML_BODY, DavApp, DavResource, WellKnown, app_for, site_resources

__all__ = ["MAX_XML_BODY", "ChangeSet", "DavApp", "DavResource", "Extension", "HomeSpec", "ItemHooks",
           "Method", "Property", "Report", "WellKnown", "app_for", "site_resources"]
