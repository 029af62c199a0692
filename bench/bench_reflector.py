"""What the STAMP reflector adds to the rooms' RTT, at rest and while the collector ingests heartbeats.

    .venv/bin/python bench/bench_reflector.py [--quick]

On [::1], separate processes: ``bridge-collector serve`` (5,000 rooms enrolled), the load
generator of bench_collector.py offering ~2,000 heartbeats/s to it (its own process), the
reflector, and this process sending STAMP test packets (44 octets, every 10 ms). Two set-ups:

- ``probe-serve``: the reflector in its own process (the default from this release);
- ``serve --probe-in-process``: the reflector as a thread of the collector (the old default).

For each: raw round trip (T4 - T1, what a naive sender sees), the reflector's dwell
(T3 - T2, from its kernel receive timestamp to its answer) and the RTT a room reports,
(T4 - T1) - (T3 - T2), in p50 / p99 / max ms. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from agent.net.stamp import build_sender_packet, parse_reflector_packet, to_ntp  # noqa: E402
from bench_collector import ROOMS, Generator, enrol, machine, percentile, start_server  # noqa: E402
from tests.collector_helpers import collector_command, free_port  # noqa: E402

RATE = 2000
INTERVAL_S = 0.010


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


def stamp_sample(port: int, count: int) -> tuple[list[float], list[float], list[float], int]:
    """(raw RTT ms, dwell ms, reported RTT ms, lost) of ``count`` packets ``INTERVAL_S`` apart."""
    raw, dwell, reported = [], [], []
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.connect(("::1", port))
        for seq in range(count):
            started = time.perf_counter()
            sock.send(build_sender_packet(seq, to_ntp(time.time())))
            ready, _, _ = select.select([sock], [], [], 1.0)
            if ready:
                reply = parse_reflector_packet(sock.recv(100))
                took = time.perf_counter() - started
                if reply is not None and reply.sender_seq == seq:
                    raw.append(took * 1000)
                    dwell.append(reply.dwell_s * 1000)
                    reported.append((took - reply.dwell_s) * 1000)
            time.sleep(max(0.0, INTERVAL_S - (time.perf_counter() - started)))
    return raw, dwell, reported, count - len(raw)


def _load(port: int, tokens: dict[str, str], seconds: float, out: "multiprocessing.Queue[str]") -> None:
    gen = Generator(port, tokens)
    elapsed = asyncio.run(gen.open_loop(64, RATE, seconds))
    out.put(f"{len(gen.latencies) / elapsed:.0f}/s, 200: {gen.answered_200}/{len(gen.latencies)}")


def figures(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} / {percentile(values, 99):.3f} / {max(values):.3f}"


def measure(label: str, stamp_port: int, collector_port: int, tokens: dict[str, str], count: int,
            rows: list[tuple[str, ...]]) -> None:
    for loaded in (False, True):
        rate = "-"
        if loaded:
            queue: multiprocessing.Queue[str] = multiprocessing.Queue()
            load = multiprocessing.Process(target=_load, args=(collector_port, tokens, count * INTERVAL_S * 1.3 + 1,
                                                               queue))
            load.start()
            time.sleep(0.8)  # the generator's connections open and its rate settles
        raw, dwell, reported, lost = stamp_sample(stamp_port, count)
        if loaded:
            load.join()
            rate = queue.get()
        rows.append((label, f"ingest {rate}" if loaded else "at rest", figures(raw), figures(dwell),
                     figures(reported), str(lost)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer packets (a smoke run)")
    args = parser.parse_args()
    count = 300 if args.quick else 1000
    rows: list[tuple[str, ...]] = [("reflector", "collector", "raw RTT ms p50/p99/max", "dwell ms p50/p99/max",
                                    "reported RTT ms p50/p99/max", "lost")]
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "c.db"
        tokens = enrol(db, ROOMS, "room")
        # The reflector in its own process (the default), beside a collector without it.
        c = start_server(work, db, tokens)
        stamp = free_udp_port()
        probe = subprocess.Popen([*collector_command(), "--db", str(db), "probe-serve", "--listen",
                                  f"[::1]:{free_port()}", "--stamp-port", str(stamp)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            measure("probe-serve (own process)", stamp, c.port, tokens, count, rows)
        finally:
            probe.terminate()
            probe.wait(10)
            c.stop()
        # The old way: the reflector as a thread of the collector.
        stamp = free_udp_port()
        c.extra_args = ("--probe-in-process", "--stamp-port", str(stamp))
        c.start()
        try:
            measure("serve --probe-in-process", stamp, c.port, tokens, count, rows)
        finally:
            c.stop()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths)))
    print(f"{count} test packets {INTERVAL_S * 1000:.0f} ms apart per line; load offered {RATE} heartbeats/s"
          f" over 64 connections; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
