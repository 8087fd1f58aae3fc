"""The directory and mailbox settings clients ask for: ResolveNames over the server's
accounts, and GetInboxRules (no server-side rules here: an empty list, so clients that
ask do not fail)."""

from __future__ import annotations

from lxml import etree

from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import M, T, m, response, response_message, t

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


@operation("ResolveNames")
async def resolve_names(ctx, request):
    entry = request.findtext(m("UnresolvedEntry"))
    if entry is None:
        raise EWSError(SCHEMA_VALIDATION, "no UnresolvedEntry")
    accounts = await ctx.store.accounts.list()
    found = _matches(entry, accounts)[:MAX_RESOLUTIONS + 1]
    if not found:
        return response("ResolveNames", [response_message(
            "ResolveNames", "ErrorNameResolutionNoResults", "No results were found.")])
    shown = found[:MAX_RESOLUTIONS]
    holder = etree.Element(m("ResolutionSet"), TotalItemsInView=str(len(shown)),
                           IncludesLastItemInRange="true" if len(found) <= MAX_RESOLUTIONS else "false")
    for address in shown:
        resolution = etree.SubElement(holder, t("Resolution"))
        mailbox = etree.SubElement(resolution, t("Mailbox"))
        etree.SubElement(mailbox, t("Name")).text = address.partition("@")[0]
        etree.SubElement(mailbox, t("EmailAddress")).text = address
        etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
        etree.SubElement(mailbox, t("MailboxType")).text = "Mailbox"
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
