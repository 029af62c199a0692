"""``POST /api/v1/heartbeat``: authenticate, bound, parse, validate, store once.

Every answer to a client mistake is a 4xx naming the problem: 401 unknown or
revoked token, 403 token of another room, 413 body over 256 KiB, 415 not JSON,
422 schema error with the failing field's path. A replay of a stored
``(room_id, agent_instance, seq)`` gets the same 200 and writes nothing.

The 200 answer is ``{"status", "room_id", "seq", "requests": [...]}``, plus
``interval_s`` and ``quiet_until`` for a room taking part in a meeting now
(collector.meetings, docs/meetings.md). The heartbeat's ``answers`` mark the
room's roll-call requests answered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.db import errors as _db_errors
from collector.ingest import MAX_BODY, Rejection, decode, to_heartbeat, validate
from collector.store import DUPLICATE, STORED, hash_token
from collector.web.runtime import Runtime, runtime

log = logging.getLogger(__name__)

DB_ERRORS = _db_errors()  # SQLite's, and psycopg's when installed


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _read_bounded(request: Request) -> bytes | None:
    """The body, or None as soon as it exceeds MAX_BODY (nothing more is buffered)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _unavailable(problem: str) -> Response:
    """The database failed, not the client: the agent keeps the heartbeat and retries later."""
    log.error("%s", problem)
    return JSONResponse({"error": "storage unavailable, retry later"}, status_code=503, headers={"Retry-After": "10"})


async def receive(request: Request) -> Response:
    rt = runtime(request)

    def refuse(rejection: Rejection, **headers: str) -> Response:
        rt.counters.reject(rejection.reason)
        return JSONResponse(rejection.body(), status_code=rejection.status, headers=headers or None)

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        room_id = rt.store.room_for_token(hash_token(token.strip())) if scheme.lower() == "bearer" else None
    except DB_ERRORS as err:
        return _unavailable(f"token lookup failed: {err}")
    if room_id is None:
        return refuse(Rejection(401, "unauthorized", "unknown or revoked token (Authorization: Bearer TOKEN)"),
                      **{"WWW-Authenticate": "Bearer"})
    if not _is_json(request.headers.get("content-type", "")):
        return refuse(Rejection(415, "not_json", "Content-Type must be application/json"))
    try:
        raw = await _read_bounded(request)
    except ClientDisconnect:
        return refuse(Rejection(400, "disconnected", "client disconnected before the body was complete"))
    if raw is None:
        return refuse(Rejection(413, "too_large", f"body larger than {MAX_BODY} bytes"))
    doc = decode(raw)
    if isinstance(doc, Rejection):
        return refuse(doc)
    claimed = doc.get("room_id") if isinstance(doc, dict) else None
    if isinstance(claimed, str) and claimed != room_id:
        return refuse(Rejection(403, "wrong_room", "this token belongs to another room", "room_id"))
    problem = validate(doc, rt.validator)
    if problem is not None:
        return refuse(problem)
    heartbeat = to_heartbeat(doc, raw, time.time())
    if isinstance(heartbeat, Rejection):
        return refuse(heartbeat)
    try:
        outcome = await rt.writer.submit(heartbeat)
    except Exception as err:
        return _unavailable(f"storing heartbeat {heartbeat.room_id}/{heartbeat.seq} failed: {err}")
    if outcome == STORED:
        rt.counters.accepted += 1
    elif outcome == DUPLICATE:
        rt.counters.duplicates += 1
    else:
        # Answered like a replay (the agent must not resend it forever), but made visible:
        # an agent whose seq went backwards (state dir lost) is losing its heartbeats.
        rt.counters.seq_reused += 1
        log.warning("room %s reused seq %d of stream %s for a different heartbeat (sent_at %s): not stored",
                    room_id, heartbeat.seq, heartbeat.agent_instance or "-", heartbeat.sent_at)
    reply: dict[str, Any] = {"status": "stored" if outcome == STORED else "duplicate", "room_id": room_id,
                             "seq": heartbeat.seq}
    try:
        reply.update(await _meeting_directives(rt, room_id, doc, heartbeat.seq))
    except sqlite3.Error as err:  # the heartbeat is stored: the roll-call waits for the next one
        log.error("roll-call for room %s failed: %s", room_id, err)
    return JSONResponse(reply)


async def _meeting_directives(rt: Runtime, room_id: str, doc: dict[str, Any], seq: int) -> dict[str, Any]:
    """Record the room's answers; what it is asked now (collector.meetings). Rooms outside any
    current meeting cost nothing here but a look into memory."""
    board = rt.board
    answers = [a["id"] for a in doc.get("answers", ())]
    if board is None or not (answers or board.participates(room_id)):
        return {"requests": []}
    now = time.time()

    def work() -> dict[str, Any]:
        if answers:
            rt.store.answer_requests(room_id, answers, seq, now)
        return board.directives(rt.store, room_id, now).json()

    return await run_in_threadpool(work)


def routes() -> list[Route]:
    return [Route("/api/v1/heartbeat", receive, methods=["POST"])]
