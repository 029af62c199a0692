"""Agent bandwidth (probe.mode = "http") against a 10 s iperf3 run over the same tbf-shaped link.

For each rate a room and a control-centre namespace are joined by a veth pair
shaped with ``tc qdisc tbf`` both ways; the agent's ``netcheck`` measures
upload and download, then iperf3 runs 10 s each way over the same link in the
same run. Prints a table; the target is agreement within ±5% at duration_s = 5.

    sudo .venv/bin/python bench/bench_bandwidth.py [--duration 5] [--rates 10,50,200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _netbench import Link, agent_netcheck, iperf3_mbps, ready, write_config

HTTP_PORT, STAMP_PORT, IPERF3_SECONDS = 8080, 8862, 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="probe.duration_s of the agent")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--rates", default="10,50,200", help="Mbit/s, comma separated")
    args = parser.parse_args()
    if not ready("bench_bandwidth"):
        return 0
    print(
        f"agent: http mode, {args.streams} streams, duration_s={args.duration:g} (first second discarded);"
        f" reference: iperf3 -P {args.streams}, {IPERF3_SECONDS} s"
    )
    print(
        f"{'tbf Mbit/s':>10} {'direction':>9} {'agent':>9} {'iperf3':>9} {'diff':>7}  {'agent s':>7}"
    )
    worst = 0.0
    for rate in (float(r) for r in args.rates.split(",")):
        link = Link()
        try:
            link.up()
            link.shape(rate)
            link.start_responder(HTTP_PORT, STAMP_PORT)
            server = link.start(link.centre, "iperf3", "--server", "--bind", link.centre_address)
            link.wait_tcp(link.centre, link.centre_address, 5201, server)
            with tempfile.TemporaryDirectory() as tmp:
                config = write_config(
                    Path(tmp) / "agent.toml",
                    link,
                    HTTP_PORT,
                    STAMP_PORT,
                    args.duration,
                    args.streams,
                )
                started = time.perf_counter()
                checks = agent_netcheck(link, config)
                elapsed = time.perf_counter() - started
            for direction, reverse in (("upload", False), ("download", True)):
                agent = checks[f"probe.{direction}"]["observed"]
                reference = iperf3_mbps(link, IPERF3_SECONDS, args.streams, reverse)
                diff = 100 * (agent - reference) / reference if agent is not None else float("nan")
                worst = max(worst, abs(diff))
                shown = f"{agent:9.2f}" if agent is not None else f"{'failed':>9}"
                print(
                    f"{rate:10g} {direction:>9} {shown} {reference:9.2f} {diff:+6.1f}%  {elapsed:7.1f}"
                )
                time.sleep(1)  # the iperf3 server takes one test at a time
        finally:
            link.down()
    print(f"worst difference: {worst:.1f}% (target ±5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
