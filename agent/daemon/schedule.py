"""When each kind of check runs, and what is deferred while the room is in a meeting.

- every ``central.interval_s``: all checks except bandwidth;
- bandwidth every ``probe.every_s`` spread randomly by ±20%, the first one
  within a random delay so rooms restarted together (a city-wide power cut)
  do not all test at once;
- the first full cycle after start waits a random phase in
  [0, min(interval, ``central.splay_s``)), so rooms that booted together do
  not send in the same second; later cycles keep the beat from there;
- while any camera or microphone is in use, the STAMP and bandwidth tests
  are not run: they are reported ``skip`` "deferred: room in use" and a due
  bandwidth test stays due.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agent.checks.base import Check

STAMP_CHECKS = frozenset({"probe.rtt", "probe.jitter", "probe.loss"})
IN_USE = "deferred: room in use"
SPLAY = 0.2
FIRST_BANDWIDTH_MAX_S = 600.0


def first_cycle_delay(interval_s: float, splay_s: float, rng: random.Random) -> float:
    """Pure: the random phase of the first full cycle, in [0, min(interval_s, splay_s))."""
    return rng.random() * max(0.0, min(interval_s, splay_s))


@dataclass
class BandwidthTimer:
    every_s: float
    rng: random.Random = field(default_factory=random.Random)
    due_at: float = 0.0

    def start(self, now: float) -> None:
        self.due_at = now + self.rng.uniform(0, min(SPLAY * self.every_s, FIRST_BANDWIDTH_MAX_S))

    def due(self, now: float) -> bool:
        return now >= self.due_at

    def done(self, now: float) -> None:
        self.due_at = now + self.every_s * self.rng.uniform(1 - SPLAY, 1 + SPLAY)

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.due_at - now)


@dataclass(frozen=True)
class Plan:
    run: list[Check]
    skip: dict[str, str]
    # Bandwidth checks not run this cycle and not deferred: their last result stands.
    keep_previous: frozenset[str]
    bandwidth_ran: bool


def plan_cycle(checks: list[Check], *, in_use: bool, bandwidth_due: bool) -> Plan:
    """Pure: which of ``checks`` run in a periodic cycle."""
    run: list[Check] = []
    skip: dict[str, str] = {}
    keep: set[str] = set()
    bandwidth_ran = False
    for check in checks:
        if check.bandwidth and not bandwidth_due:
            keep.add(check.name)
            continue
        if in_use and (check.bandwidth or check.name in STAMP_CHECKS):
            skip[check.name] = IN_USE
        elif check.bandwidth:
            bandwidth_ran = True
        run.append(check)
    return Plan(run, skip, frozenset(keep), bandwidth_ran)
