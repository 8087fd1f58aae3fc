"""What the Lists site answers to GET, after the same Basic login as the service:

- ``<site>/_vti_bin/owssvr.dll?Cmd=Display&List={GUID}&XMLDATA=TRUE``: the list's
  items as an XML rowset (the ``s:Schema`` of the row's attributes and ``rs:data`` of
  ``z:row``s, namespaces ``s dt rs z``), read-only -- the export Outlook 2003 syncs a
  ``ver=1.0`` link's list with. ``Cmd`` may be left out; ``View`` is ignored (every
  item is in the one view); ``Query`` names the fields (``*`` or absent: all);
  ``RowLimit`` bounds the rows (0: all). Anything else (another ``Cmd``, no
  ``XMLDATA``, an unknown list) is refused with a plain 400 or 404.
- ``<site>/Lists/<list>/Attachments/<ID>/<file>``: the attachment itself (see
  ``attachments``), as Outlook downloads one.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qsl

from lxml import etree

from smsync.edge.web import Response
from smsync.protocols.lists import attachments, catalog, rows
from smsync.protocols.lists.operations.items import Options, numbered, page, rendered
from smsync.protocols.lists.soap import DT, RS, S, Z, ListsFault
from smsync.protocols.lists.state import DeviceState

OWSSVR_SUFFIX = b"/_vti_bin/owssvr.dll"
#: The ADO datatype of each field type (MS-PRSTFR 2.4).
DATATYPES = {"Counter": "i4", "Integer": "i4", "Number": "float", "Currency": "float",
             "DateTime": "datetime", "Boolean": "boolean"}
_NSMAP = {"s": S, "dt": DT, "rs": RS, "z": Z}


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), "text/plain; charset=utf-8")


def _args(query: bytes) -> dict:
    """The query string's fields, names ignoring case (the last one of a name wins)."""
    text = query.decode("utf-8", "replace")
    return {k.lower(): v for k, v in parse_qsl(text, keep_blank_values=True)}


def rowset(defs: tuple, data_rows: list, wanted: Optional[frozenset]):
    """``<xml>`` holding the schema of the ``defs`` (those ``wanted``, None: all) and
    ``<rs:data>`` of the rows."""
    root = etree.Element("xml", nsmap=_NSMAP)
    schema_el = etree.SubElement(root, f"{{{S}}}Schema", id="RowsetSchema")
    element = etree.SubElement(schema_el, f"{{{S}}}ElementType", name="row", content="eltOnly")
    element.set(f"{{{RS}}}CommandTimeout", "30")
    for number, field in enumerate(defs, 1):
        if wanted is not None and field.name not in wanted and field.name not in rows.ALWAYS:
            continue
        attr = etree.SubElement(element, f"{{{S}}}AttributeType", name=f"ows_{field.name}")
        attr.set(f"{{{RS}}}name", field.display_name or field.name)
        attr.set(f"{{{RS}}}number", str(number))
        kind = etree.SubElement(attr, f"{{{S}}}datatype")
        kind.set(f"{{{DT}}}type", DATATYPES.get(field.type, "string"))
        if field.type in ("Text", "Choice"):
            kind.set(f"{{{DT}}}maxLength", "512")
    data = etree.SubElement(root, f"{{{RS}}}data", ItemCount=str(len(data_rows)))
    for r in data_rows:
        data.append(r)
    return root


async def owssvr(ctx, query: bytes) -> Response:
    """The owssvr.dll list export of the list the query names."""
    args = _args(query)
    command = args.get("cmd", "Display")
    if command.lower() != "display":
        return _plain(400, f"Cmd={command[:40]} is not served: this site exports lists (Cmd=Display)")
    if args.get("xmldata", "").strip().lower() not in ("true", "1", "yes"):
        return _plain(400, "only the XML export (XMLDATA=TRUE) is served")
    try:
        ref = await ctx.list(args.get("list", ""))
    except ListsFault:
        return _plain(404, "no such list")
    fields_text = args.get("query", "*").strip()
    wanted = None if fields_text in ("", "*") else frozenset(fields_text.split())
    limit_text = args.get("rowlimit", "").strip()
    limit = int(limit_text) if limit_text.isdigit() and 0 < len(limit_text) <= 6 and int(limit_text) > 0 else None
    options = Options(limit, None, wanted, True)
    everything = await numbered(ctx, ref)
    chosen, _ = page(everything, options, ref.info.revision)
    data_rows = attachments.absolute_urls(await rendered(ctx, ref, chosen, options), ctx.site_url)
    await ctx.state.save()
    await ctx.note(f"{ref.title}: list export (owssvr.dll), {len(data_rows)} rows sent")
    body = etree.tostring(rowset(ref.defs(), data_rows, wanted), encoding="utf-8", xml_declaration=False)
    return Response(200, body, "text/xml; charset=utf-8")


async def attachment(ctx, path: str) -> Response:
    """The file an attachment URL names, looked up in the asking device's IDs, then in
    the account's other Outlooks' (a download may come with another User-Agent)."""
    named = attachments.parse_path(path, ctx.site_path)
    if named is None:
        return _plain(404, "no such attachment")
    try:
        ref = await ctx.list(named.list_name)
    except ListsFault:
        return _plain(404, "no such attachment")
    devices = [ctx.device_id]
    try:
        devices += [d.device_id for d in await ctx.store.devices.list(ctx.account)
                    if d.protocol == "lists" and d.device_id != ctx.device_id]
    except Exception:
        pass
    collection = await ctx.collection(ref)
    for device_id in devices[:50]:
        state = ctx.state if device_id == ctx.device_id else DeviceState(
            ctx.store.devices, ctx.account, device_id, None)
        key = (await state.ids(ref.info.id)).name_of(named.item_id)
        if key is None:
            continue
        found = await collection.get([attachments.series_name(key)])
        if not found or not catalog.shows(ref, found[0].info):
            continue
        got = attachments.read(found[0].content, named.file_name)
        if got is not None:
            data, kind = got
            return Response(200, data, kind, {"Content-Disposition": "attachment",
                                              "X-Content-Type-Options": "nosniff"})
    return _plain(404, "no such attachment")


def is_owssvr(path: bytes) -> bool:
    return path.endswith(OWSSVR_SUFFIX)

