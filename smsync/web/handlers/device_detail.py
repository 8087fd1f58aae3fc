"""One device of the Synchronized Devices list: its page (facts, what it syncs, its
log), rename, delete (after a confirmation page saying what it does), and remote wipe
for EAS devices -- as pages and as API calls, over ``smsync.admin.devices`` (the CLI's
code too).

A device id is looked up in the signed-in account only (``devices.device_of``): another
account's device is "not found", whatever the URL says. Forms post and redirect back
(post/redirect/get) with a notice chosen from ``NOTICES`` by key, so nothing a URL
carries is shown as a message.
"""

from __future__ import annotations

from urllib.parse import quote

from smsync.admin import devices
from smsync.edge.web import Response
from smsync.errors import InvalidData
from smsync.web import render
from smsync.errors import NotFound
from smsync.web.openapi import DEVICE, LIST_OF, PROBLEMS, WHEN
from smsync.web.request import WebError, bad_request, not_found
from smsync.web.routes import api, page

LIST = "/web/devices"
NO_SUCH_DEVICE = "this account has no such device"
#: The notices a redirect back to a device page may ask for.
NOTICES = {"renamed": "The device was renamed.",
           "wipe": "The remote wipe was requested: the device does it the next time it connects.",
           "wipe-account": "The account-only wipe was requested: the device removes this account "
                           "the next time it connects."}
#: Log lines shown and served at most (the store keeps the newest 200).
LOG_LINES = 200


def device_url(device_id: str, action: str = "") -> str:
    """The page of ``device_id`` (every character of the id quoted: an id may hold
    ``/``, ``?`` or ``#``)."""
    return f"{LIST}/{quote(device_id, safe='')}" + (f"/{action}" if action else "")


async def _view(req, device_id: str):
    """The signed-in account's device ``device_id``; 404 for any other id, another
    account's included."""
    try:
        return await devices.device_of(req.store, req.account, device_id)
    except NotFound:
        raise not_found(NO_SUCH_DEVICE) from None


async def _or_not_found(call):
    try:
        return await call
    except NotFound:
        raise not_found(NO_SUCH_DEVICE) from None


async def _page(req, view, status: int = 200, name_error=None, name_value=None, notice=None):
    entries = await devices.log_of(req.store, req.account, view.device.device_id, LOG_LINES)
    return render.page(req, "device.html", status=status, title=view.device.name, view=view,
                       d=view.device, log=list(reversed(entries)), notice=notice,
                       name_error=name_error,
                       name_value=view.device.name if name_value is None else name_value,
                       url=device_url(view.device.device_id), device_url=device_url)


# -- pages -------------------------------------------------------------------------------

@page("GET", "/web/devices/{device}")
async def device_page(req, device):
    view = await _view(req, device)
    return await _page(req, view, notice=NOTICES.get(req.query("notice") or ""))


@page("POST", "/web/devices/{device}/rename")
async def rename_form(req, device):
    view = await _view(req, device)
    name = req.form().get("name", "")
    if not view.renamable:
        return await _page(req, view, 409, name_error=(
            f"{view.type} clients are named by what they send: this entry cannot be renamed."))
    try:
        devices.check_name(name)
    except InvalidData as e:
        return await _page(req, view, 400, name_error=f"Not renamed: {e}.", name_value=name)
    await devices.rename(req.store, req.account, device, name)
    return render.redirect(device_url(device) + "?notice=renamed")


@page("GET", "/web/devices/{device}/delete")
async def delete_confirmation(req, device):
    view = await _view(req, device)
    return render.page(req, "device_delete.html", title=f"Delete {view.device.name}?", view=view,
                       d=view.device, means=devices.delete_means(view), url=device_url(device))


@page("POST", "/web/devices/{device}/delete")
async def delete_form(req, device):
    req.form()  # the CSRF token was checked from it; nothing else is needed
    await _or_not_found(devices.delete(req.store, req.account, device))
    return render.redirect(LIST + "?notice=deleted")


@page("POST", "/web/devices/{device}/wipe")
async def wipe_form(req, device):
    view = await _view(req, device)
    account_only = req.form().get("account_only", "") == "1"
    if not view.wipeable:
        raise WebError(409, "Cannot wipe", f"{view.type} devices cannot be wiped remotely")
    await devices.wipe(req.store, req.account, device, account_only)
    return render.redirect(device_url(device) + ("?notice=wipe-account" if account_only else "?notice=wipe"))


# -- API ---------------------------------------------------------------------------------

_DEVICE_ANSWER = {"200": {"description": "the device", "content": {"application/json": {"schema": DEVICE}}}}
_CONFLICT = {"409": {"description": "the device's protocol does not allow it", "content": {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
_ID = [{"name": "device", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "the device's id (``id`` in the list), looked up in the signed-in account"}]
LOG_ENTRY = {"type": "object", "required": ["time", "message"], "properties": {
    "time": WHEN, "message": {"type": "string"}}}
WIPE = DEVICE["properties"]["wipe"]


@api("GET", "/api/v1/devices/{device}", summary="One device of the signed-in account, with what it syncs",
     tags=["devices"], parameters=_ID, responses={**_DEVICE_ANSWER, **PROBLEMS})
async def get_device(req, device):
    return render.json_answer((await _view(req, device)).as_json())


@api("PATCH", "/api/v1/devices/{device}", summary="Rename a device (EAS and SyncML devices only)",
     tags=["devices"], parameters=_ID,
     requestBody={"required": True, "content": {"application/json": {"schema": {
         "type": "object", "required": ["name"], "properties": {
             "name": {"type": "string", "minLength": 1, "maxLength": devices.MAX_NAME,
                      "description": "the display name: no control characters"}}}}}},
     responses={**_DEVICE_ANSWER, **PROBLEMS, **_CONFLICT})
async def rename_device(req, device):
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str):
        raise bad_request("name is a string", "name")
    view = await _view(req, device)
    if not view.renamable:
        raise WebError(409, "Conflict", f"{view.type} clients are named by what they send; "
                       "their entries cannot be renamed", "name")
    try:
        devices.check_name(name)
    except InvalidData as e:
        raise bad_request(str(e), "name") from None
    return render.json_answer((await devices.rename(req.store, req.account, device, name)).as_json())


@api("DELETE", "/api/v1/devices/{device}",
     summary="Forget a device and the sync state kept for it: its next sync starts over",
     tags=["devices"], parameters=_ID,
     responses={"204": {"description": "deleted"}, **PROBLEMS})
async def delete_device(req, device):
    await _or_not_found(devices.delete(req.store, req.account, device))
    return Response(204, b"", None, dict(render.SECURITY_HEADERS))


@api("POST", "/api/v1/devices/{device}/wipe",
     summary="Ask an EAS device to erase itself, or only this account, when it next connects",
     tags=["devices"], parameters=_ID,
     requestBody={"required": False, "content": {"application/json": {"schema": {
         "type": "object", "properties": {
             "account_only": {"type": "boolean", "default": False,
                              "description": "remove only this account's data (EAS 16.1)"}}}}}},
     responses={"200": {"description": "the wipe as requested",
                        "content": {"application/json": {"schema": WIPE}}}, **PROBLEMS, **_CONFLICT})
async def wipe_device(req, device):
    body = req.json_object() if req.body() else {}
    account_only = body.get("account_only", False)
    if not isinstance(account_only, bool):
        raise bad_request("account_only is true or false", "account_only")
    view = await _view(req, device)
    if not view.wipeable:
        raise WebError(409, "Conflict", f"{view.type} devices cannot be wiped remotely")
    await devices.wipe(req.store, req.account, device, account_only)
    return render.json_answer((await _view(req, device)).as_json()["wipe"])


@api("GET", "/api/v1/devices/{device}/log", summary="A device's sync log, oldest first (the newest 200 lines)",
     tags=["devices"],
     parameters=_ID + [{"name": "limit", "in": "query", "required": False,
                        "description": "the newest N lines only",
                        "schema": {"type": "integer", "minimum": 1, "maximum": LOG_LINES}}],
     responses={"200": {"description": "the log", "content": {"application/json": {
         "schema": LIST_OF(LOG_ENTRY)}}}, **PROBLEMS})
async def device_log(req, device):
    raw = req.query("limit")
    limit = LOG_LINES
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= LOG_LINES:
            raise bad_request(f"limit is a whole number from 1 to {LOG_LINES}", "limit")
        limit = int(raw)
    entries = await _or_not_found(devices.log_of(req.store, req.account, device, limit))
    return render.json_answer({"items": [
        {"time": e.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "message": e.message} for e in entries]})
