"""``GET /metrics``: Prometheus text exposition format 0.0.4.

The ``bridge_webhook_*`` families appear only with ``--webhook``: a collector
without one has nothing to deliver, and a 0 there would read as "all delivered".

Prometheus reads it with a token: ``bridge-collector token add prometheus --role viewer``.
A token limited to units gets only their rooms' series; the process counters are the same for all.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.accounts import VIEWER
from collector.status import STATUSES, counts
from collector.views import RoomView, room_views
from collector.web.auth import require, visible_rooms
from collector.web.runtime import Counters, runtime
from collector.webhook import DeliveryStats


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def webhook_lines(stats: DeliveryStats, pending: int) -> list[str]:
    """The webhook families; ``pending``: events after the cursor (read from the store)."""
    lines = [
        "# HELP bridge_webhook_delivered_total Events the webhook receiver accepted (2xx).",
        "# TYPE bridge_webhook_delivered_total counter",
        f"bridge_webhook_delivered_total {stats.delivered}",
        "# HELP bridge_webhook_failed_total Events the receiver refused for good (4xx other than 408/429, 3xx).",
        "# TYPE bridge_webhook_failed_total counter",
        f"bridge_webhook_failed_total {stats.failed}",
        "# HELP bridge_webhook_retries_total Deliveries tried again after 408, 429, 5xx or a network error.",
        "# TYPE bridge_webhook_retries_total counter",
        f"bridge_webhook_retries_total {stats.retries}",
        "# HELP bridge_webhook_pending Events written but not yet handled by the webhook (the lag).",
        "# TYPE bridge_webhook_pending gauge",
        f"bridge_webhook_pending {pending}",
    ]
    if stats.last_success is not None:  # no sample before the first success: 0 would be 1970
        lines += [
            "# HELP bridge_webhook_last_success_timestamp_seconds When the receiver last accepted an event.",
            "# TYPE bridge_webhook_last_success_timestamp_seconds gauge",
            f"bridge_webhook_last_success_timestamp_seconds {stats.last_success:.3f}",
        ]
    return lines


def render(views: list[RoomView], counters: Counters, webhook_pending: int = 0) -> str:
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
    if counters.webhook is not None:
        lines += webhook_lines(counters.webhook, webhook_pending)
    return "\n".join(lines) + "\n"


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    rows = visible_rooms(request, await run_in_threadpool(rt.store.rooms))
    views = room_views(rows, time.time(), rt.config.offline_factor, rt.heard_since)
    stats = rt.counters.webhook
    pending = await run_in_threadpool(rt.store.count_events_after, stats.position) if stats else 0
    return Response(render(views, rt.counters, pending), media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[Route]:
    return [Route("/metrics", require(VIEWER)(metrics))]
