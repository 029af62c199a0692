"""The dashboard: server-rendered HTML (Jinja2), no JavaScript, refreshes itself.

    /                 open incidents, summary counts, rooms grouped by unit, worst first; ?unit= ?status= ?page=
    /rooms/{id}       one room: checks, devices, network figures, recent events and how long each lasted
    /report?days=N    the compliance report per unit
Every page takes ?lang=vi|en; the default is ``serve --lang``.
"""

from __future__ import annotations

import json
import time
from operator import attrgetter
from typing import Any, Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.accounts import VIEWER
from collector import quality
from collector.history import default_step, pick_source, regroup, thresholds_of
from collector.web import charts
from collector.report import compliance, max_days
from collector.status import SEVERITY, STATUSES, counts
from collector.views import RoomView, brief_view, room_view
from collector.web.api import BadQuery, int_param
from collector.web.auth import principal, require, visible_rooms
from collector.web.incidents import needs_someone, page_incident, visible
from collector.web.i18n import LABELS
from collector.web.pages import lang, render as _page
from collector.web.runtime import runtime

# Worst first, so the rooms that need someone are always on page 1; a page of
# 10,000 rows would be 3.5 MB that no one reads and that browsers render slowly. The city
# tiles above the table show every room; the table's rows are for reading, 500 at most.
PAGE_SIZE = 500
EVENTS_SHOWN = 50
# The room page's chart ranges; the step (and so raw / 5 min / 1 h) is picked as the series API does.
RANGES = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
# Chart id -> (unit, metrics drawn together); thresholds of those metrics are drawn as dashed lines.
CHARTS = {"latency": ("ms", ("rtt_avg_ms", "jitter_ms")), "loss": ("%", ("loss_pct",)),
          "bandwidth": ("Mbit/s", ("upload_mbps", "download_mbps"))}


def _group(views: Iterable[RoomView]) -> list[tuple[str, list[RoomView]]]:
    """Units ordered by their worst room, then name; inside a unit worst first, then name and id.

    Sorting each unit's rooms rather than all 10,000 at once: shorter keys, fewer comparisons.
    """
    groups: dict[str, list[RoomView]] = {}
    for v in views:
        groups.setdefault(v.unit, []).append(v)
    for rooms in groups.values():
        rooms.sort(key=lambda v: (-SEVERITY[v.status], v.name, v.room_id))
    return sorted(groups.items(), key=lambda kv: (-kv[1][0].severity, kv[0]))  # a unit's first is its worst


async def overview(request: Request) -> Response:
    # One trip off the event loop for all of it: 10,000 rooms are some 200 ms of Python that
    # heartbeats must not wait behind.
    return await run_in_threadpool(_overview, request)


def _overview(request: Request) -> Response:
    rt = runtime(request)
    now = time.time()
    views = visible_rooms(request, [brief_view(*r, now, rt.config.offline_factor, rt.heard_since)
                                    for r in rt.store.room_briefs()], attrgetter("unit"))
    incidents, incident_of, acked, room_acks = _incident_marks(request)
    units = sorted({v.unit for v in views if v.unit})
    unit = request.query_params.get("unit", "")
    status = request.query_params.get("status", "")
    city = _group(views)
    shown = [v for v in views if (not unit or v.unit == unit) and (not status or v.status == status)]
    ordered = [room for _, rooms in (_group(shown) if unit or status else city) for room in rooms]
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    try:
        page = int_param(request, "page", 1, 1, pages)
    except BadQuery:
        page = 1
    on_page = ordered[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    chosen = lang(request)
    return _page(
        request, "overview.html", totals=counts(v.status for v in views), statuses=STATUSES,
        groups=_group(on_page), units=units, unit=unit, status=status, shown=len(shown), page=page, pages=pages,
        incidents=incidents, incident_of=incident_of, acked_incidents=acked, room_acks=room_acks,
        needs_someone=needs_someone(views, incident_of, acked, room_acks),
        city_tiles=charts.city_tiles(city, LABELS[chosen], chosen),
    )


def _incident_marks(request: Request) -> tuple[list[dict[str, Any]], dict[str, list[int]], set[int], dict[str, Any]]:
    """Open incidents the principal sees, room -> its open incidents, acknowledged incidents, room acks."""
    store = runtime(request).store
    who = principal(request)
    shown = [page_incident(who, v) for v in (visible(who, inc) for inc in store.incidents("open", limit=1000))
             if v is not None]
    return shown, store.open_incident_rooms(), store.acknowledged_incidents(), store.room_acks()


def _durations(events: list[Any], now: float) -> list[tuple[Any, float, bool]]:
    """(event, how long the state it entered lasted, still ongoing) for events newest first."""
    out = []
    until, ongoing = now, True
    for e in events:
        out.append((e, until - e.at, ongoing))
        until, ongoing = e.at, False
    return out


async def room_page(request: Request) -> Response:
    rt = runtime(request)
    room_id = request.path_params["room_id"]
    row = await run_in_threadpool(rt.store.room, room_id)
    if row is None or not principal(request).sees(row["unit"]):  # another unit's room does not exist
        return _page(request, "missing.html", status_code=404, room_id=room_id)
    now = time.time()
    events = await run_in_threadpool(rt.store.events, room_id, 0.0, EVENTS_SHOWN)
    body = json.loads(row["body"]) if row["body"] else None
    checks = sorted(body["checks"], key=lambda c: -SEVERITY.get(c["status"], -1)) if body else []
    _, incident_of, _, room_acks = await run_in_threadpool(_incident_marks, request)
    call = quality.assess(quality.figures_of(body.get("network") if body else None))
    span = request.query_params.get("range", "24h")
    span = span if span in RANGES else "24h"
    # A heartbeat stands for the room until it is overdue, as the offline rule says.
    hold = rt.config.offline_factor * float((body or {}).get("interval_s") or 60)
    pictures = await run_in_threadpool(_room_charts, rt.store, room_id, body, now - RANGES[span], now, hold)
    return _page(request, "room.html", room=room_view(row, now, rt.config.offline_factor, rt.heard_since), heartbeat=body,
                 checks=checks, events=_durations(events, now), incident_ids=incident_of.get(room_id, []),
                 room_ack=room_acks.get(room_id), call=call, video_profile=quality.VIDEO_PROFILE,
                 ranges=list(RANGES), range=span, **pictures)


def _room_charts(store: Any, room_id: str, body: dict[str, Any] | None, start: float, end: float,
                 hold: float) -> dict[str, Any]:
    """The room page's charts and status band from ``start`` to ``end`` (read as the series API reads)."""
    step = default_step(start, end)
    source = pick_source(start, end, step)
    limits = thresholds_of(body)

    def points(metric: str) -> list[Any]:
        return regroup(store.series_rows(room_id, metric, source, start, end), step, source)

    built = [charts.build_chart(cid, unit, {m: points(m) for m in metrics},
                                {m: limits[m] for m in metrics if m in limits}, start, end, step)
             for cid, (unit, metrics) in CHARTS.items()]
    gaps = [(g["start"], g["end"]) for g in store.gaps(start)]
    spans = charts.status_spans(points("status"), max(hold, step, source), start, end, gaps)
    band = charts.status_band(spans, charts.plot_x(start, end))
    return {"charts": built, "band": band, "step": step,
            "source": "raw" if source == 0 else f"{source // 60}m"}


async def report_page(request: Request) -> Response:
    rt = runtime(request)
    longest = max_days(rt.config.retention_days)
    try:
        days = int_param(request, "days", min(30, longest), 1, 3650)
    except BadQuery:
        days = min(30, longest)
    asked, days = days, min(days, longest)  # the page shows what is retained and says so
    result = await run_in_threadpool(compliance, rt.store, days, time.time(), rt.config.offline_factor,
                                     rt.heard_since, principal(request).scope)
    return _page(request, "report.html", report=result, totals=result.totals,
                 limited_from=asked if asked > days else None)


def routes() -> list[Route]:
    return [
        Route("/", require(VIEWER, html=True)(overview)),
        Route("/rooms/{room_id}", require(VIEWER, html=True)(room_page)),
        Route("/report", require(VIEWER, html=True)(report_page)),
    ]
