"""The heartbeat document, as collector/schema/heartbeat-v1.schema.json defines it.

Pure apart from ``host_facts``: everything else is passed in, so the builder
is tested against the schema with plain values.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import __version__
from agent.config import AgentConfig
from agent.output import iso_utc
from agent.paths import Paths
from agent.result import CheckResult, overall_status

SCHEMA_VERSION = 1
SUMMARY_MAX = 1000
MAX_CHECKS = 100
MAX_ANSWERS = 16  # the schema's bound, and the agent's on requests taken from one answer
EMPTY_DEVICES: dict[str, list[Any]] = {"cameras": [], "microphones": [], "speakers": []}


@dataclass(frozen=True)
class SpoolFigures:
    depth: int
    dropped: int


def sent_at(now: float | None = None) -> str:
    return iso_utc(time.time() if now is None else now, "milliseconds")


def check_json(result: CheckResult, now: float | None = None) -> dict[str, Any]:
    """A check for the heartbeat; a carried result's ``age_s`` counts up to ``now`` (default: now)."""
    if result.measured_at is not None:
        age = max(0.0, (time.time() if now is None else now) - result.measured_at)
        result = dataclasses.replace(result, age_s=round(age, 1))
    doc = result.to_json()
    doc["summary"] = doc["summary"][:SUMMARY_MAX]
    return doc


def build(
    config: AgentConfig,
    seq: int,
    results: list[CheckResult],
    devices: dict[str, Any] | None,
    network: dict[str, Any] | None,
    host: dict[str, Any],
    spool: SpoolFigures,
    now: float | None = None,
    agent_instance: str | None = None,
    equipment: dict[str, Any] | None = None,
    answers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``agent_instance`` and ``seq`` together name the heartbeat (see ``seqstore``).

    ``answers``: the collector's requests whose checks are in this heartbeat (``answer_json``).

    ``equipment``: the room profile against the devices (``EquipmentReport.to_json``), only with a profile.
    """
    room = {k: v for k, v in config.room_json().items() if k != "id"}
    stream = {"agent_instance": agent_instance} if agent_instance is not None else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "room_id": config.room.id,
        "room": room,
        **stream,
        "seq": seq,
        "sent_at": sent_at(now),
        "interval_s": config.central.interval_s,
        "status": overall_status(results).value,
        "checks": [check_json(r, now) for r in results[:MAX_CHECKS]],
        "devices": devices if devices is not None else dict(EMPTY_DEVICES),
        "network": network or {},
        "host": host,
        "spool": {"depth": spool.depth, "dropped": spool.dropped},
        "agent_version": __version__,
        **({"equipment": equipment} if equipment is not None else {}),
        **({"answers": answers[:MAX_ANSWERS]} if answers else {}),
    }


def answer_json(request_id: str, kind: str, now: float | None = None) -> dict[str, str]:
    """One answered request: its id and kind, and when its checks were done."""
    return {"id": request_id, "kind": kind, "done_at": sent_at(now)}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def os_name(os_release: str | None) -> str | None:
    """PRETTY_NAME from /etc/os-release text (pure)."""
    for line in (os_release or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip('"')
    return None


class HostFacts:
    """Facts about the room PC; the fixed ones read once, uptime per heartbeat."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._fixed = {
            "hostname": socket.gethostname(),
            "os": os_name(_read(Path("/etc/os-release"))),
            "kernel": platform.release(),
            "boot_id": _read(paths.proc / "sys/kernel/random/boot_id"),
        }

    def now(self) -> dict[str, Any]:
        facts: dict[str, Any] = dict(self._fixed)
        uptime = _read(self.paths.proc / "uptime")
        facts["uptime_s"] = round(float(uptime.split()[0])) if uptime else None
        return facts
