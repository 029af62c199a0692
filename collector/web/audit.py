"""``/audit``: who enrolled or revoked rooms, changed accounts, logged in (admins only)."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.accounts import ADMIN
from collector.web.api import BadQuery, int_param
from collector.web.auth import require
from collector.web.pages import render
from collector.web.runtime import runtime

SHOWN = 500


async def audit_page(request: Request) -> Response:
    try:
        days = int_param(request, "days", 30, 1, 3650)
    except BadQuery:
        days = 30
    entries = await run_in_threadpool(runtime(request).store.audit_entries, time.time() - days * 86400, SHOWN)
    return render(request, "audit.html", entries=entries, days=days)


def routes() -> list[Route]:
    return [Route("/audit", require(ADMIN, html=True)(audit_page))]
