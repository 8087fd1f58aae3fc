"""GetList and GetListCollection: what lists there are, and each one's schema."""

from __future__ import annotations

from smsync.protocols.lists import schema, soap
from smsync.protocols.lists.operations import operation


@operation("GetList")
async def get_list(ctx, request):
    """The list's ``<List>``: its attributes and schema (MS-LISTSWS 3.1.4.15)."""
    ref = await ctx.list(request.param("listName"))
    root, result = soap.response("GetList")
    result.append(schema.list_element(ref.list_info(await ctx.item_count(ref))))
    return root


@operation("GetListCollection")
async def get_list_collection(ctx, request):
    """Every list of the account, as ``<Lists><List .../></Lists>`` without fields."""
    root, result = soap.response("GetListCollection")
    holder = result.makeelement(soap.sp("Lists"))
    result.append(holder)
    for ref in await ctx.lists():
        node = schema.list_element(ref.list_info(ref.info.count))
        for child in list(node):
            node.remove(child)
        holder.append(node)
    return root
