"""The web interface's handlers, one module per area; importing them registers their
routes (``smsync.web.routes``)."""

from smsync.web.handlers import device_detail, devices, openapi_doc, settings, signin, static

MODULES = (signin, static, devices, device_detail, settings, openapi_doc)
