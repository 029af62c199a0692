"""The compliance report per unit, as the city office reviews it.

A room is *compliant* when its status is ok or warn (not fail, not offline).
It was compliant *for the whole period* of the last N days when it is
compliant now, was not in fail or offline when the period began, and never
went to fail or offline during it (from the events table); a room enrolled
during the period counts from its first heartbeat. A room never heard from is
not compliant. The most common failing checks count rooms, not heartbeats.

The collector's own downtime (its *gaps*) is not the rooms' fault: a room that
went offline inside a gap, or before it had the chance to be heard after one
(the offline factor times its interval), is not counted against the period.
The report lists the gaps so the office sees what was left out.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Collection

from collector.status import COMPLIANT, iso
from collector.store import Store
from collector.views import room_views

TOP_CHECKS = 5
BAD_STATES = ("fail", "offline")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection):
# a unit or check name a room sent must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # so a spreadsheet reads the Vietnamese unit names as UTF-8


@dataclass
class UnitReport:
    unit: str
    rooms: int = 0
    compliant_now: int = 0
    compliant_period: int = 0
    failing_checks: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Report:
    days: int
    since: float
    generated_at: float
    units: list[UnitReport]
    gaps: list[dict[str, Any]] = field(default_factory=list)  # the collector's downtime in the period

    @property
    def totals(self) -> UnitReport:
        total = UnitReport("")
        for u in self.units:
            total.rooms += u.rooms
            total.compliant_now += u.compliant_now
            total.compliant_period += u.compliant_period
        return total


def in_gap(at: float, gaps: list[dict[str, Any]], grace_s: float) -> bool:
    """Whether a room's transition at ``at`` falls in a gap or in the ``grace_s`` after it."""
    return any(g["start"] <= at <= g["end"] + grace_s for g in gaps)


def compliance(store: Store, days: int, now: float, factor: float, heard_since: float = 0.0,
               units: Collection[str] | None = None) -> Report:
    """``units``: only the rooms of these units (an account limited to them); None: every room."""
    since = now - days * 86400
    views = [v for v in room_views(store.rooms(), now, factor, heard_since) if units is None or v.unit in units]
    at_start = store.states_at(since)
    gaps = store.gaps(since)
    interval = {v.room_id: v.interval_s or 0.0 for v in views}
    troubled = {room_id for room_id, state, at in store.troubled_since(since)
                if not (state == "offline" and in_gap(at, gaps, factor * interval.get(room_id, 0.0)))}
    unit_of = {v.room_id: v.unit for v in views}
    units: dict[str, UnitReport] = {}
    for v in views:
        u = units.setdefault(v.unit, UnitReport(v.unit))
        u.rooms += 1
        if v.status in COMPLIANT:
            u.compliant_now += 1
            if v.room_id not in troubled and at_start.get(v.room_id) not in BAD_STATES:
                u.compliant_period += 1
    failing: dict[str, Counter[str]] = {}
    for room_id, check in set(store.failed_checks_since(since)):
        if room_id in unit_of:
            failing.setdefault(unit_of[room_id], Counter())[check] += 1
    for unit, counter in failing.items():
        units[unit].failing_checks = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CHECKS]
    return Report(days, since, now, sorted(units.values(), key=lambda u: u.unit), gaps)


def report_json(report: Report) -> dict[str, Any]:
    def unit(u: UnitReport) -> dict[str, Any]:
        return {"unit": u.unit, "rooms": u.rooms, "compliant_now": u.compliant_now,
                "compliant_whole_period": u.compliant_period,
                "failing_checks": [{"name": n, "rooms": c} for n, c in u.failing_checks]}

    totals = unit(report.totals)
    del totals["unit"], totals["failing_checks"]
    return {"days": report.days, "since": iso(report.since), "generated_at": iso(report.generated_at),
            "units": [unit(u) for u in report.units], "totals": totals,
            "collector_gaps": [gap_json(g) for g in report.gaps]}


def gap_json(gap: dict[str, Any]) -> dict[str, Any]:
    return {"start": iso(gap["start"]), "end": iso(gap["end"]), "seconds": round(gap["end"] - gap["start"], 1),
            "reason": gap["reason"]}


def csv_cell(value: object) -> object:
    """A text cell that a spreadsheet would take for a formula gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def report_csv(report: Report) -> str:
    """The report as CSV for a spreadsheet: UTF-8 BOM first, CRLF lines, no cell a formula."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["unit", "rooms", "compliant_now", f"compliant_last_{report.days}_days", "most_failing_checks"])
    for u in report.units:
        writer.writerow([csv_cell(cell) for cell in (
            u.unit, u.rooms, u.compliant_now, u.compliant_period,
            "; ".join(f"{n} ({c})" for n, c in u.failing_checks))])
    return out.getvalue()
