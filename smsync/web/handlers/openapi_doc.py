"""``/api/v1/openapi.json``: the API's own description."""

from __future__ import annotations

from smsync.web import render, routes
from smsync.web.openapi import document
from smsync.web.routes import PUBLIC, api


@api("GET", "/api/v1/openapi.json", access=PUBLIC, summary="This document", tags=["meta"],
     responses={"200": {"description": "the OpenAPI 3 document",
                        "content": {"application/json": {"schema": {"type": "object"}}}}})
async def openapi_json(req):
    return render.json_answer(document(routes.all_routes()))
