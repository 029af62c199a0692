"""Device benchmark: ``bridge-agent devices --json`` wall time and hot-plug-to-callback latency.

Runs over a umockdev testbed with 12 devices (tests/fixtures/umockdev: an
Intel HDA, a C920 webcam, a Jabra speakerphone, a Cam Link 4K, v4l2loopback
and snd-aloop). Wall time includes interpreter start, as a technician sees it.
Latency is from the last uevent of a plug/unplug to the watcher's callback,
minus the debounce. Targets: wall time <= 300 ms, latency p95 <= 200 ms.
Prints a table; needs umockdev (umockdev-wrapper, gir1.2-umockdev-1.0).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.umockdev_bed import BedClient  # noqa: E402

FIXTURES = ["hda-intel", "webcam-c920", "speakerphone-jabra", "capture-camlink", "virtual-loopback"]
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
DEBOUNCE_S = 0.3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, values_ms: list[float], target: str) -> str:
    return (f"| {name} | {len(values_ms)} | {min(values_ms):.0f} | {statistics.median(values_ms):.0f}"
            f" | {pct(values_ms, 0.95):.0f} | {max(values_ms):.0f} | {target} |")


def wall_times(bed: BedClient) -> tuple[list[float], int]:
    command = [sys.executable, "-m", "agent", "devices", "--json"]
    times, count = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run(command, env=bed.env(), cwd=REPO, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
        doc = json.loads(done.stdout)
        count = sum(len(doc[k]) for k in doc)
    return times, count


def scan_times(bed: BedClient) -> list[float]:
    code = ("import json, time\nfrom agent.devices import scan\nout = []\n"
            f"for _ in range({RUNS}):\n    t = time.perf_counter(); scan(); out.append((time.perf_counter() - t) * 1000)\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code], env=bed.env(), cwd=REPO, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def hotplug_latencies(bed: BedClient) -> list[float]:
    probe = subprocess.Popen([sys.executable, str(REPO / "tests/watch_probe.py"), str(DEBOUNCE_S)],
                             env=bed.env(), cwd=REPO, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert probe.stdout is not None and probe.stderr is not None and probe.stdin is not None
    probe.stderr.readline()  # "ready"
    latencies = []
    for i in range(RUNS):
        bed.send(f"{'unplug' if i % 2 else 'plug'} webcam-c920")
        sent = time.time()
        called = json.loads(probe.stdout.readline())["t"]
        latencies.append((called - sent - DEBOUNCE_S) * 1000)
    probe.stdin.close()
    probe.wait(timeout=10)
    probe.stdout.close()
    probe.stderr.close()
    return latencies


def main() -> int:
    bed = BedClient()
    try:
        bed.send("proc idle")
        for fixture in FIXTURES:
            bed.send(f"load {fixture}")
        walls, count = wall_times(bed)
        scans = scan_times(bed)
        bed.send("unplug webcam-c920")
        latencies = hotplug_latencies(bed)
    finally:
        bed.close()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; {count} devices; debounce {DEBOUNCE_S * 1000:.0f} ms")
    print("| measurement (ms) | runs | min | median | p95 | max | target |")
    print("|---|---|---|---|---|---|---|")
    print(row("`devices --json` wall time, incl. interpreter start", walls, "≤ 300"))
    print(row("`scan()` in a running process", scans, "-"))
    print(row("hot-plug to callback, after the debounce", latencies, "p95 ≤ 200"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
