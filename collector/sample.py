"""Realistic heartbeat bodies (about 2 KB) for the benchmark, the tests and `make run` demos."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

_CHECKS = (
    ("devices.cameras", "1 camera: Logitech MeetUp", 1, 1, "count"),
    ("devices.microphones", "1 microphone: Jabra Speak 710", 1, 1, "count"),
    ("devices.speakers", "1 speaker", 1, 0, "count"),
    ("net.link", "enp1s0 up, 1000 Mbit/s", None, None, None),
    ("net.ipv6_address", "global address 2001:db8:10::25 on enp1s0", None, None, None),
    ("net.ipv6_route", "default route via fe80::1", None, None, None),
    ("net.dns_aaaa", "mcu.hanoi.gov.vn has AAAA 2001:db8::10", None, None, None),
    ("mcu.tcp", "2001:db8::10 port 443 reachable in 3.1 ms", 3.1, 100, "ms"),
    ("probe.rtt", "median round trip 4.2 ms", 4.2, 100, "ms"),
    ("probe.jitter", "jitter 0.8 ms", 0.8, 30, "ms"),
    ("probe.loss", "0.0 % of 100 packets lost", 0.0, 1.0, "%"),
    ("probe.upload", "upload 86.4 Mbit/s", 86.4, 4, "Mbit/s"),
    ("probe.download", "download 91.0 Mbit/s", 91.0, 4, "Mbit/s"),
    ("host.disk", "71 % free on /var/lib/bridge-agent", 71, 10, "%"),
    ("host.memory", "62 % of memory available", 62, None, "%"),
    ("host.clock", "clock synchronised (adjtimex)", None, None, None),
)


def heartbeat(
    room_id: str, seq: int, *, status: str = "ok", interval_s: float = 60, failing: str | None = None,
    unit: str = "UBND quận Ba Đình", name: str | None = None,
) -> dict[str, Any]:
    """A schema-valid heartbeat; ``failing`` names one check reported as ``status``."""
    checks = []
    for check_name, summary, observed, threshold, unit_name in _CHECKS:
        check_status = "ok"
        if check_name == failing:
            check_status = status
            summary = f"{check_name} out of range"
        checks.append({"name": check_name, "status": check_status, "summary": summary,
                       "observed": observed, "threshold": threshold, "unit": unit_name})
    return {
        "schema_version": 1,
        "room_id": room_id,
        "room": {"name": name or f"Phòng họp {room_id}", "unit": unit,
                 "location": "Tầng 3, 25 Lý Thường Kiệt", "contact": "Nguyễn Văn An 0912 345 678"},
        "seq": seq,
        "sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "interval_s": interval_s,
        "status": status,
        "checks": checks,
        "devices": {
            "cameras": [{"id": "usb-046d:0866", "name": "Logitech MeetUp", "node": "/dev/video0", "bus": "usb",
                         "vendor_id": "046d", "product_id": "0866", "virtual": False, "in_use": False}],
            "microphones": [{"id": "usb-0b0e:2466", "name": "Jabra Speak 710", "node": "hw:1,0", "bus": "usb",
                             "vendor_id": "0b0e", "product_id": "2466", "virtual": False, "in_use": None,
                             "card": 1, "device": 0}],
            "speakers": [],
        },
        "network": {"rtt_ms": 4.2, "jitter_ms": 0.8, "loss_pct": 0.0, "upload_mbps": 86.4,
                    "download_mbps": 91.0, "ipv6_addresses": ["2001:db8:10::25"],
                    "source_address": "2001:db8:10::25", "interface": "enp1s0"},
        "host": {"hostname": f"bridge-{room_id}", "os": "Debian GNU/Linux 12 (bookworm)",
                 "kernel": "6.1.0-26-amd64", "uptime_s": 86400, "boot_id": "5f0c6a7e-2d1b-4f7e-9a51-0c2e0d0c9b11"},
        "spool": {"depth": 0, "dropped": 0},
        "agent_version": "0.1.0",
    }
