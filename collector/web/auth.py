"""Who may read and act: the one place every endpoint module asks.

A request is authenticated by an API token (``Authorization: Bearer brc_...``,
made by ``bridge-collector token add``) or by the dashboard's session cookie
(``/login``). Room tokens are not accepted here: they only post heartbeats.
Loopback gets no exception: every read needs one or the other.

``require(role)`` wraps an endpoint: without credentials an HTML page redirects
to ``/login?next=...`` and everything else answers 401 JSON; a role too low is
403. An account limited to units sees only those units' rooms: endpoints filter
with ``visible_rooms`` / ``principal(request).sees(unit)``, and another unit's
room answers 404 exactly like a room that does not exist.

Cross-site requests: the session cookie is ``SameSite=Strict``, so browsers do
not send it from other sites; on top of that every state-changing request
authenticated by the cookie must carry an ``Origin`` (or ``Referer``) of this
very collector (``same_origin``), or it is refused with 403.
"""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Any, Awaitable, Callable, Iterable, TypeVar
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from collector.accounts import ADMIN, OPERATOR, VIEWER, Principal
from collector.store import hash_token
from collector.web.pages import render
from collector.web.runtime import runtime

T = TypeVar("T")

__all__ = ["ADMIN", "IDLE_S", "MAX_AGE_S", "OPERATOR", "VIEWER", "Principal", "SESSION_COOKIE", "authenticate",
           "client_address", "principal", "require", "safe_next", "same_origin", "visible_rooms"]

SESSION_COOKIE = "bridge_session"
IDLE_S = 12 * 3600  # a session unused this long ends
MAX_AGE_S = 7 * 86400  # and none lives longer than this, used or not
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Endpoint = Callable[[Request], Awaitable[Response]]


async def authenticate(request: Request) -> Principal | None:
    """The token's or the session's principal; None when neither is valid."""
    store = runtime(request).store
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        # A bearer header that fails does not fall back to the cookie: scripts get a clear 401.
        row = await run_in_threadpool(store.api_token, hash_token(value.strip()))
        return Principal("token", row["name"], row["role"], row["units"]) if row else None
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    row = await run_in_threadpool(store.session_user, hash_token(sid), time.time(), IDLE_S, MAX_AGE_S)
    return Principal("session", row["name"], row["role"], row["units"]) if row else None


def principal(request: Request) -> Principal:
    """The principal ``require`` admitted (only valid inside a guarded endpoint)."""
    return request.state.principal


def visible_rooms(request: Request, rows: Iterable[T], unit: Callable[[T], str] = itemgetter("unit")) -> list[T]:
    """The rooms (store rows with ``unit``, or what ``unit`` reads it from) the principal may see."""
    who = principal(request)
    if not who.units:
        return list(rows)
    return [r for r in rows if who.sees(unit(r))]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (or, without one, its Referer) is this collector itself."""
    given = request.headers.get("origin") or request.headers.get("referer")
    if not given or given == "null":
        return False
    return _origin_of(given) == f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (other sites, //host, \\\\) is '/'."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return value


def _login_redirect(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def _unauthorized() -> Response:
    return JSONResponse(
        {"error": "authentication required: Authorization: Bearer TOKEN (bridge-collector token add)"
                  " or a dashboard session (/login)"},
        status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _forbidden(request: Request, html: bool, problem: str) -> Response:
    if html:
        return render(request, "forbidden.html", status_code=403)
    return JSONResponse({"error": problem}, status_code=403)


def require(role: str, *, html: bool = False) -> Callable[[Endpoint], Endpoint]:
    """Admit only principals of ``role`` or above; ``html`` pages redirect to the login page."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            who = await authenticate(request)
            if who is None:
                return _login_redirect(request) if html and request.method in SAFE_METHODS else _unauthorized()
            if request.method not in SAFE_METHODS and who.kind == "session" and not same_origin(request):
                return _forbidden(request, html, "cross-site request refused (Origin is not this collector)")
            request.state.principal = who  # the page header shows who is signed in, also on a 403
            if not who.allows(role):
                return _forbidden(request, html, f"needs the {role} role; {who.actor} is {who.role}")
            return await endpoint(request)

        guarded.__name__ = guarded.__qualname__ = endpoint.__name__
        guarded.__doc__ = endpoint.__doc__
        return guarded

    return wrap
