"""The web interface's handlers, one module per area; importing them registers their
routes (``smsync.web.routes``)."""

from smsync.web.handlers import devices, openapi_doc, settings, signin, static

MODULES = (signin, static, devices, settings, openapi_doc)
