"""``GET /metrics``: Prometheus text exposition format 0.0.4.

The ``bridge_webhook_*`` families appear only with ``--webhook``: a collector
without one has nothing to deliver, and a 0 there would read as "all delivered".

Per room, while it is not offline, the figures of its latest heartbeat (in base
units: seconds, ratio, bytes per second), the E-model rating of a call
(collector/quality.py) and each check's status as a number (0 ok, 1 warn, 2 fail;
a skipped check has no sample). An offline room's figures are dropped rather than
exported stale, so Prometheus marks its series stale and an alert on them resolves;
``bridge_room_status`` says it is offline. The label sets are bounded: a room
sends at most 100 checks, each named by the schema's pattern.

Prometheus reads it with a token: ``bridge-collector token add prometheus --role viewer``.
A token limited to units gets only their rooms' series; the process counters are the same for all.
"""

from __future__ import annotations

import json
import time
from operator import attrgetter
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector import quality
from collector.accounts import VIEWER
from collector.status import STATUSES, counts
from collector.views import RoomView, brief_views
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


# family, help, figure key, factor to the base unit
FIGURES = (
    ("bridge_room_rtt_seconds", "Round trip to the probe responder (average), latest heartbeat.", "rtt_ms", 1e-3),
    ("bridge_room_jitter_seconds", "Jitter to the probe responder, latest heartbeat.", "jitter_ms", 1e-3),
    ("bridge_room_loss_ratio", "Share of probe packets lost (0-1), latest heartbeat.", "loss_pct", 1e-2),
    ("bridge_room_upload_bytes_per_second", "Measured upload throughput, latest heartbeat.", "upload_mbps", 1e6 / 8),
    ("bridge_room_download_bytes_per_second", "Measured download throughput, latest heartbeat.", "download_mbps", 1e6 / 8),
    ("bridge_room_dns_seconds", "Time to resolve the MCU's AAAA record, latest heartbeat.", "dns_ms", 1e-3),
)
CHECK_VALUE = {"ok": 0, "warn": 1, "fail": 2}
MAX_CHECKS = 100  # the schema's maxItems: the check label cannot grow without bound


def _number(value: float) -> str:
    return repr(round(value, 9))


def room_lines(views: list[RoomView], bodies: Mapping[str, Any]) -> list[str]:
    """Figures, call quality and check status of every room heard and not offline."""
    live = [(v, bodies[v.room_id]) for v in views if v.status != "offline" and bodies.get(v.room_id)]
    figures = {v.room_id: quality.figures_of(body.get("network")) for v, body in live}
    assessed = {room_id: quality.assess(f) for room_id, f in figures.items()}
    lines: list[str] = []

    def family(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        lines.extend(f"{name}{{{label_set}}} {_number(value)}" for label_set, value in samples)

    def labels(v: RoomView) -> str:
        return f'room_id="{_label(v.room_id)}",unit="{_label(v.unit)}"'

    def present(values: dict[str, float | None]) -> list[tuple[str, float]]:
        return [(labels(v), value) for v, _ in live if (value := values[v.room_id]) is not None]

    for name, help_text, key, factor in FIGURES:
        family(name, help_text, present({room_id: None if (value := f[key]) is None else value * factor
                                         for room_id, f in figures.items()}))
    family("bridge_room_call_r_factor",
           f"ITU-T G.107 E-model rating R of a call ({quality.CODEC}, one-way delay RTT/2 + 2 jitter + 20 ms).",
           present({room_id: q.r for room_id, q in assessed.items()}))
    family("bridge_room_call_mos", "Mean opinion score estimated from the E-model rating (G.107 Annex B).",
           present({room_id: q.mos for room_id, q in assessed.items()}))
    family("bridge_room_video_ok", "1 when every measured figure is within the HD video profile (docs/quality.md).",
           present({room_id: None if q.video_ok is None else float(q.video_ok) for room_id, q in assessed.items()}))
    checks: list[tuple[str, float]] = []
    for v, body in live:
        for check in (body.get("checks") or [])[:MAX_CHECKS]:
            value = CHECK_VALUE.get(check.get("status"))
            if value is not None and isinstance(check.get("name"), str):
                checks.append((f'{labels(v)},check="{_label(check["name"])}"', value))
    family("bridge_room_check_status", "The check's status in the room's latest heartbeat: 0 ok, 1 warn, 2 fail.",
           checks)
    return lines


def parse_bodies(bodies: Mapping[str, str]) -> dict[str, Any]:
    return {room_id: json.loads(body) for room_id, body in bodies.items() if body}


def render(views: list[RoomView], counters: Counters, webhook_pending: int = 0,
           bodies: Mapping[str, Any] | None = None) -> str:
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
    lines += room_lines(views, bodies or {})
    if counters.webhook is not None:
        lines += webhook_lines(counters.webhook, webhook_pending)
    return "\n".join(lines) + "\n"


async def metrics(request: Request) -> Response:
    rt = runtime(request)
    views = visible_rooms(request, brief_views(await run_in_threadpool(rt.store.room_briefs), time.time(),
                                               rt.config.offline_factor, rt.heard_since), attrgetter("unit"))
    stats = rt.counters.webhook
    pending = await run_in_threadpool(rt.store.count_events_after, stats.position) if stats else 0
    visible = {v.room_id for v in views}

    def text() -> str:  # parsing 1,000 bodies takes ~0.1 s: off the event loop, which ingest shares
        bodies = parse_bodies({k: b for k, b in rt.store.latest_bodies().items() if k in visible})
        return render(views, rt.counters, pending, bodies)

    return Response(await run_in_threadpool(text), media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[Route]:
    return [Route("/metrics", require(VIEWER)(metrics))]
