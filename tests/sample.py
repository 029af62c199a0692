"""Realistic heartbeat bodies (about 5 KB) for the tests, the benchmarks and `make run` demos.

Built with the agent's own heartbeat builder (``agent.daemon.heartbeat.build``) and its
``network`` figures (``agent.net.figures.network_figures``) from check results shaped as the
real checks make them (codes and params included), so the sample cannot drift from what
rooms send. Test and demo data: not part of either Debian package.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from agent.config import AgentConfig, parse_config
from agent.daemon.heartbeat import SpoolFigures, build
from agent.net.figures import network_figures
from agent.result import CheckResult, Status

# name, summary, observed, threshold, unit, code, params, details
_CHECKS: tuple[tuple[str, str, Any, Any, str | None, str, dict[str, Any], dict[str, Any]], ...] = (
    ("devices.cameras", "1 camera: Logitech MeetUp", 1, 1, "count", "devices.ok",
     {"kind": "camera", "count": 1, "minimum": 1}, {}),
    ("devices.microphones", "1 microphone: Jabra Speak 710", 1, 1, "count", "devices.ok",
     {"kind": "microphone", "count": 1, "minimum": 1}, {}),
    ("devices.speakers", "1 speaker", 1, 0, "count", "devices.ok", {"kind": "speaker", "count": 1, "minimum": 0}, {}),
    ("net.link", "enp1s0 up, 1000 Mbit/s", None, None, None, "net.link.ok", {"interface": "enp1s0", "speed": 1000}, {}),
    ("net.ipv6_address", "global address 2001:db8:10::25 on enp1s0", None, None, None, "net.ipv6_address.ok",
     {"address": "2001:db8:10::25", "interface": "enp1s0"}, {"usable": ["2001:db8:10::25"]}),
    ("net.ipv6_route", "default route via fe80::1", None, None, None, "net.ipv6_route.ok", {"gateway": "fe80::1"},
     {"source_address": "2001:db8:10::25", "interface": "enp1s0"}),
    ("net.dns_aaaa", "mcu.hanoi.gov.vn has AAAA 2001:db8::10", 2.4, None, "ms", "net.dns_aaaa.ok",
     {"host": "mcu.hanoi.gov.vn", "address": "2001:db8::10"}, {}),
    ("mcu.tcp", "2001:db8::10 port 443 reachable in 3.1 ms", 3.1, 100, "ms", "mcu.tcp.ok",
     {"host": "2001:db8::10", "port": 443, "observed": 3.1}, {}),
    ("probe.rtt", "median round trip 4.2 ms", 4.2, 100, "ms", "probe.rtt.ok", {"observed": 4.2, "maximum": 100},
     {"rtt_min_ms": 3.6, "rtt_avg_ms": 4.2, "rtt_p95_ms": 5.9}),
    ("probe.jitter", "jitter 0.8 ms", 0.8, 30, "ms", "probe.jitter.ok", {"observed": 0.8, "maximum": 30},
     {"jitter_ms": 0.8}),
    ("probe.loss", "0.0 % of 100 packets lost", 0.0, 1.0, "%", "probe.loss.ok", {"observed": 0.0, "maximum": 1.0},
     {"loss_pct": 0.0}),
    ("probe.upload", "upload 86.4 Mbit/s", 86.4, 4, "Mbit/s", "bandwidth.ok",
     {"direction": "upload", "observed": 86.4, "minimum": 4}, {}),
    ("probe.download", "download 91.0 Mbit/s", 91.0, 4, "Mbit/s", "bandwidth.ok",
     {"direction": "download", "observed": 91.0, "minimum": 4}, {}),
    ("host.disk", "71 % free on /var/lib/bridge-agent", 71, 10, "%", "host.disk.ok", {"observed": 71, "minimum": 10}, {}),
    ("host.memory", "62 % of memory available", 62, None, "%", "host.memory.ok", {"observed": 62}, {}),
    ("host.clock", "clock synchronised (adjtimex)", None, None, None, "host.clock.ok", {}, {}),
)

_DEVICES = {
    "cameras": [{"id": "usb-046d:0866", "name": "Logitech MeetUp", "node": "/dev/video0", "bus": "usb",
                 "vendor_id": "046d", "product_id": "0866", "virtual": False, "in_use": False}],
    "microphones": [{"id": "usb-0b0e:2466", "name": "Jabra Speak 710", "node": "hw:1,0", "bus": "usb",
                     "vendor_id": "0b0e", "product_id": "2466", "virtual": False, "in_use": None,
                     "card": 1, "device": 0}],
    "speakers": [],
}


@lru_cache(maxsize=256)
def _config(room_id: str, unit: str, name: str, interval_s: float) -> AgentConfig:
    return parse_config(f"""
[room]
id = {json.dumps(room_id)}
name = {json.dumps(name)}
unit = {json.dumps(unit)}
location = "Tầng 3, 25 Lý Thường Kiệt"
contact = "Nguyễn Văn An 0912 345 678"

[central]
url = "https://collector.example.vn/api/v1/heartbeat"
interval_s = {interval_s}

[mcu]
host = "2001:db8::10"
""")


def results(*, status: str = "ok", failing: str | None = None) -> list[CheckResult]:
    """The room's check results; ``failing`` names one check reported as ``status``."""
    out = []
    for name, summary, observed, threshold, unit, code, params, details in _CHECKS:
        check_status = Status.OK
        if name == failing:
            check_status = Status(status)
            summary, code, params = f"{name} out of range", f"{name}.out_of_range", {}
        out.append(CheckResult(name, check_status, summary, observed, threshold, unit, dict(details),
                               code=code, params=dict(params)))
    return out


def heartbeat(
    room_id: str, seq: int, *, status: str = "ok", interval_s: float = 60, failing: str | None = None,
    unit: str = "UBND quận Ba Đình", name: str | None = None,
) -> dict[str, Any]:
    """A schema-valid heartbeat as the agent builds it; ``failing`` names one check reported as ``status``.

    With ``failing`` None and a ``status`` other than ok, the document's status says so
    without a failing check (what an old agent or a hand-made test body may send).
    """
    checks = results(status=status, failing=failing)
    config = _config(room_id, unit, name or f"Phòng họp {room_id}", float(interval_s))
    host = {"hostname": f"bridge-{room_id}", "os": "Debian GNU/Linux 12 (bookworm)",
            "kernel": "6.1.0-26-amd64", "uptime_s": 86400, "boot_id": "5f0c6a7e-2d1b-4f7e-9a51-0c2e0d0c9b11"}
    doc = build(config, seq, checks, {k: [dict(d) for d in v] for k, v in _DEVICES.items()},
                network_figures(checks), host, SpoolFigures(0, 0))
    if failing is None:
        doc["status"] = status
    return doc
