"""What every endpoint shares: the serve options, the store, the writer, the counters.

Endpoint modules import this (and ``collector.web.auth``), never ``collector.web.app``:
the app only assembles them, so there is no import circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from starlette.requests import Request

from collector.history import RAW
from collector.incidents import DEFAULT_MIN_ROOMS, DEFAULT_WINDOW_S, Settings
from collector.ingest import Validator, Writer
from collector.meetings import DEFAULT_INTERVAL_S, DEFAULT_LEAD_MIN, Board
from collector.probe.http import DEFAULT_MAX_TRANSFERS
from collector.leader import Leader
from collector.ratelimit import FailureLimiter
from collector.status import DEFAULT_OFFLINE_FACTOR
from collector.store import Event, Store
from collector.webhook import DeliveryStats


@dataclass(frozen=True)
class ServeConfig:
    db: Path | str  # a SQLite file or a PostgreSQL URL (collector.db)
    lang: str = "vi"
    webhook: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # never in a log line
    retention_days: float = 30  # heartbeats, their figures, gaps
    rollup_retention_days: float = 730  # 1-hour rollups
    rollup_5m_retention_days: float = 35  # 5-minute rollups: a year of them is 12 times the hourly ones
    event_retention_days: float = 400
    offline_factor: float = DEFAULT_OFFLINE_FACTOR
    sweep_interval_s: float = 2.0
    probe_max_transfers: int = DEFAULT_MAX_TRANSFERS
    incident_min_rooms: int = DEFAULT_MIN_ROOMS
    incident_window_s: float = DEFAULT_WINDOW_S
    rollcall_lead_s: float = DEFAULT_LEAD_MIN * 60
    rollcall_interval_s: float = DEFAULT_INTERVAL_S
    probe_slots: int = 4  # bandwidth tests paced at once per responder (collector.web.probe_slot)
    # The STAMP reflector's HTTP companions in this process too (one-machine demo); by default
    # `bridge-collector probe-serve` runs them, so ingest load never shows in the rooms' RTT.
    probe_in_process: bool = False

    def kept_days(self, source: int) -> float:
        """How many days of a series source (history.RAW, 300 or 3600) are retained."""
        return {RAW: self.retention_days, 300: self.rollup_5m_retention_days}.get(source, self.rollup_retention_days)

    @property
    def incidents(self) -> Settings:
        return Settings(min_rooms=self.incident_min_rooms, window_s=self.incident_window_s)


@dataclass
class Counters:
    """Process-lifetime counters for /metrics."""

    accepted: int = 0
    duplicates: int = 0
    seq_reused: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    webhook: DeliveryStats | None = None  # None: no --webhook

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


@dataclass
class Runtime:
    config: ServeConfig
    store: Store
    validator: Validator
    writer: Writer
    counters: Counters = field(default_factory=Counters)
    listeners: list[Callable[[list[Event]], None]] = field(default_factory=list)
    # When this collector could first hear the rooms: its start, or the end of a stall.
    # No room's silence counts before it (see status.effective_status).
    heard_since: float = 0.0
    # Failed dashboard logins per user and per address (in memory: see collector.ratelimit).
    login_failures: FailureLimiter = field(default_factory=FailureLimiter)
    # The meetings near now (collector.meetings); made from the config in create_app.
    board: Board | None = None
    # Whether this collector does the once-only work (collector.leader); SQLite: always.
    leader: Leader = field(default_factory=lambda: Leader(""))

    def publish(self, events: list[Event]) -> None:
        for listener in self.listeners:
            listener(events)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
