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
from collector.web.messages import check_text, figure_name
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


@jinja2.pass_context
def _duration(ctx: jinja2.runtime.Context, seconds: float) -> str:
    return duration_text(seconds, ctx.get("lang", "en"))


@jinja2.pass_context
def _say(ctx: jinja2.runtime.Context, check: dict[str, Any] | Any) -> str:
    """A check result (dict, or a dataclass such as FailingCheck) worded in the page's language."""
    doc = check if isinstance(check, dict) else vars(check)
    return check_text(doc, ctx.get("lang", "en"))


@jinja2.pass_context
def _figure(ctx: jinja2.runtime.Context, key: str) -> str:
    return figure_name(key, ctx.get("lang", "en"))


_env.filters["local_time"] = local_time
_env.filters["duration"] = _duration
_env.filters["say"] = _say
_env.filters["figure"] = _figure


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
