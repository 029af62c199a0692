"""The read-only JSON API: rooms, one room, its history, events, gaps, the compliance report, the audit trail.

An account limited to units gets only their rooms, events and report rows (collector.web.auth).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.accounts import ADMIN, VIEWER, audit_json
from collector.history import METRICS, SeriesError, default_step, pick_source, regroup
from collector.report import compliance, gap_json, max_days, report_csv, report_json, report_rooms_csv
from collector.status import iso
from collector.views import room_view, room_views
from collector.web.auth import principal, require, visible_rooms
from collector.web.messages import csv_header
from collector.web.runtime import runtime
from collector.webhook import event_json

MAX_LIMIT = 1000
INSTANCE = re.compile(r"(?:[0-9a-f]{32})?")  # '' is the stream of agents that send none


class BadQuery(ValueError):
    pass


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"query parameter {name!r} must be an integer") from None
    if not low <= value <= high:
        raise BadQuery(f"query parameter {name!r} must be from {low} to {high}")
    return value


def _bad(err: BadQuery) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=422)


def _not_found(room_id: str) -> JSONResponse:
    return JSONResponse({"error": f"no room {room_id!r}"}, status_code=404)


async def rooms(request: Request) -> Response:
    rt = runtime(request)
    rows = visible_rooms(request, await run_in_threadpool(rt.store.rooms))
    views = room_views(rows, time.time(), rt.config.offline_factor, rt.heard_since)
    return JSONResponse({"rooms": [v.api() for v in views]})


async def room(request: Request) -> Response:
    rt = runtime(request)
    room_id = request.path_params["room_id"]
    row = await run_in_threadpool(rt.store.room, room_id)
    if row is None or not principal(request).sees(row["unit"]):  # another unit's room does not exist
        return _not_found(room_id)
    out: dict[str, Any] = room_view(row, time.time(), rt.config.offline_factor, rt.heard_since).api()
    out["heartbeat"] = json.loads(row["body"]) if row["body"] else None
    out["streams"] = [_stream_json(st) for st in await run_in_threadpool(rt.store.streams, room_id)]
    out.update(await run_in_threadpool(_incident_fields, rt.store, room_id))
    return JSONResponse(out)


def _incident_fields(store: Any, room_id: str) -> dict[str, Any]:
    """The open incidents the room is part of, and the acknowledgement of its problem in force."""
    ack = store.room_acks().get(room_id)
    return {"incidents": store.open_incident_rooms().get(room_id, []), "ack": ack_json(ack) if ack else None}


def ack_json(ack: dict[str, Any]) -> dict[str, Any]:
    """An acknowledgement (of an incident or a room's problem): when, by whom, the note."""
    return {"at": iso(ack["at"]), "by": ack["actor"], "note": ack["note"]}


def _stream_json(stream: dict[str, Any]) -> dict[str, Any]:
    return {"agent_instance": stream["agent_instance"], "started_at": iso(stream["started_at"]),
            "first_seq": stream["first_seq"], "last_seq": stream["last_seq"], "last_seen": iso(stream["last_seen"])}


async def heartbeats(request: Request) -> Response:
    rt = runtime(request)
    room_id = request.path_params["room_id"]
    try:
        since = int_param(request, "since_seq", 0, 0, 2**63 - 1)
        limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
        instance = request.query_params.get("instance")
        if instance is not None and not INSTANCE.fullmatch(instance):
            raise BadQuery("query parameter 'instance' must be an agent_instance (32 hex digits) or empty")
    except BadQuery as err:
        return _bad(err)
    unit = await run_in_threadpool(rt.store.room_unit, room_id)  # revoked rooms too: history stays readable
    if unit is None or not principal(request).sees(unit):
        return _not_found(room_id)
    if instance is None:
        instance = await run_in_threadpool(rt.store.current_stream, room_id)
    rows = await run_in_threadpool(rt.store.heartbeats, room_id, since, limit, instance)
    for r in rows:
        r["received_at"] = iso(r["received_at"])
    more = len(rows) == limit
    return JSONResponse({"room_id": room_id, "agent_instance": instance,
                         "heartbeats": rows,
                         "next_since_seq": rows[-1]["seq"] if more else None})


def _time_param(request: Request, name: str, default: float) -> float:
    """Unix seconds or an ISO 8601 time with its offset."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SeriesError(f"query parameter {name!r} must be unix seconds or an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise SeriesError(f"query parameter {name!r} needs a UTC offset (e.g. Z or +07:00)")
    return parsed.timestamp()


def series_query(request: Request, now: float) -> tuple[str, float, float, int, int]:
    """(metric, from, to, step, source) of a series request, or SeriesError saying what is wrong."""
    metric = request.query_params.get("metric")
    if metric not in METRICS:
        raise SeriesError(f"query parameter 'metric' must be one of: {', '.join(METRICS)}")
    end = _time_param(request, "to", now)
    start = _time_param(request, "from", end - 86400)
    raw_step = request.query_params.get("step")
    try:
        step = default_step(start, end) if raw_step in (None, "") else int(raw_step)
    except ValueError:
        raise SeriesError("query parameter 'step' must be a whole number of seconds") from None
    return metric, start, end, step, pick_source(start, end, step)


async def series(request: Request) -> Response:
    """One metric of a room over time: points of min/avg/max/count per step."""
    rt = runtime(request)
    room_id = request.path_params["room_id"]
    now = time.time()
    try:
        metric, start, end, step, source = series_query(request, now)
    except SeriesError as err:
        return JSONResponse({"error": str(err)}, status_code=400)
    unit = await run_in_threadpool(rt.store.room_unit, room_id)
    if unit is None or not principal(request).sees(unit):
        return _not_found(room_id)
    rows = await run_in_threadpool(rt.store.series_rows, room_id, metric, source, start, end)
    points = regroup(rows, step, source)
    return JSONResponse({
        "room_id": room_id, "metric": metric, "from": iso(start), "to": iso(end), "step": step,
        "source": "raw" if source == 0 else f"{source // 60}m",
        # Older points of this source were purged (serve's retention options): none is not "no data".
        "retained_from": iso(now - rt.config.kept_days(source) * 86400),
        "points": [{"at": iso(p.at), "t": p.at, "min": p.min, "avg": p.avg, "max": p.max, "count": p.count}
                   for p in points],
    })


async def events(request: Request) -> Response:
    rt = runtime(request)
    try:
        limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
        since_days = int_param(request, "days", 30, 1, 3650)
    except BadQuery as err:
        return _bad(err)
    room_id = request.query_params.get("room_id")
    since = time.time() - since_days * 86400
    scope = principal(request).scope
    if scope is None:
        found = await run_in_threadpool(rt.store.events, room_id, since, limit)
    else:
        found = await run_in_threadpool(rt.store.events_in_units, scope, room_id, since, limit)
    return JSONResponse({"events": [event_json(e) for e in found]})


async def gaps(request: Request) -> Response:
    """The collector's own downtime: when it heard no room (restart or stall)."""
    rt = runtime(request)
    try:
        since_days = int_param(request, "days", 30, 1, 3650)
    except BadQuery as err:
        return _bad(err)
    found = await run_in_threadpool(rt.store.gaps, time.time() - since_days * 86400)
    return JSONResponse({"gaps": [gap_json(g) for g in found], "heard_since": iso(rt.heard_since)})


async def report(request: Request) -> Response:
    rt = runtime(request)
    try:
        days = int_param(request, "days", min(30, max_days(rt.config.retention_days)), 1, 3650)
    except BadQuery as err:
        return _bad(err)
    longest = max_days(rt.config.retention_days)
    if days > longest:  # the history before that was purged: a report on it would be wrong, not partial
        return JSONResponse({"error": f"query parameter 'days' must be at most {longest}: the collector keeps"
                                      f" {longest} days of history (--retention-days)"}, status_code=400)
    by_room = request.query_params.get("by") == "room"
    result = await run_in_threadpool(compliance, rt.store, days, time.time(), rt.config.offline_factor,
                                     rt.heard_since, principal(request).scope)
    if request.query_params.get("format") == "csv":
        # Column names in the language asked for (the report page passes its own); English keys otherwise.
        chosen = request.query_params.get("lang", "en")

        def header(key: str, **values: object) -> str:
            return csv_header(key, chosen, **values)

        text = report_rooms_csv(result, header) if by_room else report_csv(result, header)
        name = f"compliance-rooms-{days}d.csv" if by_room else f"compliance-{days}d.csv"
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(report_json(result))


async def audit(request: Request) -> Response:
    """The audit trail, newest first (admins only)."""
    rt = runtime(request)
    try:
        days = int_param(request, "days", 30, 1, 3650)
        limit = int_param(request, "limit", 1000, 1, 10000)
    except BadQuery as err:
        return _bad(err)
    found = await run_in_threadpool(rt.store.audit_entries, time.time() - days * 86400, limit)
    return JSONResponse({"audit": [audit_json(e) for e in found]})


def routes() -> list[Route]:
    return [
        Route("/api/v1/rooms", require(VIEWER)(rooms)),
        Route("/api/v1/rooms/{room_id}", require(VIEWER)(room)),
        Route("/api/v1/rooms/{room_id}/heartbeats", require(VIEWER)(heartbeats)),
        Route("/api/v1/rooms/{room_id}/series", require(VIEWER)(series)),
        Route("/api/v1/events", require(VIEWER)(events)),
        Route("/api/v1/report", require(VIEWER)(report)),
        Route("/api/v1/gaps", require(VIEWER)(gaps)),
        Route("/api/v1/audit", require(ADMIN)(audit)),
    ]
