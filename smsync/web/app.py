"""The web interface's one resource (``/web/`` pages and the ``/api/v1/`` JSON API):
find the route, find who is asking, check what they may do, run the handler, and turn
every refusal into the answer of its kind -- an error page, a redirect to sign in, or
``application/problem+json``. Nothing a client sends raises into twisted.web.

Who is asking: the sign-in cookie (``sessions``) for pages and the API alike, or HTTP
Basic for the API (scripts, the CLI's peers). A request changing anything (any method
but GET and HEAD) made through the cookie must carry the session's CSRF token (a form's
``csrf`` field, or the ``X-CSRF-Token`` header of an API call), and a browser's
``Origin``, when it sends one, must be this site: another site's page cannot act for a
signed-in user. An API call logged in with Basic needs no token: its writes take only
``application/json`` bodies or methods other than POST, which another site's page cannot
send without a CORS preflight this server never grants, and the ``Origin`` check applies
to it too.
"""

from __future__ import annotations

import time
from typing import Optional
from urllib.parse import quote, urlsplit

from twisted.logger import Logger

from smsync.admin.accounts import is_admin
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.edge.web import HandlerResource, Response
from smsync.errors import InvalidData, NotFound, StorageUnavailable
from smsync.web import render, routes
from smsync.web.request import WebError, WebRequest
from smsync.web.sessions import COOKIE, Sessions

log = Logger(namespace="smsync.web")

PAGES = "/web"
API = "/api/v1"
SAFE = ("GET", "HEAD")
#: The ``Server-Timing`` metric every answer carries: the milliseconds from the start of
#: ``WebApp.handle`` to its answer being ready (the route, the sign-in check, the store
#: calls, the rendering), so a browser's developer tools and ``benchmarks/bench_web.py``
#: see the server's own time apart from the network and the client.
TIMING_METRIC = "app"


class WebApp:
    """The logic of the web interface over one ``Edge``."""

    def __init__(self, edge):
        # Importing the handler modules registers their routes.
        from smsync.web.handlers import MODULES

        self.handlers = MODULES
        self.edge = edge
        self.sessions = Sessions(edge.store)

    async def handle(self, raw) -> Response:
        # Always on: a clock read and one short header; the client learns no more than
        # its own round trip tells it. A streamed answer's figure ends when its first
        # part is ready.
        began = time.perf_counter()
        answer = await self._handle(raw)
        # A new dict: a handler may have answered with headers it shares.
        answer.headers = {**answer.headers,
                          "Server-Timing": f"{TIMING_METRIC};dur={(time.perf_counter() - began) * 1000:.2f}"}
        return answer

    async def _handle(self, raw) -> Response:
        method = raw.method.decode("ascii", "replace").upper()
        try:
            path = raw.path.decode("utf-8").split("?", 1)[0]
        except UnicodeDecodeError:
            return render.problem(400, "Bad request", "the path is not UTF-8")
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        if path == PAGES:
            path = PAGES + "/"
        is_api = path == API or path.startswith(API + "/")
        req = WebRequest(raw, self.edge, self, method, path)
        try:
            return await self._answer(req, is_api)
        except WebError as e:
            if e.status >= 500:
                log.error("web: {host}: {method} {path}: {detail}", host=req.host, method=method,
                          path=path[:200], detail=e.detail)
            else:
                log.info("web: {host}: {method} {path}: {status} {detail}", host=req.host, method=method,
                         path=path[:200], status=e.status, detail=e.detail[:200])
            return self._refusal(req, is_api, e)

    async def _answer(self, req: WebRequest, is_api: bool) -> Response:
        route, params, allowed = routes.resolve(req.method, req.path)
        if route is None:
            if allowed:
                raise WebError(405, "Method not allowed", f"{req.method} is not served here")
            raise WebError(404, "Not found", "no such page")
        await self._identify(req, route)
        if route.access != routes.PUBLIC:
            if req.account is None:
                if route.api:
                    raise WebError(401, "Unauthorized", "sign in, or send HTTP Basic credentials")
                return render.redirect(f"{PAGES}/signin?next={quote(req.path, safe='/')}")
            if route.access == routes.ADMIN and not req.admin:
                raise WebError(403, "Forbidden", "this is for administrators")
        if req.method not in SAFE:
            self._check_origin(req)
            if req.session is not None:
                self._check_csrf(req, route.api)
        try:
            return await route.handler(req, **params)
        except (InvalidData, ValueError) as e:
            raise WebError(400, "Bad request", str(e)) from None
        except NotFound as e:
            raise WebError(404, "Not found", f"{e} was not found") from None
        except StorageUnavailable as e:
            raise WebError(503, "Service unavailable", str(e)) from None

    async def _identify(self, req: WebRequest, route) -> None:
        session = await self.sessions.find(self._cookie(req))
        if session is not None:
            req.session = session
            req.account = session.account
        elif route.api and req.header("Authorization"):
            req.account = await self._basic(req)
        if req.account is not None:
            req.admin = await is_admin(req.store, req.account)

    async def _basic(self, req: WebRequest) -> Optional[str]:
        if not req.secure and not self.edge.logins.cleartext_allowed(req.host):
            raise WebError(403, "Forbidden", "passwords are accepted over HTTPS only")
        try:
            return await self.edge.logins.basic("web", req.raw.getHeader(b"authorization"), req.host)
        except BadCredentials:
            raise WebError(401, "Unauthorized", "wrong user name or password") from None
        except ProtocolNotAllowed:
            raise WebError(403, "Forbidden", "this account may not use the web interface") from None
        except LoginUnavailable as e:
            raise WebError(503, "Service unavailable", str(e)) from None

    @staticmethod
    def _cookie(req: WebRequest) -> Optional[str]:
        value = req.raw.getCookie(COOKIE.encode("ascii"))
        return value.decode("latin-1") if value else None

    @staticmethod
    def _check_origin(req: WebRequest) -> None:
        origin = req.header("Origin")
        host = req.header("Host") or ""
        if origin and urlsplit(origin).netloc.lower() != host.lower():
            raise WebError(403, "Forbidden", "the request came from another site")

    @staticmethod
    def _check_csrf(req: WebRequest, api: bool) -> None:
        if api:
            given = req.header("X-CSRF-Token") or ""
        else:
            given = req.form().get("csrf", "")
        if given != req.session.csrf:
            raise WebError(403, "Forbidden", "the form has expired: reload the page and try again")

    @staticmethod
    def _refusal(req: WebRequest, is_api: bool, error: WebError) -> Response:
        headers = {}
        if error.status == 405:
            _route, _params, allowed = routes.resolve(req.method, req.path)
            headers["Allow"] = ", ".join(sorted(set(allowed)))
        if is_api:
            if error.status == 401 and req.session is None and not req.header("Cookie"):
                # Scripts learn the scheme from the challenge; a browser's own calls
                # carry the cookie and get no login dialog.
                headers["WWW-Authenticate"] = 'Basic realm="smsync"'
            extra = {"field": error.field} if error.field else {}
            return render.problem(error.status, error.title, error.detail, headers, **extra)
        answer = render.page(req, "error.html", status=error.status, title=error.title,
                             detail=error.detail)
        answer.headers.update(headers)
        return answer


class WebResource(HandlerResource):
    """``WebApp`` on the shared site."""

    label = "web"

    def __init__(self, app: WebApp):
        super().__init__()
        self.app = app

    def handle(self, request):
        return self.app.handle(request)

    def anonymous_body_limit(self, method: bytes):
        # Pages and API calls signed in by cookie carry no Authorization header: a
        # form or a JSON body is small.
        from smsync.web.request import MAX_BODY

        return MAX_BODY

    def crash_response(self) -> Response:
        return render.problem(500, "Internal server error", "the server failed; it is logged")
