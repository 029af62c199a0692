"""Incidents and acknowledgements over HTTP: the JSON API and the dashboard's forms.

    GET  /api/v1/incidents[?status=open|resolved][&limit=N]   newest first
    GET  /api/v1/incidents/{id}                               one, with its rooms and count over time
    POST /api/v1/incidents/{id}/ack   {"note": "..."}         operator: acknowledge an incident
    POST /api/v1/rooms/{id}/ack       {"note": "..."}         operator: acknowledge a room's problem
    GET  /incidents/{id}                                      the dashboard's page of one incident
    POST /incidents/{id}/ack, /rooms/{id}/ack                 the same from the dashboard (form, 303 back)

An account limited to units sees an incident when it is one of its units' or holds
one of their rooms, and then only those rooms; any other incident or room is 404.
It acknowledges its units' incidents and rooms only: a city-wide incident is for an
account of every unit (403).
Every acknowledgement goes to the audit trail. An acknowledged item stays on the
dashboard but no longer counts as needing someone (``needs_someone``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from collector.accounts import OPERATOR, VIEWER, Principal
from collector.status import iso
from collector.views import RoomView, room_view
from collector.web.api import BadQuery, ack_json, int_param
from collector.web.auth import client_address, principal, require, safe_next
from collector.web.login import read_form
from collector.web.pages import render
from collector.web.runtime import runtime

MAX_NOTE = 1000
MAX_BODY = 8192
TROUBLED = ("fail", "offline")  # the statuses that need someone
CITY_WIDE = "a city-wide incident is acknowledged by an account for every unit; acknowledge your rooms instead"


class BadAck(ValueError):
    pass


def visible(who: Principal, inc: dict[str, Any]) -> dict[str, Any] | None:
    """The incident as ``who`` may see it (members of its units only), or None."""
    if not who.units:
        return inc
    members = [m for m in inc["members"] if who.sees(m["unit"])]
    if not members and not (inc["scope"] == "unit" and who.sees(inc["unit"])):
        return None
    return {**inc, "members": members}


def may_ack(who: Principal, inc: dict[str, Any]) -> bool:
    """A city-wide incident is acknowledged by an account for every unit; a unit's, by one for that unit too."""
    return not who.units or (inc["scope"] == "unit" and who.sees(inc["unit"]))


def timeline(members: Iterable[dict[str, Any]]) -> list[tuple[float, int]]:
    """(time, rooms in the incident from then on), one point per change."""
    steps: dict[float, int] = {}
    for m in members:
        steps[m["joined_at"]] = steps.get(m["joined_at"], 0) + 1
        if m["recovered_at"] is not None:
            steps[m["recovered_at"]] = steps.get(m["recovered_at"], 0) - 1
    points, count = [], 0
    for at in sorted(steps):
        count += steps[at]
        points.append((at, count))
    return points


def incident_json(inc: dict[str, Any]) -> dict[str, Any]:
    active = [m for m in inc["members"] if m["recovered_at"] is None]
    return {
        "id": inc["id"], "check": inc["check_name"], "scope": inc["scope"], "unit": inc["unit"] or None,
        "status": "open" if inc["resolved_at"] is None else "resolved",
        "started_at": iso(inc["started_at"]), "opened_at": iso(inc["opened_at"]),
        "resolved_at": iso(inc["resolved_at"]), "rooms": len(active), "rooms_total": len(inc["members"]),
        "peak_rooms": inc["peak_rooms"],
        "members": [{"room_id": m["room_id"], "name": m["name"], "unit": m["unit"], "since": iso(m["since"]),
                     "joined_at": iso(m["joined_at"]), "recovered_at": iso(m["recovered_at"])}
                    for m in inc["members"]],
        "timeline": [{"at": iso(at), "rooms": n} for at, n in timeline(inc["members"])],
        "acknowledged": bool(inc["acks"]), "acks": [ack_json(a) for a in inc["acks"]],
    }


def needs_someone(views: Iterable[RoomView], incident_of: dict[str, list[int]], acked_incidents: set[int],
                  room_acks: dict[str, Any]) -> int:
    """Rooms failing or offline that nobody took on: no ack of their own, in no acknowledged incident."""
    return sum(1 for v in views if v.status in TROUBLED and v.room_id not in room_acks
               and not any(i in acked_incidents for i in incident_of.get(v.room_id, ())))


async def _visible_incident(request: Request) -> dict[str, Any] | None:
    try:
        incident_id = int(request.path_params["incident_id"])
    except ValueError:
        return None
    inc = await run_in_threadpool(runtime(request).store.incident, incident_id)
    return visible(principal(request), inc) if inc else None


async def _visible_room(request: Request) -> RoomView | None:
    rt = runtime(request)
    row = await run_in_threadpool(rt.store.room, request.path_params["room_id"])
    if row is None or not principal(request).sees(row["unit"]):  # another unit's room does not exist
        return None
    return room_view(row, time.time(), rt.config.offline_factor, rt.heard_since)


async def _json_note(request: Request) -> str:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadAck(f"the body must be at most {MAX_BODY} bytes")
    if not body.strip():
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadAck('the body must be JSON: {"note": "..."}') from None
    if not isinstance(doc, dict) or not isinstance(doc.get("note", ""), str):
        raise BadAck('the body must be a JSON object with a string "note"')
    return _checked_note(doc.get("note", ""))


def _checked_note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise BadAck(f"the note must be at most {MAX_NOTE} characters")
    return note


async def _ack(request: Request, kind: str, target: str, note: str) -> dict[str, Any]:
    rt = runtime(request)
    who = principal(request)
    ack = await run_in_threadpool(rt.store.add_ack, kind, target, who.actor, note, time.time())
    await run_in_threadpool(rt.store.audit, who.actor, client_address(request), f"{kind}.ack",
                            f"#{target}" if kind == "incident" else target, note)
    return ack


def _problem(room: RoomView) -> str | None:
    return None if room.status != "ok" else f"room {room.room_id!r} is ok: there is no problem to acknowledge"


# ---- the JSON API ----

async def list_incidents(request: Request) -> Response:
    status = request.query_params.get("status")
    try:
        if status not in (None, "open", "resolved"):
            raise BadQuery("query parameter 'status' must be open or resolved")
        limit = int_param(request, "limit", 100, 1, 1000)
    except BadQuery as err:
        return JSONResponse({"error": str(err)}, status_code=422)
    found = await run_in_threadpool(runtime(request).store.incidents, status, limit)
    who = principal(request)
    shown = [v for v in (visible(who, inc) for inc in found) if v is not None]
    return JSONResponse({"incidents": [incident_json(inc) for inc in shown]})


async def get_incident(request: Request) -> Response:
    inc = await _visible_incident(request)
    if inc is None:
        return JSONResponse({"error": f"no incident {request.path_params['incident_id']!r}"}, status_code=404)
    return JSONResponse(incident_json(inc))


async def ack_incident(request: Request) -> Response:
    inc = await _visible_incident(request)
    if inc is None:
        return JSONResponse({"error": f"no incident {request.path_params['incident_id']!r}"}, status_code=404)
    if not may_ack(principal(request), inc):
        return JSONResponse({"error": CITY_WIDE}, status_code=403)
    try:
        note = await _json_note(request)
    except BadAck as err:
        return JSONResponse({"error": str(err)}, status_code=422)
    ack = await _ack(request, "incident", str(inc["id"]), note)
    return JSONResponse({"incident": inc["id"], "ack": ack_json(ack)})


async def ack_room(request: Request) -> Response:
    room = await _visible_room(request)
    if room is None:
        return JSONResponse({"error": f"no room {request.path_params['room_id']!r}"}, status_code=404)
    if problem := _problem(room):
        return JSONResponse({"error": problem}, status_code=409)
    try:
        note = await _json_note(request)
    except BadAck as err:
        return JSONResponse({"error": str(err)}, status_code=422)
    ack = await _ack(request, "room", room.room_id, note)
    return JSONResponse({"room_id": room.room_id, "status": room.status, "ack": ack_json(ack)})


# ---- the dashboard's forms (the Origin check of collector.web.auth stops other sites) ----

async def _form_note(request: Request) -> tuple[str, str, str] | Response:
    """The form's note, language and the local page to go back to."""
    form = await read_form(request)
    if form is None:
        return Response("413 form too large\n", status_code=413, media_type="text/plain")
    try:
        return _checked_note(form.get("note", "")), form.get("lang", ""), safe_next(form.get("next"))
    except BadAck as err:
        return Response(f"422 {err}\n", status_code=422, media_type="text/plain")


def _lang_query(lang: str) -> str:
    return f"?lang={lang}" if lang in ("vi", "en") else ""


async def ack_incident_form(request: Request) -> Response:
    inc = await _visible_incident(request)
    if inc is None:
        return render(request, "incident_missing.html", status_code=404,
                      incident_id=request.path_params["incident_id"])
    if not may_ack(principal(request), inc):
        return render(request, "forbidden.html", status_code=403)
    got = await _form_note(request)
    if isinstance(got, Response):
        return got
    note, lang, back = got
    await _ack(request, "incident", str(inc["id"]), note)
    return RedirectResponse(f"{back}{_lang_query(lang)}#incident-{inc['id']}", status_code=303)


async def ack_room_form(request: Request) -> Response:
    room = await _visible_room(request)
    if room is None:
        return render(request, "missing.html", status_code=404, room_id=request.path_params["room_id"])
    got = await _form_note(request)
    if isinstance(got, Response):
        return got
    note, lang, _ = got
    if _problem(room) is None:  # already ok again: nothing to take on, back to the page
        await _ack(request, "room", room.room_id, note)
    return RedirectResponse(f"/rooms/{room.room_id}{_lang_query(lang)}", status_code=303)


async def incident_page(request: Request) -> Response:
    inc = await _visible_incident(request)
    if inc is None:
        return render(request, "incident_missing.html", status_code=404,
                      incident_id=request.path_params["incident_id"])
    return render(request, "incident.html", inc=page_incident(principal(request), inc),
                  timeline=timeline(inc["members"]))


def page_incident(who: Principal, inc: dict[str, Any]) -> dict[str, Any]:
    """The incident with what its dashboard rows show: the rooms still in it, whether ``who`` may acknowledge."""
    return {**inc, "active": [m for m in inc["members"] if m["recovered_at"] is None],
            "may_ack": who.allows(OPERATOR) and may_ack(who, inc)}


def routes() -> list[Route]:
    return [
        Route("/api/v1/incidents", require(VIEWER)(list_incidents)),
        Route("/api/v1/incidents/{incident_id}", require(VIEWER)(get_incident)),
        Route("/api/v1/incidents/{incident_id}/ack", require(OPERATOR)(ack_incident), methods=["POST"]),
        Route("/api/v1/rooms/{room_id}/ack", require(OPERATOR)(ack_room), methods=["POST"]),
        Route("/incidents/{incident_id}", require(VIEWER, html=True)(incident_page)),
        Route("/incidents/{incident_id}/ack", require(OPERATOR, html=True)(ack_incident_form), methods=["POST"]),
        Route("/rooms/{room_id}/ack", require(OPERATOR, html=True)(ack_room_form), methods=["POST"]),
    ]
