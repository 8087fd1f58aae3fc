"""ResolveNames and ExpandDL (MS-OXWSRSLNM, MS-OXWSXPDL) over the server's accounts (the
directory, "ActiveDirectory" to a client) and the account's own address books
("Contacts"), through the core's ``smsync.edge.directory`` that EAS ResolveRecipients
uses too: a contact made over CardDAV or EAS is found here at once.

Distribution lists are the contact groups of the address books (vCard ``KIND:group``
with ``MEMBER``s): the store keeps no server-wide aliases or groups. A group is found by
ResolveNames (as a PrivateDL with its ItemId) and expanded by ExpandDL, by its ItemId or
its name.
"""

from __future__ import annotations

from typing import Optional

from lxml import etree

from smsync.edge import directory
from smsync.errors import NotFound, SmsyncError
from smsync.protocols.ews import contacts, ids, tree
from smsync.protocols.ews.errors import (
    ACCESS_DENIED,
    INVALID_ID_MALFORMED,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.shapes import ALL, Shape
from smsync.protocols.ews.soap import m, response, response_message, t, text, xs_bool

NO_RESULTS = "ErrorNameResolutionNoResults"
MULTIPLE_RESULTS = "ErrorNameResolutionMultipleResults"

#: ResolveNames answers at most this many candidates (MS-OXWSRSLNM 3.1.4.1).
MAX_CANDIDATES = 100
#: The longest UnresolvedEntry looked up.
MAX_ENTRY = 256

_SCOPES = {"ActiveDirectory": (True, False), "ActiveDirectoryContacts": (True, True),
           "Contacts": (False, True), "ContactsActiveDirectory": (True, True)}


def _sub(parent, tag: str, value: Optional[str] = None):
    node = etree.SubElement(parent, t(tag))
    if value is not None:
        node.text = text(value)
    return node


def _contact_item_id(account: str, source: str, name: str) -> str:
    return ids.item_id(ids.ItemRef(account, ids.ITEM, source, name))


def mailbox_element(account: str, person: directory.Person, tag: str = "Mailbox"):
    """The ``<t:Mailbox>`` of a directory entry: an account is a Mailbox, a card of
    the address book a Contact with its ItemId."""
    node = etree.Element(t(tag))
    _sub(node, "Name", person.display_name)
    _sub(node, "EmailAddress", person.email)
    _sub(node, "RoutingType", "SMTP")
    if person.kind == directory.GAL:
        _sub(node, "MailboxType", "Mailbox")
    elif person.source and person.name:
        _sub(node, "MailboxType", "Contact")
        _sub(node, "ItemId").set("Id", _contact_item_id(account, person.source, person.name))
    else:
        _sub(node, "MailboxType", "OneOff")
    return node


def group_mailbox(account: str, group: directory.Group):
    node = etree.Element(t("Mailbox"))
    _sub(node, "Name", group.display_name)
    _sub(node, "RoutingType", "MAPIPDL")
    _sub(node, "MailboxType", "PrivateDL")
    _sub(node, "ItemId").set("Id", _contact_item_id(account, group.source, group.name))
    return node


async def _stored_cards(ctx, people) -> dict:
    """``(source, name) -> (revision, content)`` of the address-book cards of ``people``."""
    wanted: dict = {}
    for person in people:
        if person.kind == directory.CONTACT and person.source and person.name:
            wanted.setdefault(person.source, set()).add(person.name)
    out = {}
    if not wanted:
        return out
    collections = await ctx.store.collections(ctx.account)
    for source, names in wanted.items():
        try:
            book = await collections.collection_by_id(source)
            for item in await book.get(sorted(names)):
                out[(source, item.info.name)] = (item.info.revision, item.content)
        except NotFound:
            continue  # deleted meanwhile
    return out


def full_contact(account: str, person: directory.Person, cards: dict):
    """The ``<t:Contact>`` ReturnFullContactData asks for: a stored card as the contacts
    converter shows it (with its ItemId), an account from what the directory knows."""
    stored = cards.get((person.source, person.name))
    if stored is not None:
        try:
            return contacts.contact_element(account, person.source, person.name, stored[0],
                                            stored[1], Shape(ALL))
        except EWSError:
            pass  # a card the converter cannot read: what the directory read of it
    return contact_element(person)


def contact_element(person: directory.Person):
    """The ``<t:Contact>`` of a directory entry, in schema order."""
    node = etree.Element(t("Contact"))
    _sub(node, "DisplayName", person.display_name)
    if person.first_name:
        _sub(node, "GivenName", person.first_name)
    if person.company:
        _sub(node, "CompanyName", person.company)
    emails = _sub(node, "EmailAddresses")
    _sub(emails, "Entry", f"SMTP:{person.email}").set("Key", "EmailAddress1")
    if person.phone:
        phones = _sub(node, "PhoneNumbers")
        _sub(phones, "Entry", person.phone).set("Key", "BusinessPhone")
    _sub(node, "ContactSource", "ActiveDirectory" if person.kind == directory.GAL else "Store")
    if person.title:
        _sub(node, "JobTitle", person.title)
    if person.last_name:
        _sub(node, "Surname", person.last_name)
    return node


def _entry_text(raw: str) -> str:
    entry = (raw or "").strip()
    if entry.lower().startswith("smtp:"):
        entry = entry[5:].strip()
    return entry


async def _parent_sources(ctx, request) -> Optional[set]:
    """The address books ParentFolderIds limits contacts to (None: all of them)."""
    holder = request.find(m("ParentFolderIds"))
    if holder is None:
        return None
    folders = await tree.all_folders(ctx)
    sources = set()
    for element in holder:
        if isinstance(element.tag, str):
            sources.add((await tree.resolve(ctx, element, folders)).ref.source)
    return sources


@operation("ResolveNames")
async def resolve_names(ctx, request):
    full = xs_bool(request.get("ReturnFullContactData"))
    scope = request.get("SearchScope", "ActiveDirectoryContacts")
    if scope not in _SCOPES:
        raise EWSError(SCHEMA_VALIDATION, f"SearchScope {scope[:40]!r}")
    entries = [e for e in request if isinstance(e.tag, str) and e.tag == m("UnresolvedEntry")]
    if not entries:
        raise EWSError(SCHEMA_VALIDATION, "no UnresolvedEntry")
    use_gal, use_contacts = _SCOPES[scope]
    try:
        parents = await _parent_sources(ctx, request)
    except (EWSError, SmsyncError) as e:
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"ResolveNames: {error.code}: {error.message}")
        return response("ResolveNames", [response_message("ResolveNames", error.code, error.message)
                                         for _ in entries])
    people, groups = [], []
    if use_gal:
        people += await directory.gal(ctx.store)
    if use_contacts:
        book = await directory.address_book(ctx.store, ctx.account)
        people += [p for p in book.people if parents is None or p.source in parents]
        groups = [g for g in book.groups if parents is None or g.source in parents]
    answers = []
    for entry in entries:
        wanted = _entry_text(entry.text)
        if not wanted or len(wanted) > MAX_ENTRY:
            ctx.log(f"ResolveNames: {NO_RESULTS}: an empty or overlong entry")
            answers.append(response_message("ResolveNames", NO_RESULTS, "No results were found."))
            continue
        found = directory.resolve(people, wanted)
        needle = wanted.casefold()
        matched_groups = [] if "@" in wanted else [g for g in groups if g.matches(needle)]
        total = len(found) + len(matched_groups)
        if total == 0:
            ctx.log(f"ResolveNames: {NO_RESULTS}: {wanted[:80]!r}")
            answers.append(response_message("ResolveNames", NO_RESULTS, "No results were found."))
            continue
        shown = min(total, MAX_CANDIDATES)
        cards = await _stored_cards(ctx, found[:MAX_CANDIDATES]) if full else {}
        holder = etree.Element(m("ResolutionSet"), TotalItemsInView=str(shown),
                               IncludesLastItemInRange="true" if total <= MAX_CANDIDATES else "false")
        for person in found[:MAX_CANDIDATES]:
            resolution = _sub(holder, "Resolution")
            resolution.append(mailbox_element(ctx.account, person))
            if full:
                resolution.append(full_contact(ctx.account, person, cards))
        for group in matched_groups[:MAX_CANDIDATES - len(found[:MAX_CANDIDATES])]:
            _sub(holder, "Resolution").append(group_mailbox(ctx.account, group))
        if total == 1:
            answers.append(response_message("ResolveNames", children=[holder]))
        else:
            ctx.log(f"ResolveNames: {MULTIPLE_RESULTS}: {wanted[:80]!r} names {total} entries")
            answers.append(response_message(
                "ResolveNames", MULTIPLE_RESULTS,
                "Multiple results were found.", [holder], response_class="Warning"))
    return response("ResolveNames", answers)


def _find_group(ctx, book: directory.AddressBook, node) -> directory.Group:
    """The contact group an ExpandDL ``<m:Mailbox>`` names, by ItemId or by name/address."""
    id_el = node.find(t("ItemId"))
    if id_el is not None:
        try:
            ref = ids.parse_item_id(id_el.get("Id") or "")
        except ids.MalformedId as e:
            raise EWSError(INVALID_ID_MALFORMED, f"item id: {e}") from None
        if ref.account != ctx.account:
            raise EWSError(ACCESS_DENIED, "the list belongs to another account")
        for group in book.groups:
            if (group.source, group.name) == (ref.source, ref.key):
                return group
        raise EWSError(NO_RESULTS, "no such distribution list")
    wanted = _entry_text(node.findtext(t("EmailAddress")) or node.findtext(t("Name")) or "")
    if wanted:
        needle = wanted.casefold()
        exact = [g for g in book.groups if needle in (g.display_name.casefold(), g.uid.casefold())]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise EWSError(MULTIPLE_RESULTS, f"{len(exact)} lists are named {wanted[:80]!r}")
    raise EWSError(NO_RESULTS, f"no distribution list {wanted[:80]!r}")


@operation("ExpandDL")
async def expand_dl(ctx, request):
    node = request.find(m("Mailbox"))
    if node is None:
        raise EWSError(SCHEMA_VALIDATION, "no Mailbox")
    book = await directory.address_book(ctx.store, ctx.account)
    try:
        group = _find_group(ctx, book, node)
    except EWSError as e:
        ctx.log(f"ExpandDL: {e.code}: {e.message}")
        return response("ExpandDL", [response_message("ExpandDL", e.code, e.message)])
    members = book.members(group)
    holder = etree.Element(m("DLExpansion"), TotalItemsInView=str(len(members)),
                           IncludesLastItemInRange="true")
    for person in members:
        holder.append(mailbox_element(ctx.account, person))
    ctx.log(f"ExpandDL: {group.display_name[:60]!r} has {len(members)} member(s)")
    return response("ExpandDL", [response_message("ExpandDL", children=[holder])])
