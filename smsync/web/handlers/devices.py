"""Synchronized Devices: the signed-in user's devices and clients, as a page and as
API calls."""

from __future__ import annotations

from smsync.admin import devices
from smsync.web import render
from smsync.web.handlers.device_detail import device_url
from smsync.web.openapi import DEVICE, LIST_OF, PROBLEMS
from smsync.web.routes import api, page


#: The notices a redirect back to the list may ask for (by key: a URL shows no text).
NOTICES = {"deleted": "The device was deleted: its next sync starts over."}


@page("GET", "/web/devices")
async def devices_page(req):
    views = await devices.devices_of(req.store, req.account)
    return render.page(req, "devices.html", title="Synchronized Devices", devices=views,
                       notice=NOTICES.get(req.query("notice") or ""), device_url=device_url)


@api("GET", "/api/v1/devices", summary="The signed-in account's devices, the most recently synced first",
     tags=["devices"], responses={"200": {"description": "the devices",
                                          "content": {"application/json": {"schema": LIST_OF(DEVICE)}}},
                                  **PROBLEMS})
async def list_devices(req):
    views = await devices.devices_of(req.store, req.account)
    return render.json_answer({"items": [v.as_json() for v in views]})
