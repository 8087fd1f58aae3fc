"""Administration: accounts -- a list with search and paging, adding, and per account
the administrator flag, the storage quota, a new password and deletion -- as pages and
as API calls, through ``smsync.admin.accounts`` (what ``smsync user`` uses).

A form with a bad value is shown again with what is wrong, and nothing changes. An
administrator cannot take away their own flag nor delete their own account here (the
CLI can): nobody locks the last administrator out by a slip of the mouse."""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote, urlencode

from twisted.internet.defer import Deferred, gatherResults

from smsync.admin import accounts
from smsync.admin.passwords import password_problem
from smsync.errors import AlreadyExists, InvalidData, NotFound
from smsync.web import render
from smsync.web.handlers.admin_common import confirmed, no_content
from smsync.web.openapi import LIST_OF, PROBLEMS
from smsync.web.request import WebError, bad_request, not_found
from smsync.web.routes import ADMIN, api, page

PAGE = "/web/admin/accounts"
PAGE_SIZE = 50

#: What ``?done=`` after a change says.
_DONE = {"added": "The account was added.", "deleted": "The account and everything it held were deleted.",
         "admin-on": "The account is now an administrator.",
         "admin-off": "The account is no longer an administrator.",
         "quota": "The quota was changed.",
         "password": "The password was changed; the account's web sessions have ended."}


def _account_url(name: str) -> str:
    return f"{PAGE}/{quote(name, safe='@')}"


async def _views(store, names) -> list:
    """The rows of a page, read at once (each a few small reads)."""
    found = await gatherResults([Deferred.fromCoroutine(_one(store, n)) for n in names],
                                consumeErrors=True)
    return [v for v in found if v is not None]


async def _one(store, name):
    try:
        return (await accounts.views(store, [name]) or [None])[0]
    except NotFound:
        return None


def _limit(text: Optional[str]) -> int:
    if text in (None, ""):
        return PAGE_SIZE
    if not text.isdigit() or not 1 <= int(text) <= accounts.MAX_PAGE:
        raise bad_request(f"limit is a whole number from 1 to {accounts.MAX_PAGE}", "limit")
    return int(text)


def _flag(text: Optional[str], name: str) -> bool:
    if text in (None, "", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise bad_request(f"{name} is true or false", name)


def _search(text: Optional[str]) -> str:
    search = (text or "").strip()
    if len(search) > 320:
        raise bad_request("the search is longer than 320 characters", "search")
    if any(ord(c) < 32 for c in search):
        raise bad_request("the search holds control characters", "search")
    return search


def _new_password(account: str, password, again=None) -> str:
    if not isinstance(password, str) or not password:
        raise bad_request("Enter a password.", "password")
    if again is not None and again != password:
        raise bad_request("The two passwords differ: type the same one twice.", "password_again")
    problem = password_problem(account, password)
    if problem is not None:
        raise bad_request(problem.replace("The new password", "The password"), "password")
    return password


def _quota(text) -> Optional[int]:
    try:
        return accounts.parse_size(text)
    except InvalidData as e:
        raise bad_request(str(e), "quota") from None


def _address(text) -> str:
    try:
        return accounts.check_account(text)
    except InvalidData as e:
        raise bad_request(str(e), "address") from None


async def _existing(req, account: str) -> accounts.AccountView:
    try:
        return await accounts.view(req.store, account)
    except NotFound:
        raise not_found(f"there is no account {account}") from None


async def add_account(req, address, password, admin: bool, quota_text, again=None) -> str:
    """Create an account from what a form or the API gave; ``WebError`` naming the field
    at fault, and nothing created."""
    account = _address(address)
    _new_password(account, password, again)
    quota = _quota(quota_text)
    if (admin or quota is not None) and accounts.settings_of(req.store) is None:
        raise bad_request("this store keeps no account settings: no administrators, no quotas")
    try:
        await accounts.add(req.store, account, password, admin=admin)
    except AlreadyExists:
        raise WebError(409, "Conflict", f"the account {account} already exists", "address") from None
    if quota is not None:
        await accounts.set_quota(req.store, account, quota)
    return account


async def change_admin(req, account: str, on: bool) -> None:
    view = await _existing(req, account)
    if not on and view.name == req.account:
        raise bad_request("You cannot take away your own administrator flag here "
                          "(another administrator, or smsync user admin, can).", "admin")
    await accounts.set_admin(req.store, view.name, on)


async def change_quota(req, account: str, quota: Optional[int]) -> None:
    view = await _existing(req, account)
    await accounts.set_quota(req.store, view.name, quota)
    quotas = getattr(req.edge, "quotas", None)
    if quotas is not None:
        quotas.forget(view.name)


async def reset_password(req, account: str, password, again=None) -> None:
    """A new password for ``account``: its web sessions end and this process forgets
    its verified credentials, so the old password stops working at once."""
    view = await _existing(req, account)
    _new_password(view.name, password, again)
    await accounts.set_password(req.store, view.name, password)
    await req.app.sessions.end_all(view.name)
    req.edge.logins.password_changed(view.name)


async def delete_account(req, account: str) -> None:
    view = await _existing(req, account)
    if view.name == req.account:
        raise bad_request("You cannot delete your own account here.")
    await accounts.delete(req.store, view.name)


# -- pages ----------------------------------------------------------------------------


async def _list_page(req, status=200, error=None, field=None, form=None):
    search = _search(req.query("search"))
    prefix = req.query("match") == "prefix"
    after = req.query("after") or None
    names, more = await accounts.page(req.store, search, after, PAGE_SIZE, prefix)
    rows = await _views(req.store, names)
    next_url = None
    if more is not None:
        next_url = PAGE + "?" + urlencode({"search": search, "match": "prefix" if prefix else "contains",
                                           "after": more})
    return render.page(req, "admin_accounts.html", status=status, title="Accounts", rows=rows,
                       search=search, prefix=prefix, after=after, next_url=next_url,
                       done=_DONE.get(req.query("done") or ""), error=error, field=field,
                       form=form or {}, account_url=_account_url, size=accounts.format_size,
                       settings=accounts.settings_of(req.store) is not None)


@page("GET", "/web/admin", access=ADMIN)
async def admin_home(req):
    return render.redirect(PAGE)


@page("GET", PAGE, access=ADMIN)
async def accounts_page(req):
    return await _list_page(req)


@page("POST", PAGE, access=ADMIN)
async def accounts_add(req):
    form = req.form()
    try:
        account = await add_account(req, form.get("address", ""), form.get("password", ""),
                                    form.get("admin") == "on", form.get("quota", ""),
                                    form.get("password_again", ""))
    except WebError as e:
        if e.status >= 500:
            raise
        kept = {"address": form.get("address", ""), "quota": form.get("quota", ""),
                "admin": form.get("admin") == "on"}
        return await _list_page(req, status=e.status, error=e.detail, field=e.field, form=kept)
    return render.redirect(_account_url(account) + "?done=added")


async def _account_page(req, account: str, status=200, error=None, field=None):
    view = await _existing(req, account)
    return render.page(req, "admin_account.html", status=status, title=view.name, view=view,
                       done=_DONE.get(req.query("done") or ""), error=error, field=field,
                       account_url=_account_url, size=accounts.format_size,
                       settings=accounts.settings_of(req.store) is not None,
                       enforced=getattr(req.edge, "quotas", None) is not None
                       and req.edge.quotas.supported)


@page("GET", PAGE + "/{account}", access=ADMIN)
async def account_page(req, account: str):
    return await _account_page(req, account)


async def _form_change(req, account: str, change, done: str):
    """Run ``change`` (a coroutine function) for a form; on a bad value, the account's
    page again with what is wrong."""
    try:
        await change()
    except WebError as e:
        if e.status >= 500 or e.status == 404:
            raise
        return await _account_page(req, account, status=e.status, error=e.detail, field=e.field)
    except InvalidData as e:
        return await _account_page(req, account, status=400, error=str(e))
    return render.redirect(_account_url(account) + "?done=" + done)


@page("POST", PAGE + "/{account}/admin", access=ADMIN)
async def account_admin(req, account: str):
    form = req.form()
    on = form.get("admin") == "on"
    return await _form_change(req, account, lambda: change_admin(req, account, on),
                              "admin-on" if on else "admin-off")


@page("POST", PAGE + "/{account}/quota", access=ADMIN)
async def account_quota(req, account: str):
    form = req.form()

    async def change():
        await change_quota(req, account, _quota(form.get("quota", "")))

    return await _form_change(req, account, change, "quota")


@page("POST", PAGE + "/{account}/password", access=ADMIN)
async def account_password(req, account: str):
    form = req.form()
    return await _form_change(req, account, lambda: reset_password(
        req, account, form.get("password", ""), form.get("password_again", "")), "password")


@page("POST", PAGE + "/{account}/delete", access=ADMIN)
async def account_delete(req, account: str):
    form = req.form()

    async def change():
        if not confirmed(form):
            raise bad_request("Tick the box to confirm that everything of this account is deleted.",
                              "confirm")
        await delete_account(req, account)

    answer = await _form_change(req, account, change, "deleted")
    if answer.status == 303:
        return render.redirect(PAGE + "?done=deleted")
    return answer


# -- API ------------------------------------------------------------------------------

ACCOUNT = {"type": "object", "required": ["name", "admin"], "properties": {
    "name": {"type": "string"}, "admin": {"type": "boolean"},
    "quota": {"type": "integer", "nullable": True, "description": "octets; null: none"},
    "used": {"type": "integer", "nullable": True,
             "description": "octets of mail; null: the store does not count it"}}}

NEW_ACCOUNT = {"type": "object", "required": ["address", "password"], "properties": {
    "address": {"type": "string"}, "password": {"type": "string"},
    "admin": {"type": "boolean"},
    "quota": {"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True,
              "description": "octets, or a size such as 500M or 2G; null: none"}}}

ACCOUNT_CHANGE = {"type": "object", "properties": {
    "admin": {"type": "boolean"},
    "quota": {"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True,
              "description": "octets, or a size such as 500M or 2G; null: none"},
    "password": {"type": "string", "description": "a new password; the account's web sessions end"}}}

_ADMIN = {"tags": ["administration"]}
_JSON_PROBLEM = {"415": {"description": "not JSON", "content": {"application/problem+json": {
    "schema": {"$ref": "#/components/schemas/Problem"}}}}}
_CONFLICT = {"409": {"description": "the account exists", "content": {"application/problem+json": {
    "schema": {"$ref": "#/components/schemas/Problem"}}}}}


def _query_parameter(name, description, schema=None):
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


@api("GET", "/api/v1/admin/accounts", access=ADMIN, **_ADMIN,
     summary="A page of accounts, by name, matching a search",
     parameters=[_query_parameter("search", "a part of the name (or its start, with prefix=true)"),
                 _query_parameter("prefix", "match the start of the name", {"type": "boolean"}),
                 _query_parameter("after", "the next value of the previous page"),
                 _query_parameter("limit", f"accounts per page (1 to {accounts.MAX_PAGE}; default "
                                           f"{PAGE_SIZE})", {"type": "integer", "minimum": 1,
                                                             "maximum": accounts.MAX_PAGE})],
     responses={"200": {"description": "the page; next is null after the last",
                        "content": {"application/json": {"schema": LIST_OF(ACCOUNT, paged=True)}}},
                **PROBLEMS})
async def list_accounts(req):
    # The API takes what its document says: an empty number or flag is a mistake.
    for name in ("prefix", "limit"):
        if req.query(name) == "":
            raise bad_request(f"{name} is empty", name)
    search = _search(req.query("search"))
    names, more = await accounts.page(req.store, search, req.query("after") or None,
                                      _limit(req.query("limit")), _flag(req.query("prefix"), "prefix"))
    rows = await _views(req.store, names)
    return render.json_answer({"items": [r.as_json() for r in rows], "next": more,
                               "total": await accounts.count(req.store)})


@api("POST", "/api/v1/admin/accounts", access=ADMIN, **_ADMIN, summary="Add an account",
     requestBody={"required": True, "content": {"application/json": {"schema": NEW_ACCOUNT}}},
     responses={"201": {"description": "added", "content": {"application/json": {"schema": ACCOUNT}}},
                **PROBLEMS, **_CONFLICT, **_JSON_PROBLEM})
async def create_account(req):
    body = req.json_object()
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise bad_request("admin is true or false", "admin")
    for name in ("address", "password"):
        if not isinstance(body.get(name), str):
            raise bad_request(f"{name} is a string", name)
    account = await add_account(req, body["address"], body["password"], admin, body.get("quota"))
    view = await accounts.view(req.store, account)
    return render.json_answer(view.as_json(), 201, {"Location": "/api/v1/admin/accounts/" + quote(account, safe="@")})


@api("GET", "/api/v1/admin/accounts/{account}", access=ADMIN, **_ADMIN,
     summary="One account: its administrator flag, quota and usage",
     responses={"200": {"description": "the account", "content": {"application/json": {"schema": ACCOUNT}}},
                **PROBLEMS})
async def get_account(req, account: str):
    return render.json_answer((await _existing(req, account)).as_json())


@api("PATCH", "/api/v1/admin/accounts/{account}", access=ADMIN, **_ADMIN,
     summary="Change an account's administrator flag, quota or password (all checked before any changes)",
     requestBody={"required": True, "content": {"application/json": {"schema": ACCOUNT_CHANGE}}},
     responses={"200": {"description": "the account as changed",
                        "content": {"application/json": {"schema": ACCOUNT}}},
                **PROBLEMS, **_JSON_PROBLEM})
async def patch_account(req, account: str):
    body = req.json_object()
    unknown = sorted(set(body) - {"admin", "quota", "password"})
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r}", unknown[0])
    view = await _existing(req, account)
    # Everything is checked before anything changes.
    admin = body.get("admin")
    if admin is not None and not isinstance(admin, bool):
        raise bad_request("admin is true or false", "admin")
    if admin is False and view.name == req.account:
        raise bad_request("you cannot take away your own administrator flag", "admin")
    quota = _quota(body["quota"]) if "quota" in body else None
    password = body.get("password")
    if password is not None:
        if not isinstance(password, str):
            raise bad_request("password is a string", "password")
        _new_password(view.name, password)
    if ("quota" in body or admin is not None) and accounts.settings_of(req.store) is None:
        raise bad_request("this store keeps no account settings: no administrators, no quotas")
    if admin is not None:
        await change_admin(req, view.name, admin)
    if "quota" in body:
        await change_quota(req, view.name, quota)
    if password is not None:
        await reset_password(req, view.name, password)
    return render.json_answer((await accounts.view(req.store, view.name)).as_json())


@api("DELETE", "/api/v1/admin/accounts/{account}", access=ADMIN, **_ADMIN,
     summary="Delete an account and everything it holds: mail, calendars, contacts, devices, settings",
     responses={"204": {"description": "deleted"}, **PROBLEMS})
async def remove_account(req, account: str):
    await delete_account(req, account)
    return no_content()

