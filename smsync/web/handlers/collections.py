"""Collections: the signed-in user's calendars, address books and task lists, each with
its "Add to Outlook" links (``stssync://``: Outlook 2007 and later, and Outlook 2003
read-only), as a page and as an API call, over ``smsync.admin.collections`` (the CLI's
code too)."""

from __future__ import annotations

from smsync.admin.collections import collection_links, site_of
from smsync.web import render
from smsync.web.connection import web_base
from smsync.web.openapi import LIST_OF, NULLABLE_TEXT, PROBLEMS
from smsync.web.routes import api, page

COLLECTION = {"type": "object", "required": ["name", "kind", "display_name"], "properties": {
    "name": {"type": "string", "description": "the collection's name in its URLs"},
    "kind": {"type": "string", "description": "calendar, addressbook, tasks, notes..."},
    "display_name": {"type": "string"},
    "add_to_outlook": {**NULLABLE_TEXT, "description": "the stssync:// link adding it to Outlook 2007 "
                       "or later (null: Outlook cannot take it as a list)"},
    "add_to_outlook_2003": {**NULLABLE_TEXT, "description": "the read-only link for Outlook 2003 "
                            "(calendars and contacts)"},
}}


async def _links(req):
    infos = await (await req.store.collections(req.account)).list_collections()
    lists = getattr(req.edge.config, "lists", None)
    site = site_of(lists.site_url if lists is not None else "", web_base(req.edge, req.header("Host")))
    try:
        return collection_links(req.account, infos, site)
    except ValueError:
        # A [lists] site_url that is not an http(s) URL: the collections without links
        # (the configuration check names the mistake).
        return collection_links(req.account, infos, None)


@page("GET", "/web/collections")
async def collections_page(req):
    views = await _links(req)
    running = "lists" in getattr(req.edge.listening, "http_protocols", ())
    return render.page(req, "collections.html", title="Collections", collections=views, lists_running=running)


@api("GET", "/api/v1/collections", summary="The signed-in account's collections with their Add to "
     "Outlook links", tags=["collections"],
     responses={"200": {"description": "the collections", "content": {"application/json": {
         "schema": LIST_OF(COLLECTION)}}}, **PROBLEMS})
async def list_collections(req):
    return render.json_answer({"items": [v.as_json() for v in await _links(req)]})
