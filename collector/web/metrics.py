"""``GET /metrics``: Prometheus text exposition format 0.0.4.

Prometheus reads it with a token: ``bridge-collector token add prometheus --role viewer``.

A token limited to units gets only their rooms' series; the process counters are the same for all.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.status import STATUSES, counts
from collector.views import RoomView, room_views
from collector.accounts import VIEWER
from collector.web.auth import require, visible_rooms
from collector.web.runtime import Counters, runtime


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(views: list[RoomView], counters: Counters) -> str:
    lines = [
        "# HELP bridge_rooms Enrolled rooms by effective status.",
        "# TYPE bridge_rooms gauge",
    ]
    by_status = counts(v.status for v in views)
    lines += [f'bridge_rooms{{status="{s}"}} {by_status[s]}' for s in STATUSES]
    lines += [
        "# HELP bridge_heartbeats_accepted_total Heartbeats stored since the collector started.",
        "# TYPE bridge_heartbeats_accepted_total counter",
        f"bridge_heartbeats_accepted_total {counters.accepted}",
        "# HELP bridge_heartbeats_duplicate_total Replayed heartbeats answered without storing.",
        "# TYPE bridge_heartbeats_duplicate_total counter",
        f"bridge_heartbeats_duplicate_total {counters.duplicates}",
        "# HELP bridge_heartbeats_seq_reused_total Heartbeats not stored: their seq was used by another one.",
        "# TYPE bridge_heartbeats_seq_reused_total counter",
        f"bridge_heartbeats_seq_reused_total {counters.seq_reused}",
        "# HELP bridge_heartbeats_rejected_total Heartbeats refused, by reason.",
        "# TYPE bridge_heartbeats_rejected_total counter",
    ]
    lines += [f'bridge_heartbeats_rejected_total{{reason="{r}"}} {n}' for r, n in sorted(counters.rejected.items())]
    lines += [
        "# HELP bridge_room_status 1 for the room's current effective status.",
        "# TYPE bridge_room_status gauge",
    ]
    for v in views:
        labels = f'room_id="{_label(v.room_id)}",unit="{_label(v.unit)}"'
        lines += [f'bridge_room_status{{{labels},status="{s}"}} {int(v.status == s)}' for s in STATUSES]
    lines += [
        "# HELP bridge_room_last_seen_timestamp_seconds When the room's last heartbeat arrived.",
        "# TYPE bridge_room_last_seen_timestamp_seconds gauge",
    ]
    lines += [f'bridge_room_last_seen_timestamp_seconds{{room_id="{_label(v.room_id)}"}} {v.last_seen:.3f}'
              for v in views if v.last_seen is not None]
    return "\n".join(lines) + "\n"


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    rows = visible_rooms(request, await run_in_threadpool(rt.store.rooms))
    views = room_views(rows, time.time(), rt.config.offline_factor, rt.heard_since)
    return Response(render(views, rt.counters), media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[Route]:
    return [Route("/metrics", require(VIEWER)(metrics))]
