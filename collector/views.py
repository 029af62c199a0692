"""Rooms as the API, the dashboard and /metrics show them: effective status, worst first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from collector.status import SEVERITY, effective_status, iso


# slots, not frozen: a frozen dataclass sets each field through object.__setattr__, and the
# overview builds 10,000 of these per request (45 ms against 20 ms here).
@dataclass(slots=True)
class RoomView:
    room_id: str
    name: str
    unit: str
    location: str
    contact: str
    status: str  # effective: ok, warn, fail or offline
    reported: str | None  # what the last heartbeat said
    last_seen: float | None
    last_seq: int | None
    interval_s: float | None
    sent_at: str | None
    failing: list[dict[str, str]]
    agent_instance: str | None = None  # the current stream; '' for agents that send none
    stream_started_at: float | None = None

    @property
    def severity(self) -> int:
        return SEVERITY[self.status]

    def api(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id, "name": self.name, "unit": self.unit, "status": self.status,
            "reported_status": self.reported, "last_seen": iso(self.last_seen), "last_seq": self.last_seq,
            "interval_s": self.interval_s, "location": self.location, "contact": self.contact,
            "failing_checks": self.failing,
            "agent_instance": self.agent_instance, "stream_started_at": iso(self.stream_started_at),
        }


def room_view(row: dict[str, Any], now: float, factor: float, heard_since: float = 0.0) -> RoomView:
    """``heard_since``: when the collector could first hear rooms (see ``effective_status``)."""
    return RoomView(
        room_id=row["room_id"], name=row["name"], unit=row["unit"], location=row["location"],
        contact=row["contact"],
        status=effective_status(row["status"], row["last_seen"], row["interval_s"], now, factor, heard_since),
        reported=row["status"], last_seen=row["last_seen"], last_seq=row["last_seq"],
        interval_s=row["interval_s"], sent_at=row["sent_at"],
        failing=json.loads(row["failing"]) if row["failing"] and row["failing"] != "[]" else [],
        agent_instance=row.get("agent_instance"), stream_started_at=row.get("stream_started_at"),
    )


def room_views(rows: Iterable[dict[str, Any]], now: float, factor: float,
               heard_since: float = 0.0) -> list[RoomView]:
    """Worst first; then by unit, name and id so the order is stable between refreshes."""
    views = [room_view(r, now, factor, heard_since) for r in rows]
    views.sort(key=lambda v: (-v.severity, v.unit, v.name, v.room_id))
    return views
