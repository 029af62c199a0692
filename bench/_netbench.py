"""Shared by the network benchmarks: the machine, the namespaces, agent and iperf3 runs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.netns import Link, netns_available  # noqa: E402

__all__ = ["Link", "REPO", "agent_netcheck", "iperf3_mbps", "machine", "ready", "write_config"]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPU(s), {model}, kernel {platform.release()}, load average {load}"


def ready(bench: str) -> bool:
    """Whether namespaces can be built here; prints the machine line, or why the bench skips."""
    reason = netns_available()
    if reason:
        print(f"{bench}: skipped: {reason}")
        return False
    print(f"machine: {machine()}")
    return True


def write_config(
    path: Path, link: Link, http_port: int, stamp_port: int, duration_s: float, streams: int
) -> Path:
    path.write_text(
        link.agent_central
        + f'[mcu]\nhost = "{link.centre_address}"\ntcp_ports = [{http_port}]\n'
        f'[probe]\nhost = "{link.centre_address}"\n'
        f"http_port = {http_port}\nstamp_port = {stamp_port}\ntls = false\n"
        f"duration_s = {duration_s}\nstreams = {streams}\n"
    )
    return path


def agent_netcheck(link: Link, config: Path, *extra: str) -> dict[str, dict]:
    proc = link.agent("netcheck", "--json", "--config", str(config), *extra, timeout=300)
    return {c["name"]: c for c in json.loads(proc.stdout)["checks"]}


def iperf3_mbps(link: Link, seconds: int, streams: int, reverse: bool) -> float:
    """Receiver-side goodput of an iperf3 run from the room to the centre's iperf3 server."""
    command = [
        "iperf3",
        "-c",
        link.centre_address,
        "-6",
        "--json",
        "-t",
        str(seconds),
        "-P",
        str(streams),
    ]
    if reverse:
        command.append("-R")
    proc = link.run(link.room, *command, timeout=seconds + 30)
    doc = json.loads(proc.stdout)
    if doc.get("error"):
        raise RuntimeError(doc["error"])
    return doc["end"]["sum_received"]["bits_per_second"] / 1e6


def run_quietly(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)
