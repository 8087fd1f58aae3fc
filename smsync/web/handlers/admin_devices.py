"""Administration: every account's devices, filtered by protocol and by how long ago
they last synced, the stalest first, a page at a time, with bulk delete -- as a page and
as API calls, through ``smsync.admin.alldevices``."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from smsync.admin import alldevices
from smsync.admin.devices import TYPES
from smsync.errors import InvalidData
from smsync.web import render
from smsync.web.handlers.admin_common import form_lists
from smsync.web.openapi import DEVICE, LIST_OF, PROBLEMS
from smsync.web.request import WebError, bad_request
from smsync.web.routes import ADMIN, api, page

PAGE = "/web/admin/devices"
PAGE_SIZE = 50


def _filters(protocol: Optional[str], days: Optional[str]) -> tuple[Optional[str], Optional[int]]:
    try:
        protocol = alldevices.check_protocol(protocol or None)
    except InvalidData as e:
        raise bad_request(str(e), "protocol") from None
    try:
        days = alldevices.check_days(days)
    except InvalidData as e:
        raise bad_request(str(e), "older_than_days") from None
    return protocol, days


async def _page(req, status=200, error=None, field=None, done=None):
    protocol_text = req.query("protocol") or ""
    days_text = (req.query("older_than_days") or "").strip()
    after = req.query("after") or None
    views, more = [], None
    try:
        protocol, days = _filters(protocol_text, days_text)
        views, more = await alldevices.page(req.store, protocol, days, after, PAGE_SIZE)
    except WebError as e:
        status, error, field = e.status, e.detail, e.field
    except InvalidData as e:
        status, error, field = 400, str(e), "after"
    query = {"protocol": protocol_text, "older_than_days": days_text}
    next_url = PAGE + "?" + urlencode({**query, "after": more}) if more else None
    return render.page(req, "admin_devices.html", status=status, title="All devices", views=views,
                       types=TYPES, protocol=protocol_text, days=days_text, after=after,
                       first_url=PAGE + "?" + urlencode(query), next_url=next_url, error=error,
                       field=field, done=done)


@page("GET", PAGE, access=ADMIN)
async def all_devices_page(req):
    done = None
    if req.query("deleted"):
        count = req.query("deleted")
        done = f"{int(count) if count.isdigit() else 0} device(s) deleted; each starts over at its next sync."
    return await _page(req, done=done)


@page("POST", PAGE + "/delete", access=ADMIN)
async def all_devices_delete(req):
    fields = form_lists(req)
    try:
        if (fields.get("confirm") or [""])[-1] != "yes":
            raise bad_request("Tick the box to confirm the deletion.", "confirm")
        keys = alldevices.parse_keys(fields.get("device", []))
    except InvalidData as e:
        return await _page(req, status=400, error=str(e), field="device")
    except WebError as e:
        return await _page(req, status=e.status, error=e.detail, field=e.field)
    deleted, _missing = await alldevices.delete_many(req.store, keys)
    return render.redirect(f"{PAGE}?deleted={deleted}")


# -- API ------------------------------------------------------------------------------

ADMIN_DEVICE = {"allOf": [DEVICE, {"type": "object", "required": ["account"], "properties": {
    "account": {"type": "string"}}}]}
BULK = {"type": "object", "required": ["devices"], "properties": {
    "devices": {"type": "array", "items": {"type": "string"}, "maxItems": alldevices.MAX_BULK,
                "description": "devices as account/device-id"}}}
BULK_RESULT = {"type": "object", "required": ["deleted", "missing"], "properties": {
    "deleted": {"type": "integer"}, "missing": {"type": "array", "items": {"type": "string"}}}}


def _device_json(view) -> dict:
    out = view.as_json()
    out["account"] = view.device.account
    return out


@api("GET", "/api/v1/admin/devices", access=ADMIN, tags=["administration"],
     summary="A page of the devices of every account, the stalest first",
     parameters=[
         {"name": "protocol", "in": "query", "required": False, "schema": {"type": "string", "enum": list(TYPES)},
          "description": "only devices of this protocol"},
         {"name": "older_than_days", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 0, "maximum": alldevices.MAX_DAYS},
          "description": "only devices that last synced more than this many days ago, or never"},
         {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "the next value of the previous page"},
         {"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1, "maximum": alldevices.MAX_PAGE}}],
     responses={"200": {"description": "the page; next is null after the last",
                        "content": {"application/json": {"schema": LIST_OF(ADMIN_DEVICE, paged=True)}}},
                **PROBLEMS})
async def list_all_devices(req):
    # The API takes what its document says: an empty value is not "any".
    for name in ("protocol", "older_than_days", "limit"):
        if req.query(name) == "":
            raise bad_request(f"{name} is empty", name)
    protocol, days = _filters(req.query("protocol"), req.query("older_than_days"))
    limit_text = req.query("limit") or str(PAGE_SIZE)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= alldevices.MAX_PAGE:
        raise bad_request(f"limit is a whole number from 1 to {alldevices.MAX_PAGE}", "limit")
    try:
        views, more = await alldevices.page(req.store, protocol, days, req.query("after") or None,
                                            int(limit_text))
    except InvalidData as e:
        raise bad_request(str(e), "after") from None
    return render.json_answer({"items": [_device_json(v) for v in views], "next": more})


@api("POST", "/api/v1/admin/devices/delete", access=ADMIN, tags=["administration"],
     summary="Delete devices of any account (their sync state goes: each starts over at its next sync)",
     requestBody={"required": True, "content": {"application/json": {"schema": BULK}}},
     responses={"200": {"description": "how many were deleted, and those already gone",
                        "content": {"application/json": {"schema": BULK_RESULT}}},
                **PROBLEMS, "415": {"description": "not JSON", "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}})
async def delete_all_devices(req):
    body = req.json_object()
    devices = body.get("devices")
    if not isinstance(devices, list):
        raise bad_request("devices is a list of account/device-id", "devices")
    try:
        keys = alldevices.parse_keys(devices)
    except InvalidData as e:
        raise bad_request(str(e), "devices") from None
    deleted, missing = await alldevices.delete_many(req.store, keys)
    return render.json_answer({"deleted": deleted, "missing": missing})

