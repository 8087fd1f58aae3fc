"""The web interface and JSON API (issue 17): Synchronized Devices, account settings and
administration, as server-rendered pages under ``/web/`` and JSON under ``/api/v1/``
(described by ``/api/v1/openapi.json``), on the shared HTTP site of ``smsync serve`` or
alone (``twistd -n smsync-web``).

``app`` is the one resource (routing, who is asking, CSRF, refusals); ``routes`` the
registry every handler module of ``handlers`` registers into (one handler per page or
call); ``sessions`` the sign-in cookie; ``render`` the answers (Jinja2 templates,
autoescaped, and the security headers); ``openapi`` the document. What the pages and
the CLI both do lives in ``smsync.admin``, not here.
"""

PATHS = ("/web", "/api/v1")


def build_resources(edge):
    """``{path: resource}`` of the web interface over ``edge`` (``smsync.tap``'s HTTP
    builder signature)."""
    from smsync.web.app import WebApp, WebResource

    resource = WebResource(WebApp(edge))
    return {path: resource for path in PATHS}
