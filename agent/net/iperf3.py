"""The ``iperf3`` client (``probe.mode = "iperf3"``) and its ``--json`` report."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass

IPERF3_PORT = 5201  # iperf3's default; the responder's iperf3 server listens there
OMIT_S = 1  # iperf3 -O: the first second is ramp-up, not counted
BUSY_RETRIES = 3
BUSY_WAIT_S = 1.0


@dataclass(frozen=True)
class Iperf3Result:
    mbps: float | None
    error: str | None = None
    retransmits: int | None = None


def parse_iperf3_json(text: str) -> Iperf3Result:
    """Receiver-side goodput of an ``iperf3 --json`` report, or its error in words."""
    try:
        doc = json.loads(text)
    except ValueError:
        return Iperf3Result(None, "iperf3 printed no JSON report")
    if not isinstance(doc, dict):
        return Iperf3Result(None, "iperf3 printed an unexpected report")
    if doc.get("error"):
        return Iperf3Result(None, f"iperf3: {doc['error']}")
    end = doc.get("end") or {}
    received = end.get("sum_received") or {}
    bps = received.get("bits_per_second")
    if not isinstance(bps, (int, float)):
        return Iperf3Result(None, "iperf3 report has no end.sum_received.bits_per_second")
    retransmits = (end.get("sum_sent") or {}).get("retransmits")
    return Iperf3Result(
        round(bps / 1e6, 3), None, retransmits if isinstance(retransmits, int) else None
    )


def is_busy(error: str) -> bool:
    """Worth another try now: busy, or between two tests.

    After each test an iperf3 server closes its listening socket and opens a new one:
    in between a connection is refused although the server is there."""
    return server_busy(error) or "Connection refused" in error


def server_busy(error: str) -> bool:
    """The server is there, serving another client: a retry later, not a fault of this link
    (a refusal that outlasts the retries is an absent server, a failure)."""
    return "busy" in error or "Connection reset" in error


def iperf3_command(
    address: str, direction: str, duration_s: float, streams: int, port: int = IPERF3_PORT
) -> list[str]:
    command = [
        "iperf3",
        "--client",
        address,
        "--port",
        str(port),
        "-6",
        "--json",
        "--time",
        str(max(1, round(duration_s))),
        "--omit",
        str(OMIT_S),
        "--parallel",
        str(streams),
        "--connect-timeout",
        "3000",
    ]
    if direction == "download":
        command.append("--reverse")
    return command


def iperf3_bandwidth(
    address: str, direction: str, duration_s: float, streams: int, port: int = IPERF3_PORT
) -> Iperf3Result:
    if shutil.which("iperf3") is None:
        return Iperf3Result(None, "iperf3 is not installed (apt install iperf3)")
    command = iperf3_command(address, direction, duration_s, streams, port)
    for attempt in range(BUSY_RETRIES + 1):
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=duration_s + OMIT_S + 15
            )
        except subprocess.TimeoutExpired:
            return Iperf3Result(None, "iperf3 did not finish in time")
        result = parse_iperf3_json(proc.stdout)
        # An iperf3 server runs one test at a time and needs a moment between tests;
        # meanwhile it says it is busy or resets the control connection.
        if result.error is None or not is_busy(result.error) or attempt == BUSY_RETRIES:
            return result
        time.sleep(BUSY_WAIT_S)
    return result
