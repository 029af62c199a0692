"""Time the compliance report (30 days, by time) and /metrics (per-room series) for N rooms.

    .venv/bin/python bench/bench_report_metrics.py 1000

In-process on a temporary SQLite store: 4 heartbeats per room over the last day
(one room in seven fails for an hour), 30 units. Prints best and median of 3 runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.ingest import to_heartbeat  # noqa: E402
from collector.report import compliance  # noqa: E402
from tests.sample import heartbeat  # noqa: E402
from collector.store import Store  # noqa: E402
from collector.views import room_views  # noqa: E402
from collector.web import metrics  # noqa: E402
from collector.web.runtime import Counters  # noqa: E402


def timed(f: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[0] * 1000, times[len(times) // 2] * 1000


def main(n: int) -> None:
    store = Store(Path(tempfile.mkdtemp()) / "collector.db")
    now = time.time()
    for i in range(n):
        store.add_room(f"r-{i}")
        batch = []
        history = [(-20 * 3600, "ok"), (-10 * 3600, "fail" if i % 7 == 0 else "ok"), (-9 * 3600, "ok"), (-30, "ok")]
        for seq, (dt, status) in enumerate(history, start=1):
            doc = heartbeat(f"r-{i}", seq, status=status, unit=f"Unit {i % 30}",
                            failing="mcu.tcp" if status == "fail" else None)
            batch.append(to_heartbeat(doc, json.dumps(doc).encode(), now + dt))
        store.write_heartbeats(batch)  # type: ignore[arg-type]

    def scrape() -> str:
        views = room_views(store.rooms(), now, 3.0)
        return metrics.render(views, Counters(), 0, metrics.parse_bodies(store.latest_bodies()))

    best, median = timed(lambda: compliance(store, 30, now, 3.0))
    print(f"rooms {n}: report 30 days best {best:.0f} ms, median {median:.0f} ms")
    text = scrape()
    best, median = timed(scrape)
    series = sum(1 for line in text.splitlines() if not line.startswith("#"))
    print(f"rooms {n}: /metrics best {best:.0f} ms, median {median:.0f} ms, {len(text)} bytes, {series} series")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
