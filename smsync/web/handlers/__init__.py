"""The web interface's handlers, one module per area; importing them registers their
routes (``smsync.web.routes``)."""

from smsync.web.handlers import (
    admin_accounts,
    admin_devices,
    admin_policy,
    admin_status,
    collections,
    device_detail,
    devices,
    openapi_doc,
    settings,
    signin,
    static,
)

MODULES = (signin, static, devices, device_detail, collections, settings, admin_accounts, admin_policy,
           admin_devices, admin_status, openapi_doc)
