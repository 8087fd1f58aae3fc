"""Administration: the protocol policy -- which protocols an account may use, per
domain and per account -- as a page and as API calls, through ``smsync.admin.policy``
(what ``smsync policy`` uses). A change applies in this process at once (the edge's
``Policy`` forgets its answers) and in others within the policy's few seconds."""

from __future__ import annotations

from smsync.admin import policy
from smsync.edge.policy import PROTOCOLS
from smsync.errors import InvalidData, NotFound
from smsync.web import render
from smsync.web.handlers.admin_common import form_lists, no_content
from smsync.web.openapi import PROBLEMS
from smsync.web.request import WebError, bad_request, not_found
from smsync.web.routes import ADMIN, api, page

PAGE = "/web/admin/policy"

#: What each protocol name means on the page.
NAMES = {"imap": "IMAP", "pop3": "POP3", "submission": "SMTP submission (sending mail)",
         "dav": "CalDAV and CardDAV", "eas": "Exchange ActiveSync", "ews": "Exchange Web Services",
         "syncml": "SyncML"}

_DONE = {"set": "The rule was saved; it applies from the next login or request.",
         "cleared": "The rule was removed."}


def _subject(text) -> str:
    try:
        return policy.subject(text)
    except InvalidData as e:
        raise bad_request(str(e), "subject") from None


def _protocols(value) -> frozenset:
    try:
        return policy.protocols_of(value)
    except InvalidData as e:
        raise bad_request(str(e), "protocols") from None


def _rules(req):
    try:
        return policy.rules_of(req.store)
    except policy.NoPolicy as e:
        raise WebError(409, "Conflict", str(e)) from None


async def _page(req, status=200, error=None, field=None, form=None):
    supported = policy.supported(req.store)
    rules = await policy.list_rules(req.store) if supported else []
    looked = None
    lookup = (req.query("subject") or "").strip()
    if lookup and error is None:
        try:
            looked = await policy.effective(req.store, lookup)
        except InvalidData as e:
            status, error, field = 400, str(e), "lookup"
    return render.page(req, "admin_policy.html", status=status, title="Protocol policy",
                       supported=supported, rules=rules, protocols=PROTOCOLS, names=NAMES,
                       looked=looked, lookup=lookup, done=_DONE.get(req.query("done") or ""),
                       error=error, field=field, form=form or {})


@page("GET", PAGE, access=ADMIN)
async def policy_page(req):
    return await _page(req)


@page("POST", PAGE, access=ADMIN)
async def policy_set(req):
    fields = form_lists(req)
    subject_text = (fields.get("subject") or [""])[-1]
    chosen = fields.get("protocols", [])
    try:
        subject = _subject(subject_text)
        protocols = _protocols(chosen)
        _rules(req)
        await policy.set_rule(req.store, subject, protocols, req.edge.policy)
    except WebError as e:
        if e.status >= 500:
            raise
        return await _page(req, status=e.status, error=e.detail, field=e.field,
                           form={"subject": subject_text, "protocols": set(chosen)})
    return render.redirect(PAGE + "?done=set")


@page("POST", PAGE + "/clear", access=ADMIN)
async def policy_clear(req):
    form = req.form()
    try:
        subject = _subject(form.get("subject", ""))
        _rules(req)
        await policy.clear_rule(req.store, subject, req.edge.policy)
    except NotFound as e:
        return await _page(req, status=404, error=str(e).strip("'\""))
    except WebError as e:
        if e.status >= 500:
            raise
        return await _page(req, status=e.status, error=e.detail, field=e.field)
    return render.redirect(PAGE + "?done=cleared")


# -- API ------------------------------------------------------------------------------

PROTOCOL_LIST = {"type": "array", "items": {"type": "string", "enum": list(PROTOCOLS)}}
RULE = {"type": "object", "required": ["subject", "protocols"], "properties": {
    "subject": {"type": "string"}, "protocols": PROTOCOL_LIST}}
EFFECTIVE = {"type": "object", "required": ["subject", "protocols"], "properties": {
    "subject": {"type": "string"}, "protocols": PROTOCOL_LIST,
    "source": {"type": "string", "nullable": True,
               "description": "whose rule applies: the subject, its domain, or null (no rule: all)"}}}
RULES = {"type": "object", "required": ["items", "protocols"], "properties": {
    "items": {"type": "array", "items": RULE}, "protocols": PROTOCOL_LIST,
    "supported": {"type": "boolean"}}}
RULE_CHANGE = {"type": "object", "required": ["protocols"], "properties": {"protocols": PROTOCOL_LIST}}
_ADMIN = {"tags": ["administration"]}
_SUBJECT = [{"name": "subject", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "an account (user@domain) or a domain"}]
_EXTRA = {"409": {"description": "the store cannot hold a policy", "content": {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "415": {"description": "not JSON", "content": {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


@api("GET", "/api/v1/admin/policy", access=ADMIN, **_ADMIN,
     summary="Every rule, and the protocol names a rule may hold",
     responses={"200": {"description": "the rules", "content": {"application/json": {"schema": RULES}}},
                **PROBLEMS})
async def list_policy(req):
    supported = policy.supported(req.store)
    rules = await policy.list_rules(req.store) if supported else []
    return render.json_answer({"items": [r.as_json() for r in rules], "protocols": list(PROTOCOLS),
                               "supported": supported})


@api("GET", "/api/v1/admin/policy/{subject}", access=ADMIN, **_ADMIN, parameters=_SUBJECT,
     summary="The protocols an account or domain may use, and whose rule says so",
     responses={"200": {"description": "what applies",
                        "content": {"application/json": {"schema": EFFECTIVE}}}, **PROBLEMS})
async def get_policy(req, subject: str):
    return render.json_answer((await policy.effective(req.store, _subject(subject))).as_json())


@api("PUT", "/api/v1/admin/policy/{subject}", access=ADMIN, **_ADMIN, parameters=_SUBJECT,
     summary="Allow exactly these protocols to an account or a domain",
     requestBody={"required": True, "content": {"application/json": {"schema": RULE_CHANGE}}},
     responses={"200": {"description": "the rule", "content": {"application/json": {"schema": RULE}}},
                **PROBLEMS, **_EXTRA})
async def put_policy(req, subject: str):
    body = req.json_object()
    who = _subject(subject)
    if not isinstance(body.get("protocols"), list):
        raise bad_request("protocols is a list of protocol names", "protocols")
    protocols = _protocols(body["protocols"])
    _rules(req)
    rule = await policy.set_rule(req.store, who, protocols, req.edge.policy)
    return render.json_answer(rule.as_json())


@api("DELETE", "/api/v1/admin/policy/{subject}", access=ADMIN, **_ADMIN, parameters=_SUBJECT,
     summary="Remove an account's or domain's rule (the domain's, else all, applies)",
     responses={"204": {"description": "removed"}, **PROBLEMS, **_EXTRA})
async def delete_policy(req, subject: str):
    who = _subject(subject)
    _rules(req)
    try:
        await policy.clear_rule(req.store, who, req.edge.policy)
    except NotFound:
        raise not_found(f"{who} has no rule") from None
    return no_content()

