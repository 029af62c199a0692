"""HTTP bandwidth endpoints: the responder side of ``probe.mode = "http"``.

``GET /api/v1/probe/download?bytes=N`` streams N bytes; ``POST /api/v1/probe/upload``
reads the whole body and says how many bytes arrived and how long it took. The
agent measures goodput on its side; these only move bytes, as fast as they can.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK = b"\0" * (256 * 1024)
# One request may move at most this much: 200 Mbit/s for a minute is 1.5 GB.
MAX_BYTES = 16 * 2**30


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=422)


async def download(request: Request) -> Response:
    raw = request.query_params.get("bytes", "")
    try:
        total = int(raw)
    except ValueError:
        return _bad("query parameter 'bytes' must be an integer")
    if not 0 <= total <= MAX_BYTES:
        return _bad(f"query parameter 'bytes' must be from 0 to {MAX_BYTES}")

    async def body():
        remaining = total
        while remaining > 0:
            piece = CHUNK if remaining >= len(CHUNK) else CHUNK[:remaining]
            remaining -= len(piece)
            yield piece
            # Writes that fit the transport buffer never yield to the event loop, so a
            # client that hung up would go unnoticed until all N bytes were "sent".
            await asyncio.sleep(0)

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(total), "Cache-Control": "no-store"},
    )


async def upload(request: Request) -> Response:
    started = time.monotonic()
    received = 0
    try:
        async for piece in request.stream():
            received += len(piece)
            if received > MAX_BYTES:
                return JSONResponse(
                    {"error": f"upload larger than {MAX_BYTES} bytes"}, status_code=413
                )
    except ClientDisconnect:
        # The agent ends a timed upload by hanging up; that is the normal end, not an error.
        return Response(status_code=204)
    return JSONResponse({"bytes": received, "seconds": round(time.monotonic() - started, 6)})


def routes() -> list[Route]:
    return [
        Route("/api/v1/probe/download", download, methods=["GET"]),
        Route("/api/v1/probe/upload", upload, methods=["POST"]),
    ]
