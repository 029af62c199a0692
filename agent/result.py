"""The check result: the one value every check returns and every output renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def severity(self) -> int:
        # A skipped check is not a problem in itself: the stage that caused the
        # skip carries the failure.
        return {"ok": 0, "skip": 0, "warn": 1, "fail": 2}[self.value]

    @property
    def exit_code(self) -> int:
        return self.severity


@dataclass
class CheckResult:
    """Outcome of one check. ``observed``/``threshold`` are numbers in ``unit``."""

    name: str
    status: Status
    summary: str
    observed: Any = None
    threshold: Any = None
    unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # A stable machine-readable outcome ("bandwidth.too_slow") and the values its sentence
    # names: the collector renders the summary in the reader's language from these, and
    # ``summary`` stays the English text for the console and for collectors that do not know
    # the code.
    code: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Set on a result carried over from an earlier run: when it was measured (Unix time)
    # and how old it is now, in seconds. A fresh result has neither.
    measured_at: float | None = None
    age_s: float | None = None
    # Beyond this age the result says nothing about the room any more: the collector then
    # shows the check as warn ("not measured since ..."), whatever its last verdict was.
    max_age_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "summary": self.summary,
            "observed": self.observed,
            "threshold": self.threshold,
            "unit": self.unit,
        }
        if self.details:
            doc["details"] = self.details
        if self.code is not None:
            doc["code"] = self.code
            doc["params"] = self.params
        if self.measured_at is not None:
            doc["measured_at"] = iso_time(self.measured_at)
            doc["age_s"] = self.age_s if self.age_s is not None else 0
            if self.max_age_s is not None:
                doc["max_age_s"] = self.max_age_s
        return doc


def iso_time(unix_time: float) -> str:
    """ISO 8601 UTC with a ``Z`` (agent.output.iso_utc, which imports this module)."""
    return datetime.fromtimestamp(unix_time, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def overall_status(results: list[CheckResult]) -> Status:
    """The worst status of all results; ``ok`` when nothing is wrong."""
    worst = Status.OK
    for result in results:
        if result.status.severity > worst.severity:
            worst = result.status
    return worst
