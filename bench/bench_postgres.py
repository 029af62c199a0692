"""National scale: 20,000 rooms at a 60 s interval on SQLite, PostgreSQL, and two collectors on PostgreSQL.

    .venv/bin/python bench/bench_postgres.py [--quick] [--rooms N] [--seconds S]

Each setup runs the real ``bridge-collector serve`` (one or two processes on [::1]) and
drives it with bench_collector's open-loop generator: every room sends one heartbeat
per interval, so 20,000 rooms are 333 heartbeats/s, latency counted from when each was
due (a stalled server cannot hide its queue). Meanwhile an operator's reads run:
GET /api/v1/rooms and the dashboard every 5 s. PostgreSQL is a throwaway cluster of
tests/pg_cluster.py with the production durability settings (fsync on, synchronous
commit), on the same machine and disk. Reported per setup: the sustained heartbeat rate,
p50/p99 latency, CPU per heartbeat (collectors + PostgreSQL server processes), the reads'
latency, and the database's growth per room per day. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_collector import Generator, cpu_seconds, machine, percentile  # noqa: E402
from collector.store import Store, hash_token  # noqa: E402
from tests.collector_helpers import RunningCollector, free_port, run_collector  # noqa: E402
from tests.pg_cluster import PgCluster, missing  # noqa: E402

INTERVAL_S = 60.0
READ_EVERY_S = 5.0


def enrol_bulk(db: str, n: int) -> dict[str, str]:
    """n rooms in one transaction (the rows ``room add`` writes), their tokens."""
    store = Store(db, migrate=True)
    tokens = {f"room-{i:05d}": f"bench-token-{i:05d}-{os.urandom(8).hex()}" for i in range(n)}
    now = time.time()
    rows = [(room, f"Đơn vị {i % 30:02d}", hash_token(token), now) for i, (room, token) in enumerate(tokens.items())]
    store.load_rows("rooms", ["room_id", "admin_unit", "token_sha256", "created_at"], rows)
    store.close()
    return tokens


def start(tmp: Path, db: str, tokens: dict[str, str], name: str, admin: str = "") -> RunningCollector:
    port = free_port()
    url = f"http://[::1]:{port}"
    c = RunningCollector(url=url, heartbeat_url=url + "/api/v1/heartbeat", tokens=tokens, db=db,  # type: ignore[arg-type]
                         process=None, port=port, log=tmp / f"{name}.log", admin_token=admin)
    c.start()
    return c


def db_bytes(db: str, postgres: bool) -> int:
    if not postgres:
        return sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*"))
    store = Store(db)
    try:
        return int(store._conn().execute("SELECT pg_database_size(current_database())").fetchone()[0])
    finally:
        store.close()


def server_cpu(cluster: PgCluster | None) -> float:
    """CPU seconds of every process of the PostgreSQL server (backends come and go: summed per sample)."""
    if cluster is None:
        return 0.0
    total = 0.0
    uid = os.stat(cluster.base / "data").st_uid
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == uid and b"postgres" in (proc / "cmdline").read_bytes():
                    total += cpu_seconds(int(proc.name))
            except (OSError, ValueError):
                continue
    return total


def reads(collectors: list[RunningCollector], stop: threading.Event, times: dict[str, list[float]]) -> None:
    with httpx.Client(timeout=60, headers=collectors[0].auth, trust_env=False) as client:
        turn = 0
        while not stop.wait(READ_EVERY_S):
            c = collectors[turn % len(collectors)]
            turn += 1
            for path in ("/api/v1/rooms", "/"):
                started = time.perf_counter()
                client.get(c.url + path).raise_for_status()
                times.setdefault(path, []).append(time.perf_counter() - started)


async def drive(generators: list[Generator], rate: float, seconds: float) -> float:
    per = rate / len(generators)
    connections = max(4, int(per // 20))
    spans = await asyncio.gather(*(g.open_loop(connections, per, seconds) for g in generators))
    return max(spans)


def run_setup(label: str, tmp: Path, db: str, cluster: PgCluster | None, collectors_n: int, rooms: int,
              seconds: float) -> list[str]:
    postgres = cluster is not None
    tokens = enrol_bulk(db, rooms)
    admin = run_collector("--db", db, "token", "add", "bench-admin", "--role", "admin").stdout.strip()
    collectors = [start(tmp, db, tokens, f"{label}-{i}", admin) for i in range(collectors_n)]
    try:
        names = list(tokens)
        shares = [dict((r, tokens[r]) for r in names[i::collectors_n]) for i in range(collectors_n)]
        generators = [Generator(c.port, share) for c, share in zip(collectors, shares)]
        # Warm-up: every room's first heartbeat (a new stream, an event each), not measured.
        asyncio.run(drive(generators, min(rooms / 20, 1000.0), 20))
        for g in generators:
            g.latencies.clear()
            g.statuses.clear()
            g.answered_200 = 0
        size_before = db_bytes(db, postgres)
        cpu_before = sum(cpu_seconds(c.process.pid) for c in collectors) + server_cpu(cluster)
        stop, read_times = threading.Event(), {}
        reader = threading.Thread(target=reads, args=(collectors, stop, read_times), daemon=True)
        reader.start()
        span = asyncio.run(drive(generators, rooms / INTERVAL_S, seconds))
        stop.set()
        reader.join()
        cpu = sum(cpu_seconds(c.process.pid) for c in collectors) + server_cpu(cluster) - cpu_before
        grown = db_bytes(db, postgres) - size_before
    finally:
        for c in collectors:
            c.stop()
    latencies = [x for g in generators for x in g.latencies]
    ok = sum(g.answered_200 for g in generators)
    errors = sum(n for g in generators for s, n in g.statuses.items() if s != 200)
    per_room_day = grown / max(ok, 1) * (86400 / INTERVAL_S)
    read_text = "  ".join(f"{p} p50 {statistics.median(t) * 1000:.0f} ms max {max(t) * 1000:.0f} ms"
                          for p, t in read_times.items() if t)
    return [label, f"{ok / span:.0f}/s ({errors} not 200)", f"{percentile(latencies, 50) * 1000:.1f}",
            f"{percentile(latencies, 99) * 1000:.1f}", f"{cpu / max(ok, 1) * 1e6:.0f}",
            f"{per_room_day / 1024:.0f} KiB", read_text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rooms for 15 s (a smoke run)")
    parser.add_argument("--rooms", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rooms, seconds = (2000, 15.0) if args.quick else (args.rooms, args.seconds)
    reason = missing()
    print(machine())
    print(f"{rooms} rooms at one heartbeat per {INTERVAL_S:.0f} s = {rooms / INTERVAL_S:.0f} heartbeats/s,"
          f" {seconds:.0f} s measured, reads every {READ_EVERY_S:.0f} s")
    table = [["setup", "sustained", "p50 ms", "p99 ms", "CPU µs/hb", "DB/room/day", "reads"]]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        table.append(run_setup("SQLite, 1 collector", tmp, str(tmp / "bench.db"), None, 1, rooms, seconds))
        if reason:
            print(f"PostgreSQL skipped: {reason}")
        else:
            pg_base = Path(tempfile.mkdtemp(prefix="bench-pg-"))  # the server's user must reach it: not under tmp
            cluster = PgCluster.start(pg_base, durable=True)
            try:
                for n in (1, 2):
                    db = cluster.new_database("bench")
                    table.append(run_setup(f"PostgreSQL, {n} collector{'s' if n > 1 else ''}", tmp, db, cluster, n,
                                           rooms, seconds))
            finally:
                cluster.stop()
                shutil.rmtree(pg_base, ignore_errors=True)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) + "  " + row[-1])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
