"""Incidents: many rooms failing the same check together become one line, not hundreds.

When the MCU or the core router fails, hundreds of rooms fail ``mcu.tcp`` (or go
offline) within a minute. Once per sweep the collector compares the rooms'
current problems (a failing check, or ``offline``) and their onsets:

* at least ``min_rooms`` rooms whose problem with the same check began within
  ``window_s`` of now open one *city* incident; failing that, a quarter of a
  unit's rooms (two at least) open a *unit* incident;
* a room whose problem with that check begins while the incident is open joins
  it (a unit incident takes rooms of its unit only);
* a room whose problem ended has recovered; when none is left the incident is
  resolved;
* the webhook is told ``opened``, then ``grown`` each time the incident reached
  twice the rooms it had at the last notification, then ``resolved``.

``plan`` is the pure judgement (tested on its own); ``sweep`` reads the store,
calls it and writes the outcome in one transaction. ``sweep`` is one call per
sweep with no state in memory, so it can later run under a leader lock.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Iterable

from collector.store import Event, Store

CITY = "city"
UNIT = "unit"
OFFLINE = "offline"  # the "check" of rooms that stopped talking
DEFAULT_MIN_ROOMS = 5
DEFAULT_WINDOW_S = 180.0
UNIT_SHARE = 0.25
UNIT_MIN_ROOMS = 2  # a quarter of a 3-room unit is one room: that is a room's problem, not an incident
# Heartbeats stamped just before a sweep may commit just after it: room events wait this much
# longer than the window before the webhook decides they are no incident's.
JUDGE_SLACK_S = 1.0


@dataclass(frozen=True)
class Settings:
    min_rooms: int = DEFAULT_MIN_ROOMS
    window_s: float = DEFAULT_WINDOW_S
    unit_share: float = UNIT_SHARE

    def unit_threshold(self, unit_rooms: int) -> int:
        """Rooms of a unit that make a unit incident (never more than make a city one)."""
        return min(self.min_rooms, max(UNIT_MIN_ROOMS, math.ceil(self.unit_share * unit_rooms)))


@dataclass(frozen=True)
class Problem:
    """A room's current problem: one failing check, or offline, since ``since``."""

    room_id: str
    unit: str
    check: str
    since: float
    event_id: int | None = None  # the room's transition that began it: the webhook sends the incident instead


@dataclass(frozen=True)
class OpenIncident:
    id: int
    check: str
    scope: str
    unit: str
    started_at: float
    members: frozenset[str]  # rooms in it that have not recovered
    notified_rooms: int


@dataclass(frozen=True)
class NewIncident:
    check: str
    scope: str
    unit: str
    rooms: tuple[Problem, ...]

    @property
    def started_at(self) -> float:
        return min(p.since for p in self.rooms)


@dataclass
class Plan:
    opened: list[NewIncident] = field(default_factory=list)
    joined: dict[int, list[Problem]] = field(default_factory=dict)  # incident id -> rooms joining
    recovered: dict[int, list[str]] = field(default_factory=dict)  # incident id -> rooms whose problem ended
    grown: dict[int, int] = field(default_factory=dict)  # incident id -> rooms now (a notification is due)
    resolved: list[int] = field(default_factory=list)


def state_problems(room_id: str, unit: str, state: str | None, failing: Iterable[dict[str, str]],
                   ) -> list[tuple[str, str, str]]:
    """(room_id, unit, check) for each problem of a room in ``state``: offline, or its failed checks."""
    if state == OFFLINE:
        return [(room_id, unit, OFFLINE)]
    if state != "fail":
        return []
    names = sorted({str(c.get("name", "")) for c in failing if c.get("status") == "fail"} - {""})
    return [(room_id, unit, name) for name in names]


def plan(problems: Iterable[Problem], unit_rooms: dict[str, int], incidents: Iterable[OpenIncident],
         now: float, settings: Settings) -> Plan:
    """What this sweep changes: incidents opened, joined, recovered from, grown and resolved."""
    out = Plan()
    by_check: dict[str, dict[str, Problem]] = {}
    for p in problems:
        by_check.setdefault(p.check, {})[p.room_id] = p
    taken: dict[str, set[str]] = {}  # check -> rooms already in an open incident of it
    # City incidents first: a room failing with the whole city joins that one, not its unit's.
    ordered = sorted(incidents, key=lambda i: (i.scope != CITY, i.id))
    for inc in ordered:
        current = by_check.get(inc.check, {})
        gone = sorted(r for r in inc.members if r not in current)
        if gone:
            out.recovered[inc.id] = gone
        busy = taken.setdefault(inc.check, set())
        busy.update(r for r in inc.members if r in current)
    for inc in ordered:
        current = by_check.get(inc.check, {})
        busy = taken[inc.check]
        # Only problems that began around the incident: a room failing that check for days is not it.
        joining = [p for room_id, p in sorted(current.items())
                   if room_id not in busy and p.since >= inc.started_at - settings.window_s
                   and (inc.scope == CITY or p.unit == inc.unit)]
        if joining:
            out.joined[inc.id] = joining
            busy.update(p.room_id for p in joining)
        rooms_now = len([r for r in inc.members if r in current]) + len(joining)
        if rooms_now == 0:
            out.resolved.append(inc.id)
        elif rooms_now >= 2 * inc.notified_rooms:
            out.grown[inc.id] = rooms_now
    for check, current in sorted(by_check.items()):
        busy = taken.get(check, set())
        recent = [p for room_id, p in sorted(current.items())
                  if room_id not in busy and p.since >= now - settings.window_s]
        if len(recent) >= settings.min_rooms:
            out.opened.append(NewIncident(check, CITY, "", tuple(recent)))
            continue
        per_unit: dict[str, list[Problem]] = {}
        for p in recent:
            if p.unit:
                per_unit.setdefault(p.unit, []).append(p)
        for unit, rooms in sorted(per_unit.items()):
            if len(rooms) >= settings.unit_threshold(unit_rooms.get(unit, len(rooms))):
                out.opened.append(NewIncident(check, UNIT, unit, tuple(rooms)))
    return out


def sweep(store: Store, settings: Settings, now: float | None = None) -> list[Event]:
    """Judge the rooms' problems once and store the outcome; the incident events written.

    Runs on the writer thread (reads, then one write transaction); nothing is kept in memory.
    """
    now = time.time() if now is None else now
    keys = [key for r in store.troubled_rooms()
            for key in state_problems(r["room_id"], r["unit"], r["state"], _failing(r["failing"]))]
    unit_of = {room_id: unit for room_id, unit, _ in keys}
    rows, ended = store.sync_problems([(room_id, check) for room_id, _, check in keys], now, settings.window_s)
    problems = [Problem(r["room_id"], unit_of.get(r["room_id"], ""), r["check_name"], r["since"], r["event_id"])
                for r in rows]
    incidents = [OpenIncident(i["id"], i["check_name"], i["scope"], i["unit"], i["started_at"],
                              frozenset(i["members"]), i["notified_rooms"]) for i in store.open_incidents_to_judge()]
    check_of = {i.id: i.check for i in incidents}
    # Unit sizes only matter for a new incident, which needs a recent onset.
    recent = any(p.since >= now - settings.window_s for p in problems)
    judged = plan(problems, store.unit_sizes() if recent else {}, incidents, now, settings)
    return store.apply_incidents(
        now,
        opened=[(n.check, n.scope, n.unit, [_member(p) for p in n.rooms]) for n in judged.opened],
        joined={i: [_member(p) for p in rooms] for i, rooms in judged.joined.items()},
        recovered={i: [(room_id, ended.get((room_id, check_of[i]))) for room_id in rooms]
                   for i, rooms in judged.recovered.items()},
        grown=judged.grown, resolved=judged.resolved)


def _member(p: Problem) -> tuple[str, float, int | None]:
    return p.room_id, p.since, p.event_id


def _failing(text: str | None) -> list[dict[str, str]]:
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return []
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def hold_s(settings: Settings) -> float:
    """How long after a room's transition the webhook waits before deciding it is no incident's."""
    return settings.window_s + JUDGE_SLACK_S
