"""Account settings: changing the password, the connection settings a client needs
(with copy buttons), the Apple configuration profile and the Autodiscover details, as a
page and as API calls."""

from __future__ import annotations

from smsync.admin.passwords import password_problem, set_password
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.edge.web import Response
from smsync.web import profile, render
from smsync.web.connection import connection_settings
from smsync.web.openapi import PROBLEMS
from smsync.web.request import WebError, bad_request
from smsync.web.routes import api, page

PAGE = "/web/settings"

#: What ``?done=`` after a change says on the page.
_DONE = {"password": "Your password was changed. Your other sign-ins have ended; "
                     "programs and devices need the new password now."}


def _connection(req):
    return connection_settings(req.edge, req.account, req.header("Host"))


async def change_password(req, current: str, new: str, again: str) -> None:
    """Change the signed-in account's password from ``current`` to ``new`` (typed twice:
    ``again``), or raise ``WebError`` naming the field at fault and changing nothing.

    The current password is checked through the login path every protocol uses, so a
    wrong one is slowed and logged as a failed login. Once changed, the account's other
    web sessions end (this one goes on) and the verified Basic credentials of this
    process are forgotten: the old password stops working at once."""
    account = req.account
    if not current:
        raise bad_request("Enter your current password.", "current_password")
    if not new:
        raise bad_request("Enter a new password.", "new_password")
    if new != again:
        raise bad_request("The two new passwords differ: type the same one twice.", "new_password_again")
    problem = password_problem(account, new, current)
    if problem is not None:
        raise bad_request(problem, "new_password")
    if not req.secure and not req.edge.logins.cleartext_allowed(req.host):
        raise WebError(403, "Forbidden", "Passwords are accepted over HTTPS only.")
    try:
        logged = await req.edge.logins.login("web", account, current, req.host)
    except BadCredentials:
        raise WebError(403, "Forbidden", "The current password is wrong.", "current_password") from None
    except ProtocolNotAllowed:
        raise WebError(403, "Forbidden", "This account may not use the web interface.") from None
    except LoginUnavailable:
        raise WebError(503, "Service unavailable",
                       "Too many attempts: wait a few minutes and try again.") from None
    logged.logout()
    if logged.account != account:
        raise WebError(403, "Forbidden", "The current password is wrong.", "current_password")
    await set_password(req.store, account, new)
    req.edge.logins.password_changed(account)
    await req.app.sessions.end_all(account, keep=req.session)


def _settings_page(req, status: int = 200, error=None, field=None, done=None) -> Response:
    settings = _connection(req)
    return render.page(req, "settings.html", status=status, title="Account settings",
                       connection=settings, error=error, field=field, done=done,
                       profile_parts=[p["PayloadDisplayName"] for p in profile.payloads(settings)])


@page("GET", PAGE)
async def settings_page(req):
    return _settings_page(req, done=_DONE.get(req.query("done") or ""))


@page("POST", PAGE + "/password")
async def settings_password(req):
    form = req.form()
    try:
        await change_password(req, form.get("current_password", ""), form.get("new_password", ""),
                              form.get("new_password_again", ""))
    except WebError as e:
        if e.status >= 500 and e.status != 503:
            raise
        # The form again with what is wrong; nothing was changed.
        return _settings_page(req, status=e.status, error=e.detail, field=e.field)
    return render.redirect(PAGE + "?done=password")


@page("GET", PAGE + "/profile.mobileconfig")
async def settings_profile(req):
    settings = _connection(req)
    headers = dict(render.SECURITY_HEADERS)
    headers["Content-Disposition"] = f'attachment; filename="{profile.filename(req.account)}"'
    return Response(200, profile.mobileconfig(settings), profile.CONTENT_TYPE, headers)


ME = {"type": "object", "required": ["account", "admin"], "properties": {
    "account": {"type": "string"}, "admin": {"type": "boolean"}}}

SERVICE = {"type": "object", "required": ["protocol", "name", "host", "port", "security"], "properties": {
    "protocol": {"type": "string"}, "name": {"type": "string"}, "host": {"type": "string"},
    "port": {"type": "integer"}, "security": {"type": "string", "enum": ["tls", "starttls", "none"]},
    "url": {"type": "string"}}}

NULLABLE_URL = {"type": "string", "nullable": True}

CONNECTION = {"type": "object", "required": ["account", "host", "username", "services", "autodiscover"],
              "properties": {
                  "account": {"type": "string"}, "host": {"type": "string"},
                  "username": {"type": "string"},
                  "services": {"type": "array", "items": SERVICE},
                  "autodiscover": {"type": "object", "properties": {
                      "autodiscover": NULLABLE_URL, "caldav": NULLABLE_URL, "carddav": NULLABLE_URL}}}}

PASSWORD_CHANGE = {"type": "object", "required": ["current_password", "new_password"], "properties": {
    "current_password": {"type": "string"}, "new_password": {"type": "string"},
    "new_password_again": {"type": "string",
                           "description": "if given, must equal new_password"}}}


@api("GET", "/api/v1/me", summary="The signed-in account and whether it is an administrator",
     tags=["settings"], responses={"200": {"description": "who is signed in",
                                           "content": {"application/json": {"schema": ME}}},
                                   **PROBLEMS})
async def me(req):
    return render.json_answer({"account": req.account, "admin": bool(req.admin)})


@api("GET", "/api/v1/me/connection",
     summary="How to connect a client: host, port, TLS and URL of every protocol this server runs, "
             "and the Autodiscover URLs",
     tags=["settings"], responses={"200": {"description": "the connection settings",
                                           "content": {"application/json": {"schema": CONNECTION}}},
                                   **PROBLEMS})
async def me_connection(req):
    return render.json_answer(_connection(req).as_json())


@api("POST", "/api/v1/me/password",
     summary="Change the signed-in account's password; its other web sessions end",
     tags=["settings"],
     requestBody={"required": True, "content": {"application/json": {"schema": PASSWORD_CHANGE}}},
     responses={"204": {"description": "changed"}, **PROBLEMS,
                "415": {"description": "not JSON",
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}})
async def me_password(req):
    body = req.json_object()
    values = {}
    for name in ("current_password", "new_password", "new_password_again"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} is a string", name)
        values[name] = value
    new = values["new_password"] or ""
    again = values["new_password_again"] if values["new_password_again"] is not None else new
    await change_password(req, values["current_password"] or "", new, again)
    return Response(204, b"", "text/plain; charset=utf-8", dict(render.SECURITY_HEADERS))
