"""``POST /api/v1/probe/slot``: pace the rooms' bandwidth tests, at most ``--probe-slots`` per responder.

A room asks, with its own token (as for the heartbeat), before it loads the link:

    POST /api/v1/probe/slot   {"responder": "[2001:db8::5]:8080", "duration_s": 5}
    200 {"granted": true,  "lease": "...", "lease_s": 20}
    200 {"granted": false, "retry_after_s": 7}      and a Retry-After header

Both answers are 200: a refusal is the normal outcome of a busy hour, not an error,
and an agent tells "refused, wait" from "no answer" (any other status, a timeout)
by the ``granted`` flag alone. The lease lasts ``duration_s x 2 + LEASE_MARGIN_S``
(upload then download, plus connection set-up); ``DELETE /api/v1/probe/slot/{lease}``
ends it early (RELEASE_GRACE_S later), else it expires. Leases are kept in the store, so several collectors
share one count.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.store import hash_token
from collector.web.runtime import runtime

log = logging.getLogger(__name__)

DEFAULT_PROBE_SLOTS = 4
LEASE_MARGIN_S = 10.0  # TCP/TLS set-up of each direction, the agent's own pauses
MAX_DURATION_S = 60  # the agent's largest probe.duration_s (agent/config.py)
MAX_RESPONDER_CHARS = 300
MIN_WAIT_S = 1
# A released slot is free this much later: the responder sees the room's last connection close
# a moment after the agent does, and the next room's test must not overlap it.
RELEASE_GRACE_S = 1.0


def lease_seconds(duration_s: float) -> float:
    """Pure: how long a test of ``duration_s`` per direction may hold its slot."""
    return duration_s * 2 + LEASE_MARGIN_S


def parse_request(raw: bytes) -> tuple[str, float] | str:
    """Pure: ``(responder, duration_s)`` from the body, or the problem in words."""
    try:
        doc = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        return "body must be JSON"
    if not isinstance(doc, dict):
        return "body must be a JSON object"
    responder = doc.get("responder")
    if not isinstance(responder, str) or not 0 < len(responder) <= MAX_RESPONDER_CHARS:
        return f"responder: expected the host:port measured against, at most {MAX_RESPONDER_CHARS} characters"
    duration = doc.get("duration_s")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 < duration <= MAX_DURATION_S:
        return f"duration_s: expected seconds per direction, more than 0 and at most {MAX_DURATION_S}"
    return responder, float(duration)


def _room(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return runtime(request).store.room_for_token(hash_token(token.strip()))


def _unauthorized() -> Response:
    return JSONResponse({"error": "unknown or revoked token (Authorization: Bearer ROOM_TOKEN)"},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _unavailable(err: Exception) -> Response:
    log.error("probe slot: storage failed: %s", err)
    return JSONResponse({"error": "storage unavailable, retry later"}, status_code=503, headers={"Retry-After": "10"})


async def ask(request: Request) -> Response:
    rt = runtime(request)
    try:
        room_id = await run_in_threadpool(_room, request)
    except sqlite3.Error as err:
        return _unavailable(err)
    if room_id is None:
        return _unauthorized()
    body = await request.body()
    parsed = parse_request(body[: 64 * 1024])
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, status_code=422)
    responder, duration_s = parsed
    try:
        answer = await run_in_threadpool(rt.store.grant_probe_slot, responder, room_id, rt.config.probe_slots,
                                         lease_seconds(duration_s), time.time())
    except sqlite3.Error as err:
        return _unavailable(err)
    if answer.granted:
        return JSONResponse({"granted": True, "lease": answer.lease_id, "lease_s": answer.lease_s})
    # The oldest lease ends at the latest LEASE_MARGIN_S after its test does: ask again then
    # (a released one, in RELEASE_GRACE_S).
    wait = max(MIN_WAIT_S, math.ceil(answer.wait_s - LEASE_MARGIN_S))
    return JSONResponse({"granted": False, "retry_after_s": wait}, headers={"Retry-After": str(wait)})


async def release(request: Request) -> Response:
    rt = runtime(request)
    try:
        room_id = await run_in_threadpool(_room, request)
        if room_id is None:
            return _unauthorized()
        released = await run_in_threadpool(rt.store.release_probe_slot, request.path_params["lease"], room_id,
                                           time.time(), RELEASE_GRACE_S)
    except sqlite3.Error as err:
        return _unavailable(err)
    return JSONResponse({"released": released})


def routes() -> list[Route]:
    return [
        Route("/api/v1/probe/slot", ask, methods=["POST"]),
        Route("/api/v1/probe/slot/{lease}", release, methods=["DELETE"]),
    ]
