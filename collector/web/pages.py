"""HTML pages: the Jinja2 environment and ``render`` (language, labels, the signed-in account)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from collector.status import duration_text
from collector.web.i18n import LABELS, LANGS
from collector.web.runtime import runtime

REFRESH_S = 30
# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
HANOI = timezone(timedelta(hours=7))

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)


def local_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, HANOI).strftime("%H:%M:%S %d/%m/%Y")


_env.filters["local_time"] = local_time
_env.filters["duration"] = duration_text


def lang(request: Request) -> str:
    chosen = request.query_params.get("lang")
    return chosen if chosen in LANGS else runtime(request).config.lang


def render(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    chosen = lang(request)
    html = _env.get_template(template).render(
        t=LABELS[chosen], lang=chosen, now=time.time(), refresh_s=context.pop("refresh_s", REFRESH_S),
        path=request.url.path,
        query=lambda **kw: "?" + urlencode({k: v for k, v in {**request.query_params, **kw}.items() if v}),
        # Set by collector.web.auth.require; None on the login page.
        user=getattr(request.state, "principal", None),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)
