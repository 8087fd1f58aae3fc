"""Signing in and out, and the start page."""

from __future__ import annotations

from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.web import render
from smsync.web.routes import PUBLIC, page
from smsync.web.sessions import COOKIE, IDLE, cookie_value

START = "/web/devices"


def _next(value) -> str:
    """Where to go after signing in: a page of this interface, nothing else (no open
    redirect to another site)."""
    if isinstance(value, str) and value.startswith("/web/") and "//" not in value \
            and "\\" not in value and len(value) < 300:
        return value
    return START


def _cookie(req, value: str, max_age: int) -> str:
    secure = "; Secure" if req.secure else ""
    return f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"


@page("GET", "/web/", access=PUBLIC)
async def home(req):
    return render.redirect(START if req.account else "/web/signin")


@page("GET", "/web/signin", access=PUBLIC)
async def signin_form(req):
    if req.account:
        return render.redirect(_next(req.query("next")))
    return render.page(req, "signin.html", title="Sign in", next=_next(req.query("next")), user="",
                       error=None)


@page("POST", "/web/signin", access=PUBLIC)
async def signin(req):
    form = req.form()
    user = form.get("user", "").strip()
    password = form.get("password", "")
    target = _next(form.get("next"))

    def again(status: int, error: str):
        return render.page(req, "signin.html", status=status, title="Sign in", next=target,
                           user=user, error=error)

    if not user or not password:
        return again(400, "Enter your address and password.")
    if not req.secure and not req.edge.logins.cleartext_allowed(req.host):
        return again(403, "Passwords are accepted over HTTPS only.")
    try:
        logged = await req.edge.logins.login("web", user, password, req.host)
    except BadCredentials:
        return again(401, "Wrong address or password.")
    except ProtocolNotAllowed:
        return again(403, "This account may not use the web interface.")
    except LoginUnavailable:
        return again(503, "Too many attempts: wait a few minutes and try again.")
    logged.logout()
    session = await req.app.sessions.begin(logged.account)
    return render.redirect(target, headers={"Set-Cookie": _cookie(
        req, cookie_value(logged.account, session.token), IDLE)})


@page("POST", "/web/signout")
async def signout(req):
    if req.session is not None:
        await req.app.sessions.end(req.session)
    return render.redirect("/web/signin", headers={"Set-Cookie": _cookie(req, "", 0)})
