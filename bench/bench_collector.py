"""Collector benchmarks: heartbeat ingest rate and latency, dashboard and API with 10,000 rooms.

    .venv/bin/python bench/bench_collector.py [--quick]

Runs the real ``bridge-collector serve`` on [::1] with a temp database and drives it
with a bounded load generator in this process (asyncio, HTTP/1.1 keep-alive, each
request written in one piece). Phases:

1. validation cost per heartbeat, in-process (compiled fast path vs jsonschema);
2. ingest, closed loop: C connections send as fast as answers come back (capacity);
3. ingest, open loop at a fixed offered rate: latency measured from when each request
   was due, so a stalled server cannot hide its queue (no coordinated omission);
4. GET /api/v1/rooms and the dashboard with 10,000 rooms;
5. what durability costs: the writer's commits with ``synchronous=FULL`` (shipped: a 200
   means the row is on disk) against ``NORMAL`` (lost on power loss), in-process,
   batches of 1 (a quiet network) and 64 heartbeats (a busy one).
Prints one table. Both the server and the generator share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.ingest import Validator, decode, to_heartbeat  # noqa: E402
from tests.sample import heartbeat  # noqa: E402
from collector.store import Heartbeat, Store  # noqa: E402
from tests.collector_helpers import RunningCollector, free_port  # noqa: E402

ROOMS = 5000
BIG_ROOMS = 10_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (to report cost per heartbeat, less sensitive to load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def enrol(db: Path, n: int, prefix: str) -> dict[str, str]:
    store = Store(db)
    tokens = {f"{prefix}-{i:05d}": "" for i in range(n)}
    for room_id in tokens:
        tokens[room_id] = store.add_room(room_id, unit=f"Đơn vị {int(room_id[-5:]) % 30:02d}")
    store.close()
    return tokens


class Generator:
    """Pre-renders request bytes; room_id and seq are substituted per request."""

    def __init__(self, port: int, tokens: dict[str, str]) -> None:
        self.port = port
        self.rooms = list(tokens.items())
        template = heartbeat("ROOMID", 999_999_999)
        self.body_template = json.dumps(template, ensure_ascii=False, separators=(",", ":")).encode()
        self.seq = dict.fromkeys(tokens, 0)
        self.next_room = 0
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.answered_200 = 0

    def request(self) -> bytes:
        room_id, token = self.rooms[self.next_room % len(self.rooms)]
        self.next_room += 1
        self.seq[room_id] += 1
        body = self.body_template.replace(b"ROOMID", room_id.encode()).replace(
            b"999999999", str(self.seq[room_id]).encode())
        head = (f"POST /api/v1/heartbeat HTTP/1.1\r\nHost: [::1]\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        return head + body

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float) -> None:
        writer.write(self.request())
        status = int((await reader.readline()).split(b" ", 2)[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.answered_200 += status == 200

    async def closed_loop(self, connections: int, total: int) -> float:
        remaining = [total]

        async def worker() -> None:
            reader, writer = await asyncio.open_connection("::1", self.port)
            while remaining[0] > 0:
                remaining[0] -= 1
                await self._exchange(reader, writer, time.perf_counter())
            writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - started

    async def open_loop(self, connections: int, rate: float, seconds: float) -> float:
        """Each connection sends on its own schedule; latency counts from the scheduled time."""
        interval = connections / rate
        count = int(seconds * rate / connections)

        async def worker(offset: float, t0: float) -> None:
            reader, writer = await asyncio.open_connection("::1", self.port)
            for k in range(count):
                due = t0 + offset + k * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._exchange(reader, writer, due)
            writer.close()

        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(worker(i * interval / connections, t0) for i in range(connections)))
        return time.perf_counter() - t0


def start_server(tmp: Path, db: Path, tokens: dict[str, str]) -> RunningCollector:
    port = free_port()
    url = f"http://[::1]:{port}"
    c = RunningCollector(url=url, heartbeat_url=url + "/api/v1/heartbeat", tokens=tokens, db=db,
                         process=None, port=port, log=tmp / "collector.log")  # type: ignore[arg-type]
    c.start()
    return c


def bench_validation(rows: list[tuple[str, str, str]]) -> None:
    import jsonschema

    validator = Validator()
    raw = json.dumps(heartbeat("room-1", 1), ensure_ascii=False, separators=(",", ":")).encode()
    doc = decode(raw)
    schema = json.loads((REPO / "collector/schema/heartbeat-v1.schema.json").read_text())
    reference = jsonschema.validators.validator_for(schema)(schema)
    for label, fn, n in (("json.loads + compiled schema", lambda: validator.problem(decode(raw)), 3000),
                         ("jsonschema 4.10 iter_errors", lambda: reference.is_valid(doc), 500)):
        fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        rows.append(("validation", label, f"{(time.perf_counter() - started) / n * 1e6:.0f} µs/heartbeat"))
    rows.append(("validation", "body size", f"{len(raw)} bytes"))


def bench_ingest(tmp: Path, rows: list[tuple[str, str, str]], quick: bool) -> None:
    db = tmp / "ingest.db"
    tokens = enrol(db, ROOMS, "room")
    c = start_server(tmp, db, tokens)
    try:
        gen = Generator(c.port, tokens)
        asyncio.run(gen.closed_loop(16, 500))  # warm-up
        for connections in (8, 32):
            gen.latencies, gen.statuses = [], {}
            total = 3000 if quick else 12_000
            cpu_before = cpu_seconds(c.process.pid)
            elapsed = asyncio.run(gen.closed_loop(connections, total))
            cpu = (cpu_seconds(c.process.pid) - cpu_before) / total
            lat = gen.latencies
            rows.append((f"ingest closed loop, {connections} conns", f"{total} heartbeats, {ROOMS} rooms",
                         f"{total / elapsed:.0f}/s  p50 {percentile(lat, 50) * 1000:.1f} ms  "
                         f"p99 {percentile(lat, 99) * 1000:.1f} ms  server CPU {cpu * 1e6:.0f} µs/heartbeat  "
                         f"{gen.statuses}"))
        for rate in ((1000, 2000) if quick else (1000, 1500, 2000)):
            gen.latencies, gen.statuses = [], {}
            seconds = 4 if quick else 10
            elapsed = asyncio.run(gen.open_loop(64, rate, seconds))
            lat = gen.latencies
            rows.append((f"ingest open loop, offered {rate}/s", f"{len(lat)} heartbeats, 64 conns",
                         f"{len(lat) / elapsed:.0f}/s  p50 {percentile(lat, 50) * 1000:.1f} ms  "
                         f"p99 {percentile(lat, 99) * 1000:.1f} ms  max {max(lat) * 1000:.0f} ms  {gen.statuses}"))
        stored = Store(db)
        n = stored._conn().execute("SELECT count(*) FROM heartbeats").fetchone()[0]
        stored.close()
        rows.append(("ingest", "heartbeat rows / 200 answers", f"{n} / {gen.answered_200}"))
    finally:
        c.stop()


def bench_durability(tmp: Path, rows: list[tuple[str, str, str]], quick: bool) -> None:
    commits = 100 if quick else 400
    for batch_size in (1, 64):
        for mode in ("FULL", "NORMAL"):
            db = tmp / f"sync-{mode}-{batch_size}.db"
            enrol(db, batch_size, "d")
            store = Store(db)
            store.become_writer()
            store._conn().execute(f"PRAGMA synchronous={mode}")
            now = time.time()
            times = []
            for n in range(1, commits + 1):
                batch = []
                for i in range(batch_size):
                    doc = heartbeat(f"d-{i:05d}", n)
                    hb = to_heartbeat(doc, json.dumps(doc).encode(), now)
                    assert isinstance(hb, Heartbeat)
                    batch.append(hb)
                started = time.perf_counter()
                store.write_heartbeats(batch)
                times.append(time.perf_counter() - started)
            store.close()
            total = sum(times)
            rows.append((f"commit, synchronous={mode}", f"{commits} commits of {batch_size}",
                         f"{commits / total:.0f} commits/s  {commits * batch_size / total:.0f} heartbeats/s  "
                         f"p50 {percentile(times, 50) * 1000:.2f} ms  p99 {percentile(times, 99) * 1000:.2f} ms"))


def fill_big(db: Path) -> dict[str, str]:
    tokens = enrol(db, BIG_ROOMS, "big")
    store = Store(db)
    now = time.time()
    batch = []
    for i, room_id in enumerate(tokens):
        status = ("ok", "ok", "ok", "warn", "fail")[i % 5]
        doc = heartbeat(room_id, 1, status=status, failing="probe.loss" if status != "ok" else None)
        hb = to_heartbeat(doc, json.dumps(doc).encode(), now - (10_000 if i % 50 == 0 else 5))
        assert isinstance(hb, Heartbeat)
        batch.append(hb)
    store.write_heartbeats(batch)
    store.close()
    return tokens


def bench_reads(tmp: Path, rows: list[tuple[str, str, str]], quick: bool) -> None:
    db = tmp / "big.db"
    tokens = fill_big(db)
    c = start_server(tmp, db, tokens)
    try:
        with httpx.Client(timeout=60, headers=c.auth) as client:  # reads need a token (the admin's)
            for path in ("/api/v1/rooms", "/", "/?unit=Đơn vị 07", "/metrics", "/api/v1/report?days=30", "/report"):
                client.get(c.url + path).raise_for_status()
                times = []
                for _ in range(3 if quick else 10):
                    started = time.perf_counter()
                    response = client.get(c.url + path)
                    times.append(time.perf_counter() - started)
                    response.raise_for_status()
                rows.append((f"GET {path}", f"{BIG_ROOMS} rooms, {len(response.content) // 1024} KiB",
                             f"median {statistics.median(times) * 1000:.0f} ms  max {max(times) * 1000:.0f} ms"))
    finally:
        c.stop()


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {model}, load average before: {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        bench_validation(rows)
        bench_ingest(Path(tmp), rows, args.quick)
        bench_reads(Path(tmp), rows, args.quick)
        bench_durability(Path(tmp), rows, args.quick)
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
