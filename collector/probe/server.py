"""``bridge-collector probe-serve``: the STAMP reflector and HTTP probe endpoints alone.

The HTTP endpoints check room tokens against ``--db``: the collector's database
on the same host, or a copy of it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from collector.probe.http import DEFAULT_MAX_TRANSFERS, routes
from collector.probe.stamp import StampReflector
from collector.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeServeConfig:
    host: str
    port: int
    stamp_port: int  # 0 disables the STAMP reflector
    db: Path | str
    max_transfers: int = DEFAULT_MAX_TRANSFERS


async def _health(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


def _store(request: Request) -> Store:
    return request.app.state.store


def probe_app(db: Path | str, max_transfers: int = DEFAULT_MAX_TRANSFERS) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.store = Store(db)
        try:
            yield
        finally:
            app.state.store.close()

    return Starlette(routes=[*routes(_store, max_transfers), Route("/healthz", _health)], lifespan=lifespan)


def run_probe_server(config: ProbeServeConfig, tls: dict[str, Any] | None = None) -> None:
    """Serve until interrupted; ``tls`` are uvicorn's ssl_* options (None or empty: plain HTTP)."""
    reflector = StampReflector(config.host, config.stamp_port).start() if config.stamp_port else None
    try:
        uvicorn.run(probe_app(config.db, config.max_transfers), host=config.host, port=config.port,
                    log_level="warning", access_log=False, lifespan="on", **(tls or {}))
    finally:
        if reflector:
            reflector.stop()
