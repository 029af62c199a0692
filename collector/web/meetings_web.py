"""Meetings on the API and the dashboard: list, add, cancel; the live roll-call and its export.

    GET  /api/v1/meetings                      meetings not ended (?all=1: every one)       viewer
    POST /api/v1/meetings                      {"title", "start", "duration_min", "units"|"rooms"|"all"}  operator
    DELETE /api/v1/meetings/{id}  (or POST /api/v1/meetings/{id}/cancel)                      operator
    GET  /api/v1/meetings/{id}/rollcall[.csv]  now, and the kept T-15 and start states (?format=csv)
    /meetings, /meetings/{id}                  the same as pages (add and cancel forms for operators)

An account limited to units sees, in a roll-call, only the rooms of its units.
Every change is written to the audit trail.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from collector.accounts import OPERATOR, VIEWER
from collector.errors import MeetingError
from collector.meetings import (MOMENTS, MeetingInput, MeetingInputError, audit_detail, meeting_json,
                                parse_meeting, participating, rollcall, rollcall_csv, row_json, state_counts)
from collector.status import iso
from collector.web.auth import client_address, principal, require, visible_rooms
from collector.web.login import read_form
from collector.web.messages import check_text
from collector.web.pages import render
from collector.web.runtime import runtime

ROLLCALL_REFRESH_S = 10


def _lead(request: Request) -> float:
    return runtime(request).config.rollcall_lead_s


def _id(request: Request) -> int | None:
    raw = str(request.path_params["meeting_id"]).removesuffix(".csv")
    return int(raw) if raw.isdigit() and len(raw) < 16 else None


async def _add(request: Request, new: MeetingInput) -> int:
    rt = runtime(request)
    who = principal(request)

    def work() -> int:
        meeting_id = rt.store.add_meeting(new.title, new.start_at, new.end_at, new.participants, who.actor)
        rt.store.audit(who.actor, client_address(request), "meeting.add", str(meeting_id), audit_detail(new))
        if rt.board is not None:
            rt.board.refresh(rt.store, time.time())  # asked in the very next heartbeat
        return meeting_id

    return await run_in_threadpool(work)


async def _cancel(request: Request, meeting_id: int) -> None:
    rt = runtime(request)
    who = principal(request)

    def work() -> None:
        rt.store.cancel_meeting(meeting_id, time.time())
        rt.store.audit(who.actor, client_address(request), "meeting.cancel", str(meeting_id))
        if rt.board is not None:
            rt.board.refresh(rt.store, time.time())

    await run_in_threadpool(work)


def _field(option: str) -> str:
    return {"--title": "title", "--start": "start", "--duration": "duration_min", "--unit": "units",
            "--room": "rooms", "--all": "all"}.get(option, option)


async def api_list(request: Request) -> Response:
    rt = runtime(request)
    now = time.time()
    every = request.query_params.get("all") in ("1", "true")
    found = await run_in_threadpool(rt.store.meetings, 0.0 if every else now, every)
    return JSONResponse({"meetings": [meeting_json(m, now, _lead(request)) for m in found]})


async def api_add(request: Request) -> Response:
    try:
        doc = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "body must be JSON"}, status_code=400)
    if not isinstance(doc, dict):
        return JSONResponse({"error": "body must be a JSON object"}, status_code=422)
    units, rooms = doc.get("units", []), doc.get("rooms", [])
    if not isinstance(units, list) or not isinstance(rooms, list):
        return JSONResponse({"error": "units and rooms must be lists", "field": "units"}, status_code=422)
    try:
        new = parse_meeting(doc.get("title"), doc.get("start"), doc.get("duration_min"), units, rooms,
                            doc.get("all") is True)
    except MeetingInputError as err:
        field = _field(err.option)
        return JSONResponse({"error": f"{field}: {str(err).split(': ', 1)[1]}", "field": field}, status_code=422)
    meeting_id = await _add(request, new)
    meeting = await run_in_threadpool(runtime(request).store.meeting, meeting_id)
    return JSONResponse(meeting_json(meeting, time.time(), _lead(request)), status_code=201)  # type: ignore[arg-type]


async def api_cancel(request: Request) -> Response:
    meeting_id = _id(request)
    if meeting_id is None:
        return JSONResponse({"error": "no such meeting"}, status_code=404)
    try:
        await _cancel(request, meeting_id)
    except MeetingError as err:
        return JSONResponse({"error": str(err)}, status_code=404 if "unknown" in str(err) else 409)
    return JSONResponse({"id": meeting_id, "cancelled": True})


def _rollcall_now(request: Request, meeting: dict[str, Any]) -> dict[str, Any]:
    """The roll-call as the request's principal may see it, now and as kept."""
    rt = runtime(request)
    rooms = visible_rooms(request, participating(meeting["participants"], rt.store.rooms()))
    now = time.time()
    rows = rollcall(rooms, rt.store.meeting_requests(meeting["id"]), now, rt.config.offline_factor, rt.heard_since)
    who = principal(request)
    kept = {moment: [r for r in found if not who.units or who.sees(r["unit"])]
            for moment, found in rt.store.snapshots(meeting["id"]).items()}
    return {"meeting": meeting, "rows": rows, "counts": state_counts(rows), "kept": kept, "now": now}


async def _load(request: Request) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    meeting_id = _id(request)
    meeting = None if meeting_id is None else await run_in_threadpool(runtime(request).store.meeting, meeting_id)
    if meeting is None:
        return None, None
    return meeting, await run_in_threadpool(_rollcall_now, request, meeting)


async def api_rollcall(request: Request) -> Response:
    meeting, rc = await _load(request)
    if meeting is None or rc is None:
        return JSONResponse({"error": "no such meeting"}, status_code=404)
    if request.query_params.get("format") == "csv" or request.url.path.endswith(".csv"):
        chosen = request.query_params.get("lang", "en")  # the roll-call page passes its own
        text = rollcall_csv(meeting, rc["rows"], rc["kept"], lambda c: check_text(c, chosen))
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="rollcall-{meeting["id"]}.csv"'})
    kept = {moment: {"taken_at": iso(rows[0]["taken_at"]) if rows else None, "counts": state_counts(rows),
                     "rooms": [row_json(r) for r in rows]} for moment, rows in rc["kept"].items()}
    return JSONResponse({"meeting": meeting_json(meeting, rc["now"], _lead(request)), "counts": rc["counts"],
                         "rooms": [row_json(r) for r in rc["rows"]],
                         "kept": {m: kept.get(m) for m, _ in MOMENTS}})


async def page_list(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    rt = runtime(request)
    now = time.time()
    found = await run_in_threadpool(rt.store.meetings, now - 86400, True)
    return render(request, "meetings.html", status_code=status_code,
                  meetings=[(m, meeting_json(m, now, _lead(request))) for m in found],
                  can_edit=principal(request).allows(OPERATOR), error=error)


async def page_add(request: Request) -> Response:
    form = await read_form(request)  # urlencoded, bounded: no multipart parser needed
    if form is None:
        return await page_list(request, error="form too large", status_code=413)
    try:
        new = parse_meeting(form.get("title"), form.get("start"), form.get("duration"),
                            [form["unit"]] if form.get("unit") else [],
                            [form["room"]] if form.get("room") else [], form.get("all") == "1")
    except MeetingInputError as err:
        return await page_list(request, error=str(err), status_code=422)
    await _add(request, new)
    return RedirectResponse(f"/meetings?lang={request.query_params.get('lang', '')}", status_code=303)


async def page_cancel(request: Request) -> Response:
    meeting_id = _id(request)
    if meeting_id is not None:
        try:
            await _cancel(request, meeting_id)
        except MeetingError as err:
            return await page_list(request, error=str(err), status_code=409)
    return RedirectResponse(f"/meetings?lang={request.query_params.get('lang', '')}", status_code=303)


async def page_rollcall(request: Request) -> Response:
    meeting, rc = await _load(request)
    if meeting is None or rc is None:
        return render(request, "missing.html", status_code=404, room_id=request.path_params["meeting_id"])
    return render(request, "rollcall.html", info=meeting_json(meeting, rc["now"], _lead(request)),
                  meeting=meeting, rows=rc["rows"], counts=rc["counts"], kept=rc["kept"],
                  moments=[m for m, _ in MOMENTS], refresh_s=ROLLCALL_REFRESH_S)


def routes() -> list[Route]:
    return [
        Route("/api/v1/meetings", require(VIEWER)(api_list), methods=["GET"]),
        Route("/api/v1/meetings", require(OPERATOR)(api_add), methods=["POST"]),
        Route("/api/v1/meetings/{meeting_id}", require(OPERATOR)(api_cancel), methods=["DELETE"]),
        Route("/api/v1/meetings/{meeting_id}/cancel", require(OPERATOR)(api_cancel), methods=["POST"]),
        Route("/api/v1/meetings/{meeting_id}/rollcall", require(VIEWER)(api_rollcall)),
        Route("/api/v1/meetings/{meeting_id}/rollcall.csv", require(VIEWER)(api_rollcall)),
        Route("/meetings", require(VIEWER, html=True)(page_list), methods=["GET"]),
        Route("/meetings", require(OPERATOR, html=True)(page_add), methods=["POST"]),
        Route("/meetings/{meeting_id}/cancel", require(OPERATOR, html=True)(page_cancel), methods=["POST"]),
        Route("/meetings/{meeting_id}", require(VIEWER, html=True)(page_rollcall)),
    ]
