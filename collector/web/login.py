"""``/login`` and ``/logout``: the dashboard's session cookie.

    GET  /login?next=/path   the form (Vietnamese first, ?lang=en)
    POST /login              user + password -> a session cookie, 303 to next; 401 wrong, 429 too many failures
    POST /logout             ends the session, 303 to /login

Both POSTs must come from this collector's own pages (Origin check, see
collector.web.auth): that stops another site logging a browser in or out. Failed
logins are limited per user and per client address (collector.ratelimit); the
password is never logged or written, and a failure names the user in the audit
trail only if the account exists (a password typed into the user field stays out).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collector.accounts import dummy_hash, new_session_id, verify_password
from collector.store import hash_token
from collector.web.auth import IDLE_S, SESSION_COOKIE, authenticate, client_address, safe_next, same_origin
from collector.web.pages import render
from collector.web.runtime import runtime

log = logging.getLogger(__name__)

MAX_FORM = 8192


async def read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when it is too large (no multipart parser needed for two fields)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _form_page(request: Request, next_path: str, status_code: int = 200, error: str = "", user_name: str = "",
               headers: dict[str, str] | None = None) -> Response:
    return render(request, "login.html", status_code=status_code, headers=headers, next_path=next_path,
                  error=error, user_name=user_name)


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await authenticate(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _form_page(request, next_path)


async def login(request: Request) -> Response:
    rt = runtime(request)
    if not same_origin(request):
        return Response("403 Forbidden: cross-site login refused\n", status_code=403, media_type="text/plain")
    form = await read_form(request)
    if form is None:
        return Response("413 form too large\n", status_code=413, media_type="text/plain")
    name = form.get("user", "").strip().lower()
    password = form.get("password", "")
    next_path = safe_next(form.get("next"))
    address = client_address(request)
    keys = [f"user:{name}", f"addr:{address}"]
    now = time.time()
    wait = rt.login_failures.retry_after(keys, now)
    if wait > 0:
        # Refused before the password is even checked: guessing gets no answer at all.
        return _form_page(request, next_path, 429, "login_limited", name,
                          headers={"Retry-After": str(int(wait) + 1)})
    account = await run_in_threadpool(rt.store.user, name) if name else None
    # An unknown user costs the same scrypt as a known one: timing does not tell which names exist.
    ok = await run_in_threadpool(verify_password, password, account["password"] if account else dummy_hash())
    if not ok or account is None:
        rt.login_failures.fail(keys, now)
        target = name if account else "(unknown user)"
        await run_in_threadpool(rt.store.audit, target, address, "login.fail", target)
        log.warning("failed dashboard login for %s from %s", target, address)
        return _form_page(request, next_path, 401, "login_failed", name)
    rt.login_failures.clear(keys[0])
    sid = new_session_id()
    await run_in_threadpool(rt.store.create_session, hash_token(sid), name, now, address, now - IDLE_S)
    await run_in_threadpool(rt.store.audit, name, address, "login.ok", name)
    response = RedirectResponse(next_path, status_code=303)
    # No Max-Age: the cookie goes when the browser closes (shared PCs at the control
    # centre); the server ends it after IDLE_S unused, MAX_AGE_S at most.
    response.set_cookie(SESSION_COOKIE, sid, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    rt = runtime(request)
    if not same_origin(request):
        return Response("403 Forbidden: cross-site logout refused\n", status_code=403, media_type="text/plain")
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        who = await run_in_threadpool(rt.store.delete_session, hash_token(sid))
        if who:
            await run_in_threadpool(rt.store.audit, who, client_address(request), "logout", who)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


def routes() -> list[Route]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


