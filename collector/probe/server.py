"""``bridge-collector probe-serve``: the STAMP reflector and HTTP probe endpoints alone."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from collector.probe.http import routes
from collector.probe.stamp import StampReflector

log = logging.getLogger(__name__)


async def _health(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


def probe_app() -> Starlette:
    return Starlette(routes=[*routes(), Route("/healthz", _health)])


def run_probe_server(host: str, port: int, stamp_port: int) -> None:
    """Serve until interrupted; ``stamp_port`` 0 disables the STAMP reflector."""
    reflector = StampReflector(host, stamp_port).start() if stamp_port else None
    try:
        uvicorn.run(probe_app(), host=host, port=port, log_level="warning", access_log=False)
    finally:
        if reflector:
            reflector.stop()
