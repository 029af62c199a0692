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

*By time* (``timeline``): each room's states over the period, from the events,
give the share of the period it was compliant, its fault episodes (a run of fail
or offline, however many transitions inside it) and the mean time to repair
(the mean length of the episodes that ended in the period). Time inside a gap,
and the room's offline threshold after it, counts neither way: it is left out of
the period. Time before a room was first heard is left out as well. A unit's
share is time-weighted over its rooms; its MTTR is over all their repaired episodes.

Each room also gets its call quality (collector/quality.py) from its latest figures.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

from collector import quality
from collector.status import COMPLIANT, iso
from collector.store import Store
from collector.views import brief_views

TOP_CHECKS = 5
BAD_STATES = ("fail", "offline")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection):
# a unit or check name a room sent must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # so a spreadsheet reads the Vietnamese unit names as UTF-8


@dataclass
class TimeShare:
    """A room's (or a unit's) period by time; seconds of the period that count."""

    counted_s: float = 0.0
    compliant_s: float = 0.0
    episodes: int = 0
    repaired: int = 0
    repair_s: float = 0.0

    @property
    def share(self) -> float | None:
        """Share of the counted time compliant, 0..1; None when nothing counted (never heard)."""
        return self.compliant_s / self.counted_s if self.counted_s > 0 else None

    @property
    def mttr_s(self) -> float | None:
        return self.repair_s / self.repaired if self.repaired else None

    def add(self, other: "TimeShare") -> None:
        self.counted_s += other.counted_s
        self.compliant_s += other.compliant_s
        self.episodes += other.episodes
        self.repaired += other.repaired
        self.repair_s += other.repair_s

    def api(self) -> dict[str, Any]:
        share = self.share
        return {"share_compliant": None if share is None else round(share, 6),
                "counted_s": round(self.counted_s, 1), "fault_episodes": self.episodes,
                "mttr_s": None if self.mttr_s is None else round(self.mttr_s, 1)}


def _subtract(a: float, b: float, excluded: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """[a, b) without the (sorted, possibly overlapping) excluded intervals."""
    pieces = []
    for start, end in excluded:
        if end <= a or start >= b:
            continue
        if start > a:
            pieces.append((a, start))
        a = max(a, end)
        if a >= b:
            return pieces
    if a < b:
        pieces.append((a, b))
    return pieces


def timeline(state_at_start: str | None, transitions: list[tuple[float, str]], since: float, now: float,
             excluded: list[tuple[float, float]]) -> TimeShare:
    """A room's TimeShare over [since, now); ``transitions``: (at, to_state) oldest first.

    Pure: the report reads the events and gaps and hands them in.
    """
    segments: list[tuple[float, float, str]] = []
    state, t = state_at_start, since
    for at, to_state in transitions:
        at = min(max(at, since), now)
        if state is not None and at > t:
            segments.append((t, at, state))
        state, t = to_state, max(t, at)
    if state is not None and now > t:
        segments.append((t, now, state))
    out = TimeShare()
    in_episode, episode_s = False, 0.0
    ordered = sorted(excluded)
    for a, b, state in segments:
        for start, end in _subtract(a, b, ordered):
            length = end - start
            out.counted_s += length
            if state in BAD_STATES:
                if not in_episode:
                    out.episodes += 1
                    in_episode, episode_s = True, 0.0
                episode_s += length
            else:
                out.compliant_s += length
                if in_episode:
                    out.repaired += 1
                    out.repair_s += episode_s
                    in_episode = False
    return out


@dataclass
class RoomReport:
    room_id: str
    name: str
    status: str
    time: TimeShare
    quality: quality.Quality

    def api(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "name": self.name, "status": self.status, **self.time.api(),
                "call_quality": self.quality.api()}


@dataclass
class UnitReport:
    unit: str
    rooms: int = 0
    compliant_now: int = 0
    compliant_period: int = 0
    failing_checks: list[tuple[str, int]] = field(default_factory=list)
    time: TimeShare = field(default_factory=TimeShare)
    room_reports: list[RoomReport] = field(default_factory=list)

    @property
    def quality(self) -> quality.Quality:
        return quality.mean_quality([r.quality for r in self.room_reports])

    @property
    def compliant_throughout(self) -> list[RoomReport]:
        """The rooms heard the whole counted period and never in fail or offline in it."""
        return [r for r in self.room_reports if r.time.counted_s > 0 and r.time.episodes == 0 and r.status in COMPLIANT]


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
            total.time.add(u.time)
            total.room_reports += u.room_reports
        return total


def max_days(retention_days: float) -> int:
    """The longest report the history supports: events and heartbeats older than retention are purged."""
    return max(1, int(retention_days))


def in_gap(at: float, gaps: list[dict[str, Any]], grace_s: float) -> bool:
    """Whether a room's transition at ``at`` falls in a gap or in the ``grace_s`` after it."""
    return any(g["start"] <= at <= g["end"] + grace_s for g in gaps)


def excluded_for(gaps: list[dict[str, Any]], grace_s: float) -> list[tuple[float, float]]:
    """The intervals left out of a room's period: each gap and the room's offline threshold after it."""
    return [(g["start"], g["end"] + grace_s) for g in gaps]


def compliance(store: Store, days: int, now: float, factor: float, heard_since: float = 0.0,
               units: Collection[str] | None = None, bodies: dict[str, Any] | None = None) -> Report:
    """``units``: only the rooms of these units (an account limited to them); None: every room."""
    since = now - days * 86400
    views = [v for v in brief_views(store.room_briefs(), now, factor, heard_since) if units is None or v.unit in units]
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
    transitions: dict[str, list[tuple[float, str]]] = {}
    for room_id, at, to_state in store.transitions_since(since):
        transitions.setdefault(room_id, []).append((at, to_state))
    if bodies is None:
        bodies = store.latest_bodies()
    for v in views:
        share = timeline(at_start.get(v.room_id), transitions.get(v.room_id, []), since, now,
                         excluded_for(gaps, factor * interval.get(v.room_id, 0.0)))
        body = bodies.get(v.room_id)
        network = (json.loads(body) if isinstance(body, str) else body or {}).get("network")
        u = units[v.unit]
        u.time.add(share)
        u.room_reports.append(RoomReport(v.room_id, v.name, v.status, share,
                                         quality.assess(quality.figures_of(network))))
    for u in units.values():
        u.room_reports.sort(key=lambda r: (r.time.share if r.time.share is not None else -1.0, r.room_id))
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
                "failing_checks": [{"name": n, "rooms": c} for n, c in u.failing_checks],
                **u.time.api(), "call_quality": u.quality.api(),
                "compliant_throughout": [r.room_id for r in u.compliant_throughout],
                "rooms_detail": [r.api() for r in u.room_reports]}

    totals = unit(report.totals)
    for key in ("unit", "failing_checks", "rooms_detail", "compliant_throughout"):
        del totals[key]
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


def _english(key: str, **values: object) -> str:
    return key.format(**values)


def report_csv(report: Report, header: Callable[..., str] = _english) -> str:
    """The report as CSV for a spreadsheet: UTF-8 BOM first, CRLF lines, no cell a formula.

    ``header(key, **values)`` names each column (the page's language); the keys by default.
    """
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header("unit"), header("rooms"), header("compliant_now"),
                     header("compliant_last_{days}_days", days=report.days)] +
                    [header(k) for k in ("most_failing_checks", "share_compliant_pct", "fault_episodes",
                                         "mttr_minutes", "call_r", "call_mos")])
    for u in report.units:
        writer.writerow([csv_cell(cell) for cell in (
            u.unit, u.rooms, u.compliant_now, u.compliant_period,
            "; ".join(f"{n} ({c})" for n, c in u.failing_checks), *_time_cells(u.time), *_quality_cells(u.quality))])
    return out.getvalue()


def _time_cells(t: TimeShare) -> tuple[object, object, object]:
    share, mttr = t.share, t.mttr_s
    return ("" if share is None else round(100 * share, 2), t.episodes, "" if mttr is None else round(mttr / 60, 1))


def _quality_cells(q: quality.Quality) -> tuple[object, object]:
    return ("" if q.r is None else round(q.r, 1), "" if q.mos is None else round(q.mos, 2))


def report_rooms_csv(report: Report, header: Callable[..., str] = _english) -> str:
    """One row per room: the same BOM, line ends, formula guard and column naming as ``report_csv``."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header(k) for k in ("unit", "room_id", "name", "status", "share_compliant_pct",
                                         "fault_episodes", "mttr_minutes", "call_r", "call_mos", "video_ok")])
    for u in report.units:
        for r in u.room_reports:
            video = "" if r.quality.video_ok is None else int(r.quality.video_ok)
            writer.writerow([csv_cell(cell) for cell in (
                u.unit, r.room_id, r.name, r.status, *_time_cells(r.time), *_quality_cells(r.quality), video)])
    return out.getvalue()
