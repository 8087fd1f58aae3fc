"""PROPFIND and PROPPATCH (RFC 4918 9.1, 9.2), and the property rendering every report
shares (``PropRequest`` / ``render``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Optional

import attrs

from smsync import errors
from smsync._async import Pacer
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.registry import ChangeSet
from smsync.protocols.dav.resources import Kind, quote_segment
from smsync.protocols.dav.response import Response, multistatus
from smsync.protocols.dav.xml import (
    children, dav, dead_store, dead_value, element, escape_text, propstat, response_bytes,
    response_element, status_bytes, text_property,
)


#: Most properties one request may name: clients ask for a few dozen, and each one named
#: is answered for every member of a collection.
MAX_PROPERTIES = 1000


def _asked(parent) -> tuple:
    """The property elements inside ``parent``, each name once (the first), 413 past
    ``MAX_PROPERTIES``."""
    seen, out = set(), []
    count = 0
    for el in parent.iterchildren():
        if not isinstance(el.tag, str):
            continue  # a comment
        count += 1
        if count > MAX_PROPERTIES:
            raise DavError(413, message=f"more than {MAX_PROPERTIES} properties asked")
        if el.tag not in seen:
            seen.add(el.tag)
            out.append(el)
    return tuple(out)


@attrs.frozen
class PropRequest:
    """Which properties to return: ``mode`` is ``prop``, ``allprop`` or ``propname``;
    ``asked`` the requested elements in order (for ``prop``, and ``allprop``'s
    ``include``)."""

    mode: str
    asked: tuple = ()

    @classmethod
    def parse(cls, parent) -> "PropRequest":
        """From the element holding ``prop``/``allprop``/``propname`` (a ``propfind``,
        a REPORT body...). No such child means ``allprop``."""
        mode, asked = "allprop", ()
        if parent is None:
            return cls(mode, asked)
        # Only these children are looked at (lxml filters in C): a multiget's 50,000
        # hrefs are not made Python objects here.
        for child in parent.iterchildren(dav("prop"), dav("allprop"), dav("propname")):
            if child.tag == dav("prop"):
                mode, asked = "prop", _asked(child)
            elif child.tag == dav("allprop"):
                mode = "allprop"
            elif child.tag == dav("propname"):
                mode = "propname"
        if mode == "allprop":
            include = next(parent.iterchildren(dav("include")), None)
            asked = _asked(include) if include is not None else ()
        return cls(mode, asked)

    @classmethod
    def of(cls, *names: str) -> "PropRequest":
        return cls("prop", tuple(element(n) for n in names))

    def names(self) -> list[str]:
        return [el.tag for el in self.asked]

    def weight(self) -> int:
        """About how many bytes the answer for one member takes, content aside."""
        return 300 + sum(2 * len(el.tag) + 40 for el in self.asked)


def _dead_props(res) -> dict:
    if res.kind is Kind.COLLECTION and res.exists and res.info is not None:
        return {k: v for k, v in res.info.properties.items() if k.startswith("{")}
    if res.kind is Kind.PLAIN and res.node is not None:
        return res.node.properties
    return {}


async def render(ctx, res, request: PropRequest) -> list:
    """The propstats of ``res`` for ``request``: ``(status, [values])`` pairs whose
    values are property elements or their bytes (see ``xml.response_bytes``)."""
    registry = ctx.registry.properties
    found, missing = [], []
    dead = _dead_props(res)
    if request.mode == "propname":
        names = [n for n, p in registry.items() if p.applies(res)]
        names += [n for n in dead if n not in names]
        return [(200, [text_property(n) for n in names])]
    if request.mode == "allprop":
        wanted = [(n, None) for n, p in registry.items() if p.in_allprop and p.applies(res)]
        seen = {n for n, _ in wanted}
        wanted += [(n, None) for n in dead if n not in seen]
        seen.update(dead)
        wanted += [(el.tag, el) for el in request.asked if el.tag not in seen]
    else:
        wanted = [(el.tag, el) for el in request.asked]
    for name, asked in wanted:
        prop = registry.get(name)
        value = None
        if prop is not None and prop.applies(res):
            try:
                # Plain properties answer without a coroutine: thousands per multistatus.
                value = prop.value_now(ctx, res) if prop.immediate else await prop.value(ctx, res, asked)
            except DavError as e:
                if e.status == 404:
                    value = None
                else:
                    raise
        if value is None and name in dead:
            # A plain resource keeps what a live property of calendars names as a dead one.
            value = dead_value(dead[name], name)
        if value is None:
            missing.append(text_property(name))
        else:
            found.append(value)
    out = []
    if found or not missing:
        out.append((200, found))
    if missing and request.mode == "prop":
        out.append((404, missing))
    return out


def needs_content(ctx, request: PropRequest) -> bool:
    """Whether rendering ``request`` reads item content."""
    registry = ctx.registry.properties
    if request.mode == "propname":
        return False
    names = request.names()
    if request.mode == "allprop":
        names += [n for n, p in registry.items() if p.in_allprop]
    return any(getattr(registry.get(n), "needs_content", False) for n in names)


async def preload(ctx, resources, request: PropRequest) -> None:
    """Read the content of the ITEM ``resources`` in one store call when ``request``
    needs it (rather than one call per item)."""
    pending = [r for r in resources if r.is_item and r.content is None and r.item is not None]
    if not pending or not needs_content(ctx, request):
        return
    handle = await ctx.handle(pending[0])
    by_name = {r.item_name: r for r in pending}
    for item in await handle.get(list(by_name)):
        res = by_name[item.info.name]
        res.content = item.content
        res.item = item.info


def _immediate_plan(ctx, sample, request: PropRequest):
    """``[(name, property or None)]`` when every property asked can be rendered with
    ``value_now`` for members like ``sample`` (and none is a dead property); else None."""
    if request.mode != "prop" or _dead_props(sample):
        return None
    registry = ctx.registry.properties
    plan = []
    for el in request.asked:
        prop = registry.get(el.tag)
        if prop is not None and not prop.applies(sample):
            prop = None
        if prop is not None and not prop.immediate:
            return None
        plan.append((el.tag, prop))
    return plan


async def responses_for(ctx, members, request: PropRequest, pacer: Optional[Pacer] = None) -> list:
    """The ``DAV:response`` bytes of many ITEM members of one collection (Depth 1,
    sync-collection, reports): simple property sets take a fast path without a
    coroutine per member. ``pacer`` gives the reactor its turns."""
    if not members:
        return []
    pacer = pacer or Pacer()
    plan = _immediate_plan(ctx, members[0], request)
    if plan is None:
        out = []
        for m in members:
            out.append(await response_for(ctx, m, request))
            await pacer.breathe()
        return out
    out = []
    missing_names = [text_property(name) for name, prop in plan if prop is None]
    for member in members:
        await pacer.breathe()
        found, missing = [], list(missing_names)
        for name, prop in plan:
            if prop is None:
                continue
            value = prop.value_now(ctx, member)
            if value is None:
                missing.append(text_property(name))
            else:
                found.append(value)
        propstats = [(200, found)] if found or not missing else []
        if missing:
            propstats.append((404, missing))
        out.append(response_bytes(member.href, propstats))
    return out


def _renderer_plan(ctx, parent, sample_info, request: PropRequest):
    """``(renderers, missing, needs_content)`` when every property asked of items of
    ``parent`` has an ``item_renderer``: ``renderers`` are ``(name, function)`` pairs,
    ``missing`` the 404 elements of properties items never have. Else None."""
    if request.mode != "prop" or parent.kind is not Kind.COLLECTION:
        return None
    sample = ctx.tree.item_resource(parent, sample_info)
    registry = ctx.registry.properties
    renderers, missing, needs_content = [], [], False
    for el in request.asked:
        prop = registry.get(el.tag)
        if prop is None or not prop.applies(sample):
            missing.append(text_property(el.tag))
            continue
        renderer = prop.item_renderer(ctx, parent, el)
        if renderer is None:
            return None
        renderers.append((el.tag, renderer))
        needs_content = needs_content or prop.needs_content
    return renderers, missing, needs_content


#: Items rendered per store read and per batch of a streamed answer, at most; fewer
#: when each takes much room (``batches``).
BATCH_ITEMS = 250
#: Bytes of item content, or of answer, one batch holds at most (a single larger item
#: makes a batch of its own).
BATCH_BYTES = 1 << 20


def batches(infos, weight: int = 0, with_content: bool = True):
    """``infos`` (``ItemInfo``) cut into lists rendered together: at most
    ``BATCH_ITEMS``, and at most ``BATCH_BYTES`` of answer counting ``weight`` bytes an
    item plus, ``with_content``, the item's size."""
    batch, size = [], 0
    for info in infos:
        cost = weight + (info.size if with_content else 0)
        if batch and (len(batch) >= BATCH_ITEMS or size + cost > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(info)
        size += cost
    if batch:
        yield batch


async def item_responses(ctx, parent, infos, request: PropRequest, contents: Optional[dict] = None,
                         hrefs: Optional[dict] = None) -> list:
    """Every ``DAV:response`` of ``item_response_batches``, in one list."""
    out = []
    async for batch in item_response_batches(ctx, parent, infos, request, contents, hrefs):
        out.extend(batch)
    return out


async def item_response_batches(ctx, parent, infos, request: PropRequest,
                                contents: Optional[dict] = None, hrefs: Optional[dict] = None,
                                pacer: Optional[Pacer] = None):
    """The ``DAV:response`` bytes of the items ``infos`` (``ItemInfo``) of collection
    ``parent``, for PROPFIND Depth 1, sync-collection and the reports: an async iterator
    of lists, one per ``batches`` batch, for ``multistatus`` to stream.

    ``contents`` (name -> bytes) are contents already read; what else the properties
    need is read a batch at a time, so that a calendar of 50,000 events is never held
    whole. ``hrefs`` (name -> href) keeps the hrefs a client wrote (multiget); by
    default an item's href is made from its name. When every property asked has an
    ``item_renderer`` the items are rendered straight from their infos (no resource
    objects, no coroutine per item). Between batches the reactor gets its turn
    (``pacer``), so other requests are served while a large answer is made.
    """
    if not isinstance(infos, (list, tuple)):
        infos = list(infos)
    if not infos:
        return
    pacer = pacer or Pacer()
    plan = _renderer_plan(ctx, parent, infos[0], request)
    reads = needs_content(ctx, request) if plan is None else plan[2]
    for batch in batches(infos, request.weight(), reads):
        if plan is None:
            members = []
            for info in batch:
                member = ctx.tree.item_resource(parent, info, contents.get(info.name) if contents else None)
                if hrefs is not None:
                    member.href = hrefs[info.name]
                members.append(member)
            await preload(ctx, members, request)
            yield await responses_for(ctx, members, request, pacer)
        else:
            yield await _rendered(ctx, parent, batch, plan, contents, hrefs)
        await pacer.breathe()


async def _rendered(ctx, parent, infos, plan, contents: Optional[dict], hrefs: Optional[dict]) -> list:
    """The responses of one batch along a ``_renderer_plan``."""
    renderers, missing_names, needs_content = plan
    # This batch's contents only: the caller's dict may hold a whole calendar's.
    contents = {i.name: contents[i.name] for i in infos if i.name in contents} if contents else {}
    if needs_content:
        unread = [i.name for i in infos if i.name not in contents]
        if unread:
            handle = await ctx.handle(parent)
            fresh = {}
            for item in await handle.get(unread):
                contents[item.info.name] = item.content
                fresh[item.info.name] = item.info
            # An item changed since it was listed is shown as read (etag and data agree).
            infos = [fresh.get(i.name, i) for i in infos]
    prefix = escape_text(parent.href).encode("utf-8")
    head, mid = b"<D:response><D:href>", b"</D:href><D:propstat><D:prop>"
    tail = b"</D:prop>" + status_bytes(200) + b"</D:propstat></D:response>"
    out = []
    for info in infos:
        name = info.name
        content = contents.get(name)
        if hrefs is not None:
            href = escape_text(hrefs[name]).encode("utf-8")
        else:
            segment = quote_segment(name)
            href = prefix + (segment if "&" not in segment else escape_text(segment)).encode("utf-8")
        found, missing = [], None
        for prop_name, renderer in renderers:
            value = renderer(info, content)
            if value is None:
                missing = (missing or []) + [text_property(prop_name)]
            else:
                found.append(value)
        if missing is None and not missing_names:
            out.append(b"".join((head, href, mid, *found, tail)))
            continue
        missing = missing_names + (missing or [])
        propstats = [(200, found)] if found else []
        propstats.append((404, missing))
        out.append(response_bytes(hrefs[name] if hrefs is not None else parent.href + quote_segment(name),
                                  propstats))
    return out


async def response_for(ctx, res, request: PropRequest) -> bytes:
    """The ``DAV:response`` (bytes) of ``res`` for ``request``."""
    return response_bytes(res.href, await render(ctx, res, request))


async def propfind(ctx, res) -> Response:
    """PROPFIND with Depth 0 or 1 (infinity: 403 ``propfind-finite-depth``)."""
    if not res.exists:
        raise DavError(404)
    depth = ctx.depth("1")
    if depth == "infinity":
        raise DavError(403, dav("propfind-finite-depth"), "Depth: infinity is not supported")
    body = ctx.xml()
    if body is not None and body.tag != dav("propfind"):
        raise DavError(400, message="PROPFIND body must be DAV:propfind")
    request = PropRequest.parse(body) if body is not None else PropRequest("allprop")
    responses = [await response_for(ctx, res, request)]
    if depth == "1":
        if res.kind is Kind.COLLECTION:
            handle = await ctx.handle(res)
            infos = await handle.items()
            if len(infos) > BATCH_ITEMS:
                # Thousands of members: streamed, a batch at a time.
                return multistatus(_then(responses, item_response_batches(ctx, res, infos, request)))
            responses += await item_responses(ctx, res, infos, request)
        else:
            members = await ctx.tree.children(ctx, res)
            await preload(ctx, members, request)
            pacer = Pacer()
            for child in members:
                responses.append(await response_for(ctx, child, request))
                await pacer.breathe()
    return multistatus(responses)


async def _then(first: list, batches):
    """``first``, then every batch of ``batches`` (for ``multistatus``)."""
    yield first
    async for batch in batches:
        yield batch


def collect_changes(ctx, res, instructions, creating: bool):
    """Apply ``set``/``remove`` instructions (``(is_set, prop element)`` pairs, in
    document order) to a ``ChangeSet``. Returns the change set and the per-property
    failures (Clark name -> DavError)."""
    changes = ChangeSet()
    failures: dict = {}
    registry = ctx.registry.properties
    for is_set, el in instructions:
        prop = registry.get(el.tag)
        try:
            if prop is not None and res.kind is Kind.PLAIN:
                # A property a plain resource has no live meaning for is kept as a dead
                # one, unless the property refuses (a protected one).
                scratch = ChangeSet()
                prop.change(ctx, res, el if is_set else None, scratch, creating)
                if scratch.resourcetypes is not None:
                    changes.resourcetypes = scratch.resourcetypes
                else:
                    changes.properties[el.tag] = dead_store(el) if is_set else None
            elif prop is not None:
                prop.change(ctx, res, el if is_set else None, changes, creating)
            elif res.kind in (Kind.COLLECTION, Kind.PLAIN):
                changes.properties[el.tag] = dead_store(el) if is_set else None
            else:
                raise DavError(403, dav("cannot-modify-protected-property"),
                               "calendar and contact items keep no dead properties")
        except DavError as e:
            failures[el.tag] = e
    return changes, failures


def instructions_of(update) -> list:
    """The ``(is_set, prop element)`` pairs of a ``propertyupdate`` or ``mkcol`` body."""
    out = []
    for action in children(update):
        if action.tag not in (dav("set"), dav("remove")):
            continue
        for prop in children(action):
            if prop.tag != dav("prop"):
                continue
            out.extend((action.tag == dav("set"), el) for el in children(prop))
    return out


def failure_propstats(instructions, failures: dict) -> list:
    """Propstats for a refused update: failed ones with their status, every other 424."""
    by_status = defaultdict(list)
    for _, el in instructions:
        error = failures.get(el.tag)
        key = (error.status, error.condition or "", error.message) if error is not None else (424, "", "")
        by_status[key].append(element(el.tag))
    return [propstat(status, props, message or None, condition or None)
            for (status, condition, message), props in sorted(by_status.items())]


async def proppatch(ctx, res) -> Response:
    """PROPPATCH: all or nothing (RFC 4918 9.2). Collections keep dead properties."""
    if not res.exists:
        raise DavError(404)
    body = ctx.xml()
    if body is None or body.tag != dav("propertyupdate"):
        raise DavError(400, message="PROPPATCH body must be DAV:propertyupdate")
    instructions = instructions_of(body)
    changes, failures = collect_changes(ctx, res, instructions, creating=False)
    if failures:
        return multistatus([response_element(res.href, propstats=failure_propstats(instructions, failures))])
    if changes.properties and res.kind is Kind.PLAIN:
        try:
            res.node = await ctx.app.dav_tree.set_properties(ctx.account, res.path, changes.properties)
        except errors.SmsyncError as e:
            raise from_store_error(e, invalid_condition=None, invalid_status=409) from None
    elif changes.properties:
        handle = await ctx.handle(res)
        try:
            res.info = await handle.set_properties(changes.properties)
        except errors.SmsyncError as e:
            raise from_store_error(e, invalid_condition=None, invalid_status=409) from None
    props = [element(el.tag) for _, el in instructions]
    return multistatus([response_element(res.href, propstats=[propstat(200, props)])])


def parse_resourcetypes(prop_elements) -> Optional[frozenset]:
    """The resourcetype children named in a MKCOL ``set`` (None when not given)."""
    for el in prop_elements:
        if el.tag == dav("resourcetype"):
            return frozenset(c.tag for c in children(el))
    return None
