"""HTTP bandwidth endpoints: the responder side of ``probe.mode = "http"``.

``GET /api/v1/probe/download?bytes=N`` streams N bytes; ``POST /api/v1/probe/upload``
reads the whole body and says how many bytes arrived and how long it took. The
agent measures goodput on its side; these only move bytes, as fast as they can.

Nobody else may use them to load the link: a transfer needs an enrolled room's
token (``Authorization: Bearer``, 401 otherwise), at most ``max_transfers`` run at
once (503 with ``Retry-After`` beyond), and one request moves at most
``MAX_BYTES``: what the agent's longest run (``probe.duration_s`` 60 s) can use
on a 1 Gbit/s link, 7,500,000,000 bytes (422 for a larger download, 413 for a
larger upload).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from collector.db import errors as _db_errors
from collector.store import Store, hash_token

CHUNK = b"\0" * (256 * 1024)
LINK_BYTES_PER_S = 125_000_000  # 1 Gbit/s
MAX_RUN_S = 60  # the agent's largest probe.duration_s (agent/config.py)
MAX_BYTES = LINK_BYTES_PER_S * MAX_RUN_S  # 7.5 GB per request
# The collector's default --probe-slots (4) times the agent's default probe.streams (4):
# a paced responder never refuses a granted test.
DEFAULT_MAX_TRANSFERS = 16
RETRY_AFTER_S = MAX_RUN_S  # a busy responder is free again after at most one run

StoreOf = Callable[[Request], Store]

DB_ERRORS = _db_errors()  # SQLite's, and psycopg's when installed


class Transfers:
    """How many transfers run now, out of ``limit`` (one event loop: no lock needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.peak = 0  # the most transfers at once since start
        self.served = 0
        self.busy = 0  # refused with 503
        self._rooms: dict[str, int] = {}  # transfers running per room: one room's test is its streams
        self.rooms_peak = 0  # the most rooms testing at once: pacing keeps it at --probe-slots

    def try_start(self, room: str = "") -> bool:
        if self.running >= self.limit:
            self.busy += 1
            return False
        self.running += 1
        self.served += 1
        self.peak = max(self.peak, self.running)
        self._rooms[room] = self._rooms.get(room, 0) + 1
        self.rooms_peak = max(self.rooms_peak, len(self._rooms))
        return True

    def done(self, room: str = "") -> None:
        self.running -= 1
        left = self._rooms.get(room, 1) - 1
        if left > 0:
            self._rooms[room] = left
        else:
            self._rooms.pop(room, None)


class _Counted(Response):
    """Wraps a response so its transfer counts until the last byte is sent or the client hangs up."""

    def __init__(self, inner: Response, transfers: Transfers, room: str) -> None:
        self.inner = inner
        self.transfers = transfers
        self.room = room

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            self.transfers.done(self.room)


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=422)


def _refusal(request: Request, store_of: StoreOf, transfers: Transfers) -> Response | str:
    """401 without a room's token, 503 when busy; the room's id when the transfer may start (and counts)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        room = store_of(request).room_for_token(hash_token(token.strip())) if scheme.lower() == "bearer" else None
    except DB_ERRORS:
        return JSONResponse({"error": "room lookup unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "10"})
    if room is None:
        return JSONResponse({"error": "unknown or revoked token (Authorization: Bearer ROOM_TOKEN)"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if not transfers.try_start(room):
        return JSONResponse({"error": f"responder busy: {transfers.limit} transfers running, retry later"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return room


def _download(store_of: StoreOf, transfers: Transfers) -> Callable[[Request], object]:
    async def download(request: Request) -> Response:
        raw = request.query_params.get("bytes", "")
        try:
            total = int(raw)
        except ValueError:
            return _bad("query parameter 'bytes' must be an integer")
        if not 0 <= total <= MAX_BYTES:
            return _bad(f"query parameter 'bytes' must be from 0 to {MAX_BYTES}")
        room = _refusal(request, store_of, transfers)
        if not isinstance(room, str):
            return room

        async def body():
            remaining = total
            while remaining > 0:
                piece = CHUNK if remaining >= len(CHUNK) else CHUNK[:remaining]
                remaining -= len(piece)
                yield piece
                # Writes that fit the transport buffer never yield to the event loop, so a
                # client that hung up would go unnoticed until all N bytes were "sent".
                await asyncio.sleep(0)

        stream = StreamingResponse(
            body(),
            media_type="application/octet-stream",
            headers={"Content-Length": str(total), "Cache-Control": "no-store"},
        )
        return _Counted(stream, transfers, room)

    return download


def _too_large() -> JSONResponse:
    return JSONResponse({"error": f"upload larger than {MAX_BYTES} bytes"}, status_code=413)


def _upload(store_of: StoreOf, transfers: Transfers) -> Callable[[Request], object]:
    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BYTES:
            return _too_large()
        room = _refusal(request, store_of, transfers)
        if not isinstance(room, str):
            return room
        started = time.monotonic()
        received = 0
        try:
            async for piece in request.stream():
                received += len(piece)
                if received > MAX_BYTES:
                    return _too_large()
        except ClientDisconnect:
            # The agent ends a timed upload by hanging up; that is the normal end, not an error.
            return Response(status_code=204)
        finally:
            transfers.done(room)
        return JSONResponse({"bytes": received, "seconds": round(time.monotonic() - started, 6)})

    return upload


def _status(transfers: Transfers) -> Callable[[Request], object]:
    async def status(request: Request) -> Response:
        return JSONResponse({"running": transfers.running, "peak": transfers.peak, "served": transfers.served,
                             "busy": transfers.busy, "limit": transfers.limit,
                             "rooms_peak": transfers.rooms_peak})

    return status


def routes(store_of: StoreOf, max_transfers: int = DEFAULT_MAX_TRANSFERS) -> list[Route]:
    """The endpoints; ``store_of(request)`` is the store holding the rooms' tokens.

    ``GET /api/v1/probe/status``: transfer counts only (no room, no address), unauthenticated
    like /healthz, for the operator checking that pacing holds (``peak`` <= --probe-slots).
    """
    transfers = Transfers(max_transfers)
    return [
        Route("/api/v1/probe/download", _download(store_of, transfers), methods=["GET"]),
        Route("/api/v1/probe/upload", _upload(store_of, transfers), methods=["POST"]),
        Route("/api/v1/probe/status", _status(transfers), methods=["GET"]),
    ]
