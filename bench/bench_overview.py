"""Time the overview with N rooms (default 10,000) and a room's 30-day series of 5-minute rollups; storage per room.

    .venv/bin/python bench/bench_overview.py [N]

A real ``bridge-collector serve`` (tests/collector_helpers.running_collector) on a SQLite
store filled through the Store: N rooms in 30 units with one heartbeat each, and one room,
``s-0``, with a heartbeat every 5 minutes for the last 30 days. Timed over HTTP with the
admin token: GET / (the page with its city tiles), the series API for 30 days at step 300
(read from the 5-minute rollups), and the room page with its charts at 24 h / 7 d / 30 d.
Storage per row comes from SQLite's ``dbstat`` (tables with their indexes) on a database of
its own holding one room that reported every 60 s for 3 days, and is scaled to a room
with serve's default retention (raw 30 days, 5-minute rollups
35 days, hourly rollups 730 days): what a room holds after a year, and after two.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.ingest import to_heartbeat  # noqa: E402
from tests.sample import heartbeat  # noqa: E402
from collector.store import Store  # noqa: E402
from collector.web.runtime import ServeConfig  # noqa: E402
from tests.collector_helpers import running_collector  # noqa: E402

RUNS = 40
SERIES_DAYS = 30
HEARTBEAT_S = 60
DEFAULTS = ServeConfig(db="")  # serve's retention defaults


def fill(db: Path, n: int, now: float) -> None:
    store = Store(db)
    batch = []
    for i in range(n):
        room = f"r-{i:05d}"
        unit = f"UBND phường {i % 30:02d}"
        store.add_room(room, unit=unit)
        status = "fail" if i % 50 == 3 else "warn" if i % 40 == 7 else "ok"
        doc = heartbeat(room, 1, unit=unit, status=status, failing="probe.loss" if status != "ok" else None)
        batch.append(to_heartbeat(doc, json.dumps(doc).encode(), now - 20))
        if len(batch) == 1000:
            store.write_heartbeats(batch)  # type: ignore[arg-type]
            batch = []
    store.write_heartbeats(batch)  # type: ignore[arg-type]
    history(store, "s-0", SERIES_DAYS, 300, now)
    store.close()


def history(store: Store, room: str, days: float, every_s: int, now: float) -> None:
    """``room`` enrolled, reporting every ``every_s`` for the last ``days``."""
    store.add_room(room, unit="UBND phường 00")
    count = int(days * 86400 // every_s)
    rnd = random.Random(14)  # fractional figures, as measured ones are (SQLite stores whole REALs smaller)
    batch = []
    for seq in range(1, count + 1):
        at = now - (count - seq) * every_s - 30
        doc = heartbeat(room, seq, unit="UBND phường 00", interval_s=every_s)
        doc["network"].update({m: round(rnd.uniform(lo, hi), 3) for m, lo, hi in (
            ("rtt_min_ms", 3, 6), ("rtt_avg_ms", 6, 20), ("rtt_p95_ms", 20, 40), ("jitter_ms", 0.2, 4),
            ("loss_pct", 0, 0.5), ("upload_mbps", 60, 95), ("download_mbps", 70, 98), ("dns_ms", 1, 9))})
        batch.append(to_heartbeat(doc, json.dumps(doc).encode(), at))
        if len(batch) == 500:
            store.write_heartbeats(batch)  # type: ignore[arg-type]
            batch = []
    store.write_heartbeats(batch)  # type: ignore[arg-type]


def timed(get: Any, path: str, **params: Any) -> tuple[float, float, int]:
    get(path, params=params)  # warm the caches once
    times = []
    size = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        r = get(path, params=params)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, (path, r.status_code)
        size = len(r.content)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], size


def bytes_per_row(db: Path) -> dict[str, tuple[int, int]]:
    """table -> (bytes on disk with its indexes, rows)."""
    conn = sqlite3.connect(db)
    owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')"))
    sizes: dict[str, int] = {}
    for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        table = owner.get(name, name)
        sizes[table] = sizes.get(table, 0) + size
    out = {t: (s, conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
           for t, s in sizes.items() if t in ("heartbeats", "figures", "rollups", "events")}
    conn.close()
    return out


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "collector.db"
    now = time.time()
    t0 = time.perf_counter()
    fill(db, n, now)
    print(f"filled {n} rooms + 30 days of s-0 in {time.perf_counter() - t0:.0f} s; db {db.stat().st_size / 1e6:.1f} MB")
    rows = []
    with running_collector(tmp, rooms=(), db=db) as c:
        rows.append((f"GET / ({n} rooms, city tiles)",) + timed(c.get, "/"))
        rows.append(("series 30 d, step 300 (5-min rollups)",) + timed(
            c.get, "/api/v1/rooms/s-0/series", metric="rtt_avg_ms", step=300, **{"from": now - SERIES_DAYS * 86400,
                                                                                   "to": now}))
        for span in ("24h", "7d", "30d"):
            rows.append((f"room page charts, range={span}",) + timed(c.get, "/rooms/s-0", range=span))
    print(f"\n{'request':44} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>10}")
    for name, p50, p95, size in rows:
        print(f"{name:44} {p50:8.1f} {p95:8.1f} {size:10d}")
    # Storage: a database of its own with one room reporting every 60 s for 3 days.
    history_db = tmp / "history.db"
    store = Store(history_db)
    history(store, "h-0", 3, HEARTBEAT_S, now)
    store.close()
    per = bytes_per_row(history_db)
    per["events"] = bytes_per_row(db)["events"]  # one per room there
    print(f"\none room, 3 days at {HEARTBEAT_S} s:")
    print(f"{'table (with indexes)':22} {'rows':>8} {'bytes/row':>10}")
    for table, (size, count) in sorted(per.items()):
        print(f"{table:22} {count:8d} {size / max(count, 1):10.0f}")
    rollup_b = per["rollups"][0] / per["rollups"][1]
    raw_b = per["heartbeats"][0] / per["heartbeats"][1] + per["figures"][0] / per["figures"][1]
    event_b = per["events"][0] / max(per["events"][1], 1)
    print(f"\nper room reporting every {HEARTBEAT_S} s, serve's default retention:")
    print(f"{'kept':40} {'days':>5} {'rows':>8} {'MB':>7}")
    for years in (1, 2):
        total = 0.0
        for what, days, per_day, size in (
                ("raw heartbeats + figures", DEFAULTS.retention_days, 86400 / HEARTBEAT_S, raw_b),
                ("5-minute rollups", DEFAULTS.rollup_5m_retention_days, 288, rollup_b),
                ("1-hour rollups", DEFAULTS.rollup_retention_days, 24, rollup_b)):
            kept = min(days, 365 * years)
            rows_kept = kept * per_day
            total += rows_kept * size
            print(f"{what + f' (after {years} y)':40} {kept:5.0f} {rows_kept:8.0f} {rows_kept * size / 1e6:7.1f}")
        print(f"{f'one room after {years} y':40} {'':5} {'':8} {total / 1e6:7.1f}"
              f"   (1,000 rooms: {1000 * total / 1e9:.1f} GB)")
    print(f"events: {event_b:.0f} bytes each (a room's status changes; a few a day at most)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
