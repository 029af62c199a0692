"""Per-heartbeat figures and their rollups: which metrics, read from a heartbeat, at what resolution.

Pure: the store keeps what ``figures_of`` returns and the 5-minute and 1-hour rollups of it;
``pick_source`` decides which of the three a series query reads, ``regroup`` coarsens rows
to the step that was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

# The heartbeat's `network` figures (agent/net/figures.py), the device counts, and the
# status as a number so that a rollup's max is the worst status of the bucket.
NETWORK_METRICS = ("rtt_min_ms", "rtt_avg_ms", "rtt_p95_ms", "jitter_ms", "loss_pct",
                   "upload_mbps", "download_mbps", "dns_ms")
DEVICE_METRICS = ("cameras", "microphones", "speakers")
METRICS = NETWORK_METRICS + DEVICE_METRICS + ("status",)
STATUS_LEVEL = {"ok": 0, "warn": 1, "fail": 2}

RAW = 0
ROLLUP_STEPS = (300, 3600)  # 5 minutes, 1 hour
MAX_POINTS = 10_000
# An average's decimals: the agents measure to the microsecond and the kbit/s at best, and
# 17 digits of a float's repr would double the series' size for nothing.
AVG_DIGITS = 4
# The check whose threshold belongs to a metric's chart.
THRESHOLD_CHECKS = {"rtt_avg_ms": "probe.rtt", "rtt_p95_ms": "probe.rtt", "jitter_ms": "probe.jitter",
                    "loss_pct": "probe.loss", "upload_mbps": "probe.upload", "download_mbps": "probe.download",
                    "dns_ms": "net.dns_aaaa"}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def figures_of(doc: dict[str, Any], status: str) -> dict[str, float | None]:
    """A valid heartbeat (and its judged status) -> a value (or None) for every metric of METRICS."""
    network = doc.get("network") or {}
    out: dict[str, float | None] = {m: _number(network.get(m)) for m in NETWORK_METRICS}
    devices = doc.get("devices") or {}
    for kind in DEVICE_METRICS:
        out[kind] = float(len(devices.get(kind) or []))
    out["status"] = float(STATUS_LEVEL.get(status, 2))
    return out


def thresholds_of(doc: dict[str, Any] | None) -> dict[str, float]:
    """The room's policy thresholds per metric, as its latest heartbeat's checks state them."""
    if not doc:
        return {}
    by_check = {c.get("name"): _number(c.get("threshold")) for c in doc.get("checks", [])}
    return {m: v for m, check in THRESHOLD_CHECKS.items() if (v := by_check.get(check)) is not None}


def bucket_of(at: float, step: int) -> float:
    return float(int(at // step) * step)


class SeriesError(ValueError):
    """A series query that cannot be answered as asked (the API answers 400)."""


def pick_source(start: float, end: float, step: int) -> int:
    """RAW, 300 or 3600: the coarsest stored resolution that is still at least as fine as ``step``."""
    if end <= start:
        raise SeriesError("'from' must be before 'to'")
    if step <= 0:
        raise SeriesError("'step' must be a positive number of seconds")
    if (end - start) / step > MAX_POINTS:
        raise SeriesError(f"'step' too small for the range: more than {MAX_POINTS} points")
    source = RAW
    for s in ROLLUP_STEPS:
        if step >= s:
            source = s
    return source


def default_step(start: float, end: float) -> int:
    """About 300 points over the range, and never finer than a minute."""
    return max(60, int((end - start) / 300))


@dataclass(frozen=True)
class Point:
    at: float      # start of the step
    min: float
    avg: float
    max: float
    count: int


def regroup(rows: Iterable[tuple[float, int, float, float, float]], step: int, source: int = RAW) -> list[Point]:
    """(at, count, min, max, sum) rows, oldest first -> one Point per ``step`` (empty steps left out).

    Rows of a rollup whose step is ``step`` already are one point each (the 30-day series at
    5 minutes: 8,640 rows, twice as fast without the merging).
    """
    if source and step == source:
        return [Point(at, lo, round(total / n, AVG_DIGITS), hi, n) for at, n, lo, hi, total in rows if n]
    out: list[Point] = []
    cur: list[float] | None = None
    for at, n, lo, hi, total in rows:
        if not n:
            continue
        b = bucket_of(at, step)
        if cur is not None and cur[0] == b:
            cur[1] += n
            cur[2] = min(cur[2], lo)
            cur[3] = max(cur[3], hi)
            cur[4] += total
        else:
            if cur is not None:
                out.append(_point(cur))
            cur = [b, n, lo, hi, total]
    if cur is not None:
        out.append(_point(cur))
    return out


def _point(cur: list[float]) -> Point:
    return Point(cur[0], cur[2], round(cur[4] / cur[1], AVG_DIGITS), cur[3], int(cur[1]))
