"""Wall time of ``bridge-agent netcheck --no-bandwidth`` on a healthy link (target ≤ 3 s).

The agent runs as a real process in a room namespace against the responder in
a control-centre namespace: process start, the IPv6 chain, TCP, ICMPv6 and
the 100-packet STAMP session (2 s of it by design).

    sudo .venv/bin/python bench/bench_netcheck.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _netbench import Link, agent_netcheck, ready, write_config

HTTP_PORT, STAMP_PORT = 8080, 8862


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not ready("bench_netcheck"):
        return 0
    link = Link()
    times: list[float] = []
    stamp: list[float] = []
    try:
        link.up()
        link.start_responder(HTTP_PORT, STAMP_PORT)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp) / "agent.toml", link, HTTP_PORT, STAMP_PORT, 5, 4)
            for _ in range(args.runs):
                started = time.perf_counter()
                checks = agent_netcheck(link, config, "--no-bandwidth")
                times.append(time.perf_counter() - started)
                bad = [n for n, c in checks.items() if c["status"] not in ("ok", "skip")]
                if bad:
                    print(f"unhealthy run: {bad}")
                stamp.append(checks["probe.rtt"]["details"]["duration_ms"] / 1000)
    finally:
        link.down()
    print(f"{'runs':>4} {'min s':>7} {'median s':>8} {'max s':>7} {'STAMP s':>8}  target")
    print(
        f"{len(times):4d} {min(times):7.2f} {statistics.median(times):8.2f} {max(times):7.2f}"
        f" {statistics.median(stamp):8.2f}  ≤ 3 s: {'met' if max(times) <= 3 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
