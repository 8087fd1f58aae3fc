"""The directory and mailbox settings clients ask for: ResolveNames over the account's
own contacts and the server's accounts (as SearchScope says), and GetInboxRules (no server-side rules here: an empty list, so clients that
ask do not fail)."""

from __future__ import annotations

from lxml import etree

from smsync.model import CollectionKind
from smsync.protocols.ews import contacts
from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.shapes import ALL, Shape
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import M, T, m, response, response_message, t, text, xs_bool

#: Most resolutions given for one entry (Exchange's own limit).
MAX_RESOLUTIONS = 100


def _matches(entry: str, accounts: list[str]) -> list[str]:
    wanted = entry.strip().lower()
    if wanted.startswith("smtp:"):
        wanted = wanted[5:]
    if not wanted:
        return []
    exact = [a for a in accounts if a == wanted]
    if exact:
        return exact
    return [a for a in accounts if a.startswith(wanted) or a.partition("@")[0].startswith(wanted)]


async def _contact_matches(ctx, entry: str, full: bool) -> list:
    """``(name, address, contact element or None)`` of the account's own contacts whose
    name or an address starts with ``entry`` (a word of the name will do)."""
    wanted = entry.strip().lower().removeprefix("smtp:")
    if not wanted:
        return []
    out = []
    collections = await ctx.store.collections(ctx.account)
    for info in await collections.list_collections(CollectionKind.ADDRESSBOOK):
        collection = await collections.collection(info.name)
        names = [i.name for i in await collection.items() if i.component == "VCARD"]
        for item in await collection.get(names):
            try:
                fields = contacts.fields_of(contacts.load(item.content))
            except EWSError:
                continue
            name = fields.get("DisplayName", "")
            addresses = list(fields.get("EmailAddresses", {}).values())
            words = [name.lower(), *name.lower().split(), *(a.lower() for a in addresses)]
            if not any(w.startswith(wanted) for w in words) or not addresses:
                continue
            element = contacts.contact_element(ctx.account, info.id, item.info.name, item.info.revision,
                                               item.content, Shape(ALL)) if full else None
            out.append((name or addresses[0], addresses[0], element))
    return out


@operation("ResolveNames")
async def resolve_names(ctx, request):
    entry = request.findtext(m("UnresolvedEntry"))
    if entry is None:
        raise EWSError(SCHEMA_VALIDATION, "no UnresolvedEntry")
    scope = request.get("SearchScope", "ActiveDirectoryContacts")
    full = xs_bool(request.get("ReturnFullContactData"))
    found = []
    if scope in ("Contacts", "ContactsActiveDirectory", "ActiveDirectoryContacts"):
        found += [(name, address, "Contact", element)
                  for name, address, element in await _contact_matches(ctx, entry, full)]
    if scope in ("ActiveDirectory", "ContactsActiveDirectory", "ActiveDirectoryContacts"):
        accounts = await ctx.store.accounts.list()
        known = {address.lower() for _n, address, _k, _e in found}
        found += [(a.partition("@")[0], a, "Mailbox", None) for a in _matches(entry, accounts)
                  if a not in known]
    if scope == "ActiveDirectoryContacts":
        found.sort(key=lambda f: f[2] != "Mailbox")
    found = found[:MAX_RESOLUTIONS + 1]
    if not found:
        return response("ResolveNames", [response_message(
            "ResolveNames", "ErrorNameResolutionNoResults", "No results were found.")])
    shown = found[:MAX_RESOLUTIONS]
    holder = etree.Element(m("ResolutionSet"), TotalItemsInView=str(len(shown)),
                           IncludesLastItemInRange="true" if len(found) <= MAX_RESOLUTIONS else "false")
    for name, address, kind, element in shown:
        resolution = etree.SubElement(holder, t("Resolution"))
        mailbox = etree.SubElement(resolution, t("Mailbox"))
        etree.SubElement(mailbox, t("Name")).text = text(name)
        etree.SubElement(mailbox, t("EmailAddress")).text = text(address)
        etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
        etree.SubElement(mailbox, t("MailboxType")).text = kind
        if element is not None:
            resolution.append(element)
    if len(shown) == 1:
        answer = response_message("ResolveNames", children=[holder])
    else:
        answer = response_message("ResolveNames", "ErrorNameResolutionMultipleResults",
                                  "Multiple results were found.", [holder], response_class="Warning")
    return response("ResolveNames", [answer])


@operation("GetInboxRules")
async def get_inbox_rules(ctx, request):
    node = etree.Element(m("GetInboxRulesResponse"), ResponseClass="Success", nsmap={"m": M, "t": T})
    etree.SubElement(node, m("ResponseCode")).text = "NoError"
    etree.SubElement(node, m("OutlookRuleBlobExists")).text = "false"
    etree.SubElement(node, m("InboxRules"))
    return node
