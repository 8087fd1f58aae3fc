"""Search (MS-ASCMD 2.2.1.16) of the account's mail and of the server's accounts (the
GAL), and Find (2.2.1.2, protocol 16.1), its successor with KQL free text.

Mail is searched by ``mailquery``: free text in subject, addresses and body, folders,
a DateReceived window and a conversation; results newest first, paged by Range with
the Total of every match. What the server cannot search by (Or, EqualTo, a property
other than DateReceived) answers "too complex"; malformed queries "invalid request";
both with one line in the device's log.
"""

from __future__ import annotations

import time

from smsync.edge import directory
from smsync.errors import SmsyncError, StorageUnavailable
from smsync.protocols.eas import mailquery
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.convert import ConversionError, eas_date, parse_eas_date, parse_options
from smsync.protocols.eas.email import application_data
from smsync.protocols.eas.mailquery import MailQuery, QueryTooComplex, SearchTimedOut
from smsync.protocols.eas.wbxml import Element

S = "Search:"
F = "Find:"
AS = "AirSync:"
GAL_NS = "Gal:"
EMAIL = "Email:"
EMAIL2 = "Email2:"
IO = "ItemOperations:"

#: Search Status values (MS-ASCMD 2.2.3.177.13).
OK, INVALID, SERVER_ERROR, TOO_COMPLEX, TIMED_OUT = "1", "2", "3", "8", "10"
#: Find Status values (2.2.3.177.2).
FIND_OK, FIND_INVALID, FIND_RANGE_NOT_ZERO = "1", "2", "4"

#: How long one search may run before it answers "timed out".
SEARCH_SECONDS = 60.0
#: The most results one request gets.
MAX_RESULTS = 100

#: airsync:Class values a Mailbox search may name; only Email items are searched.
CLASSES = {"Email", "Calendar", "Contacts", "Tasks", "Notes", "SMS"}


class InvalidQuery(ValueError):
    """The device's query is malformed (answered with Status 2)."""


def _s(tag: str, text=None, *children) -> Element:
    return Element(S, tag, children, text)


def _flag(element) -> bool:
    """An element that is "on" when present and empty, or when it says 1."""
    return element is not None and element.text in (None, "1")


# -- the query ---------------------------------------------------------------------------


def _conversation(element: Element) -> bytes:
    if element.opaque is not None:
        return element.opaque
    text = (element.text or "").strip()
    try:
        return bytes.fromhex(text) if len(text) == 32 else text.encode("utf-8")
    except ValueError:
        return text.encode("utf-8")


def _date_bound(element: Element):
    """``(field, date)`` of a GreaterThan/LessThan."""
    value = element.find(S, "Value")
    fields = [c for c in element.children if c is not value]
    if value is None or len(fields) != 1:
        raise InvalidQuery(f"{element.tag} needs one property and a Value")
    if (fields[0].namespace, fields[0].tag) != (EMAIL, "DateReceived"):
        raise QueryTooComplex(f"{element.tag} of {fields[0].tag} is not searched")
    try:
        return parse_eas_date(value.text)
    except ConversionError as e:
        raise InvalidQuery(str(e)) from None


class _QueryParts:
    def __init__(self):
        self.free_text: list[str] = []
        self.classes: set[str] = set()
        self.folders: list[str] = []
        self.after = self.before = self.conversation = None

    def add(self, element: Element, depth: int = 0) -> None:
        key = (element.namespace, element.tag)
        if key == (S, "And") or key == (F, "Query") or key == (S, "Query"):
            if depth > 3:
                raise QueryTooComplex("queries nested that deep are not searched")
            for child in element.children:
                self.add(child, depth + 1)
        elif key in ((S, "FreeText"), (F, "FreeText")):
            self.free_text.append(element.text or "")
        elif key == (AS, "Class"):
            if element.text not in CLASSES:
                raise InvalidQuery(f"unknown class {str(element.text)[:40]!r}")
            self.classes.add(element.text)
        elif key == (AS, "CollectionId"):
            if not element.text:
                raise InvalidQuery("an empty CollectionId")
            self.folders.append(element.text)
        elif key == (S, "ConversationId"):
            self.conversation = _conversation(element)
        elif key == (S, "GreaterThan"):
            self.after = _date_bound(element)
        elif key == (S, "LessThan"):
            self.before = _date_bound(element)
        elif key in ((S, "Or"), (S, "EqualTo")):
            raise QueryTooComplex(f"{element.tag} is not searched")
        else:
            raise InvalidQuery(f"unexpected {element.tag} in a query")

    def query(self, deep: bool) -> MailQuery:
        terms = mailquery.parse_free_text(" ".join(self.free_text))
        return MailQuery(terms, tuple(self.folders) or None, deep, self.after, self.before,
                         self.conversation)


def _parse_query(query: Element) -> tuple[_QueryParts, bool]:
    """What a Query element asks for (``.query(deep)`` makes its ``MailQuery``) and
    whether it asks for Email items at all.

    Raises:
        InvalidQuery, QueryTooComplex.
    """
    if not query.children:
        raise InvalidQuery("an empty query")
    parts = _QueryParts()
    parts.add(query)
    return parts, not parts.classes or "Email" in parts.classes


async def _run(ctx, query: MailQuery):
    mail = await ctx.store.mail(ctx.account)
    try:
        return await mailquery.search(mail, query, time.monotonic() + SEARCH_SECONDS)
    except KeyError as e:
        raise InvalidQuery(f"no folder {str(e.args[0])[:40]!r}") from None


# -- Search ---------------------------------------------------------------------------------


async def _mailbox_store(ctx, store: Element) -> list[Element]:
    """The children of a Mailbox Store's answer."""
    options = store.find(S, "Options")
    query_el = store.find(S, "Query")
    if query_el is None:
        raise InvalidQuery("a Mailbox search needs a Query")
    window = mailquery.parse_range(options.find(S, "Range").text
                                   if options is not None and options.find(S, "Range") is not None
                                   else None, mailquery.Range(0, MAX_RESULTS - 1), MAX_RESULTS)
    deep = options is not None and _flag(options.find(S, "DeepTraversal"))
    parts, wants_email = _parse_query(query_el)
    query = parts.query(deep)
    if deep and not query.folder_ids:
        raise InvalidQuery("DeepTraversal needs a CollectionId")
    hits = await _run(ctx, query) if wants_email else []
    body_options = parse_options(options)
    page = window.window(hits)
    results = []
    for hit in page:
        data = await application_data(hit.mailbox, hit.info, hit.structure, body_options, ctx.version)
        results.append(_s("Result", None, Element(AS, "Class", (), "Email"),
                          _s("LongId", mailquery.long_id(hit.folder_id, hit.info.uid)),
                          Element(AS, "CollectionId", (), hit.folder_id),
                          _s("Properties", None, *data.children)))
    ctx.log(f"Search Mailbox: {len(hits)} found, {len(page)} sent"
            f" ({len(query.terms)} terms, {len(query.folder_ids or ())} folders)")
    out = [_s("Status", OK), *(results or [_s("Result")])]
    answered = window.answered(len(page))
    if answered:
        out.append(_s("Range", answered))
    out.append(_s("Total", str(len(hits))))
    return out


def _gal_properties(person: directory.Person) -> list[Element]:
    fields = (("DisplayName", person.display_name), ("Phone", person.phone),
              ("Title", person.title), ("Company", person.company), ("Alias", person.alias),
              ("FirstName", person.first_name), ("LastName", person.last_name),
              ("EmailAddress", person.email))
    return [Element(GAL_NS, tag, (), value) for tag, value in fields if value]


async def gal_search(ctx, text: str) -> list[directory.Person]:
    """The accounts whose address, alias or name starts with ``text``, by name."""
    needle = text.strip().casefold()
    people = [p for p in await directory.gal(ctx.store) if p.matches(needle)]
    return sorted(people, key=lambda p: (p.display_name.casefold(), p.email))


async def _gal_store(ctx, store: Element) -> list[Element]:
    query = store.find(S, "Query")
    text = (query.text or "") if query is not None else ""
    if not text.strip() or (query is not None and query.children):
        raise InvalidQuery("a GAL search needs a Query text")
    options = store.find(S, "Options")
    range_el = options.find(S, "Range") if options is not None else None
    window = mailquery.parse_range(range_el.text if range_el is not None else None,
                                   mailquery.Range(0, MAX_RESULTS - 1), MAX_RESULTS)
    people = await gal_search(ctx, text)
    page = window.window(people)
    ctx.log(f"Search GAL: {len(people)} found, {len(page)} sent")
    out = [_s("Status", OK)]
    out += [_s("Result", None, _s("Properties", None, *_gal_properties(p))) for p in page]
    if not page:
        out.append(_s("Result"))
    answered = window.answered(len(page))
    if answered:
        out.append(_s("Range", answered))
    out.append(_s("Total", str(len(people))))
    return out


async def _store(ctx, store: Element) -> list[Element]:
    name_el = store.find(S, "Name")
    name = (name_el.text or "").strip() if name_el is not None else ""
    try:
        if name.lower() == "mailbox":
            return await _mailbox_store(ctx, store)
        if name.lower() == "gal":
            return await _gal_store(ctx, store)
        raise InvalidQuery(f"store {name[:40]!r} is not searched here")
    except QueryTooComplex as e:
        ctx.log(f"Search {name[:20]}: too complex: {e}")
        return [_s("Status", TOO_COMPLEX)]
    except ValueError as e:  # InvalidQuery, or a malformed Range
        ctx.log(f"Search {name[:20]}: invalid request: {e}")
        return [_s("Status", INVALID)]
    except SearchTimedOut as e:
        ctx.log(f"Search {name[:20]}: timed out: {e}")
        return [_s("Status", TIMED_OUT)]
    except StorageUnavailable:
        raise
    except SmsyncError as e:
        ctx.log(f"Search {name[:20]}: server error: {e}")
        return [_s("Status", SERVER_ERROR)]


@command("Search", S)
async def search(ctx, body):
    if body is None or (body.namespace, body.tag) != (S, "Search"):
        raise CommandError(400, "Search needs a Search body")
    store = body.find(S, "Store")
    if store is None:
        ctx.log("Search: no Store")
        answer = [_s("Status", INVALID)]
    else:
        answer = await _store(ctx, store)
    return _s("Search", None, _s("Status", OK), _s("Response", None, _s("Store", None, *answer)))


# -- Find -----------------------------------------------------------------------------------


def _f(tag: str, text=None, *children) -> Element:
    return Element(F, tag, children, text)


def _preview(text: str) -> str:
    return " ".join(text.split())[:255]


async def _find_properties(hit) -> list[Element]:
    st = hit.structure
    flags = hit.info.flags
    body = _preview(await mailquery.body_text(hit.mailbox, hit.info.uid, st, 4096))
    items = [
        Element(EMAIL, "Subject", (), st.subject or None),
        Element(EMAIL, "DateReceived", (), eas_date(hit.info.internal_date)),
        Element(EMAIL, "DisplayTo", (), st.to or None),
        _f("DisplayCc", st.cc or None),
        _f("DisplayBcc", st.bcc or None),
        Element(EMAIL, "Importance", (), "1"),
        Element(EMAIL, "Read", (), "1" if "\\Seen" in flags else "0"),
        Element(EMAIL2, "IsDraft", (), "1" if "\\Draft" in flags else "0"),
        _f("Preview", body or None),
        _f("HasAttachments", "1" if st.has_attachments else "0"),
        Element(EMAIL, "From", (), st.from_ or None),
    ]
    return [e for e in items if e.text]


def _find_answer(store_name: str, status: str, results=(), total=None, window=None) -> Element:
    inner = [Element(IO, "Store", (), store_name), _f("Status", status), *results]
    if window is not None and total:
        answered = window.answered(len(results))
        if answered:
            inner.append(_f("Range", answered))
    if total is not None:
        inner.append(_f("Total", str(total)))
    return _f("Find", None, _f("Status", FIND_OK), _f("Response", None, *inner))


def _find_window(criterion: Element):
    options = criterion.find(F, "Options")
    range_el = options.find(F, "Range") if options is not None else None
    window = mailquery.parse_range(range_el.text if range_el is not None else None,
                                   mailquery.Range(0, MAX_RESULTS - 1), MAX_RESULTS)
    return window, options is not None and _flag(options.find(F, "DeepTraversal"))


async def _find_mail(ctx, criterion: Element) -> Element:
    try:
        window, deep = _find_window(criterion)
    except ValueError as e:
        ctx.log(f"Find: invalid request: {e}")
        return _find_answer("Mailbox", FIND_INVALID)
    if window.first != 0:
        return _find_answer("Mailbox", FIND_RANGE_NOT_ZERO)
    query_el = criterion.find(F, "Query")
    try:
        if query_el is None:
            raise InvalidQuery("Find needs a Query")
        parts, wants_email = _parse_query(query_el)
        query = parts.query(deep)
        hits = await _run(ctx, query) if wants_email else []
    except (InvalidQuery, QueryTooComplex) as e:
        # Find has no "too complex": the device is told its query does not validate.
        ctx.log(f"Find: invalid request: {e}")
        return _find_answer("Mailbox", FIND_INVALID)
    except SearchTimedOut as e:
        ctx.log(f"Find: timed out: {e}")
        return _find_answer("Mailbox", FIND_INVALID)
    page = window.window(hits)
    results = [
        _f("Result", None, Element(AS, "Class", (), "Email"),
           Element(AS, "ServerId", (), str(hit.info.uid)),
           Element(AS, "CollectionId", (), hit.folder_id),
           _f("Properties", None, *await _find_properties(hit)))
        for hit in page
    ]
    ctx.log(f"Find Mailbox: {len(hits)} found, {len(page)} sent")
    return _find_answer("Mailbox", FIND_OK, results, len(hits), window)


async def _find_gal(ctx, criterion: Element) -> Element:
    try:
        window, _ = _find_window(criterion)
    except ValueError as e:
        ctx.log(f"Find GAL: invalid request: {e}")
        return _find_answer("GAL", FIND_INVALID)
    if window.first != 0:
        return _find_answer("GAL", FIND_RANGE_NOT_ZERO)
    query = criterion.find(F, "Query")
    free = query.find(F, "FreeText") if query is not None else None
    text = (free.text if free is not None else (query.text if query is not None else None)) or ""
    if not text.strip():
        ctx.log("Find GAL: invalid request: no FreeText")
        return _find_answer("GAL", FIND_INVALID)
    people = await gal_search(ctx, text)
    page = window.window(people)
    results = [_f("Result", None, _f("Properties", None, *_gal_properties(p))) for p in page]
    ctx.log(f"Find GAL: {len(people)} found, {len(page)} sent")
    return _find_answer("GAL", FIND_OK, results, len(people), window)


@command("Find", F)
async def find(ctx, body):
    if body is None or (body.namespace, body.tag) != (F, "Find"):
        raise CommandError(400, "Find needs a Find body")
    execute = body.find(F, "ExecuteSearch")
    mail = execute.find(F, "MailBoxSearchCriterion") if execute is not None else None
    gal = execute.find(F, "GalSearchCriterion") if execute is not None else None
    if mail is not None:
        return await _find_mail(ctx, mail)
    if gal is not None:
        return await _find_gal(ctx, gal)
    ctx.log("Find: no search criterion")
    return _f("Find", None, _f("Status", FIND_INVALID))
