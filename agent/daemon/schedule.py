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
  bandwidth test stays due; deferred longer than ``probe.max_defer_s`` it is
  reported ``warn``, saying since when and why;
- while the collector says a meeting is on (``quiet_until`` in its answer, see
  ``directives``), the bandwidth test and the AV checks are deferred the same way whatever the device
  signals say: ``deferral`` is the one gate both go through;
- the camera and microphone checks (``Check.av``: they open the device for
  about 1.5 s) run every ``probe.av_every_s`` on the same kind of timer, and
  are put off by the same gate (``deferral``); between runs their last
  results are carried;
- a bandwidth test that measured nothing good (it failed, the network gate
  stopped it, the responder was busy) is tried again after ``probe.retry_s``,
  doubling with each further failure up to ``probe.every_s``;
- between tests the last bandwidth results are carried, with when they were
  measured and their age; while the network gate fails they become ``skip``
  "not measured since the link failed at …": a figure from before an outage
  says nothing about the link now.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from agent.checks.base import Check
from agent.result import CheckResult, Status, iso_time

IN_USE = "deferred: room in use"
QUIET = "deferred: meeting in progress until {until} (the control centre's quiet time)"
SPLAY = 0.2
FIRST_BANDWIDTH_MAX_S = 600.0


def first_cycle_delay(interval_s: float, splay_s: float, rng: random.Random) -> float:
    """Pure: the random phase of the first full cycle, in [0, min(interval_s, splay_s))."""
    return rng.random() * max(0.0, min(interval_s, splay_s))


@dataclass
class BandwidthTimer:
    """When the next bandwidth test is due. Times are ``time.monotonic()`` values."""

    every_s: float
    rng: random.Random = field(default_factory=random.Random)
    due_at: float = 0.0
    retry_s: float = 900.0
    failures: int = 0  # failed tests in a row
    deferred_since: float | None = None  # when a due test was first put off (monotonic)

    def start(self, now: float) -> None:
        self.due_at = now + self.rng.uniform(0, min(SPLAY * self.every_s, FIRST_BANDWIDTH_MAX_S))

    def due(self, now: float) -> bool:
        return now >= self.due_at

    def done(self, now: float) -> None:
        self.failures = 0
        self.deferred_since = None
        self.due_at = now + self.every_s * self.rng.uniform(1 - SPLAY, 1 + SPLAY)

    def failed(self, now: float) -> float:
        """A test failed: due again after ``retry_s``, doubled per failure in a row, at most ``every_s``."""
        self.failures += 1
        self.deferred_since = None
        wait = min(self.every_s, self.retry_s * 2 ** (self.failures - 1))
        self.due_at = now + wait
        return wait

    def postpone(self, now: float, wait_s: float) -> None:
        """Due again in ``wait_s`` without counting a failure (no bandwidth test slot yet)."""
        self.due_at = now + wait_s

    def deferred(self, now: float) -> float:
        """A due test was put off (room in use); how long it has been put off."""
        if self.deferred_since is None:
            self.deferred_since = now
        return now - self.deferred_since

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.due_at - now)


@dataclass(frozen=True)
class Plan:
    run: list[Check]
    skip: dict[str, str]
    # Bandwidth and AV checks not run this cycle and not deferred: their last result stands.
    keep_previous: frozenset[str]
    bandwidth_ran: bool
    av_ran: bool = False


def deferral(*, in_use: bool | None, reason: str | None = None, quiet_until: float | None = None,
             now_wall: float = 0.0) -> str | None:
    """Pure: why tests that disturb the room (bandwidth, camera, microphone) are put off now, or None.

    The one gate: the collector's quiet time (a meeting it knows of) first, then the room's
    own in-use signals; ``in_use`` None (devices unknown) may be a meeting too.
    """
    if quiet_until is not None and now_wall < quiet_until:
        return QUIET.format(until=iso_time(quiet_until))
    if in_use is not False:
        return f"deferred: {reason}" if reason else IN_USE
    return None


def plan_cycle(checks: list[Check], *, in_use: bool | None, bandwidth_due: bool,
               reason: str | None = None, av_due: bool = False, quiet_until: float | None = None,
               now_wall: float = 0.0) -> Plan:
    """Pure: which of ``checks`` run in a periodic cycle; ``in_use`` None (unknown) may be a meeting.

    ``reason`` is the signal behind ``in_use`` (``Inventory.in_use_reason()``), put in the skip;
    ``quiet_until`` the collector's quiet time (``deferral``).
    """
    why = deferral(in_use=in_use, reason=reason, quiet_until=quiet_until, now_wall=now_wall)
    run: list[Check] = []
    skip: dict[str, str] = {}
    keep: set[str] = set()
    ran = {"bandwidth": False, "av": False}
    for check in checks:
        if (check.bandwidth and not bandwidth_due) or (check.av and not av_due):
            keep.add(check.name)
            continue
        # Only the bandwidth test loads the link, only the AV checks open a meeting's devices.
        # STAMP (about 17 kbit/s) goes on in a meeting: the figures measured while the room
        # is really in use are the most valuable ones.
        if check.bandwidth or check.av:
            if why is not None:
                skip[check.name] = why
            else:
                ran["bandwidth" if check.bandwidth else "av"] = True
        run.append(check)
    return Plan(run, skip, frozenset(keep), ran["bandwidth"], ran["av"])


def carried(previous: CheckResult, now_wall: float) -> CheckResult:
    """Pure: a result kept from an earlier run, with its age now (never negative)."""
    if previous.measured_at is None:
        return previous
    return dataclasses.replace(previous, age_s=round(max(0.0, now_wall - previous.measured_at), 1))


def not_measured_since_link_failed(previous: CheckResult, failed_at_wall: float, now_wall: float) -> CheckResult:
    """Pure: a carried bandwidth result while the network gate fails: skip, not the old verdict."""
    details = {"last_status": previous.status.value, "last_summary": previous.summary,
               "last_observed": previous.observed}
    result = CheckResult(previous.name, Status.SKIP,
                         f"skipped: not measured since the link failed at {iso_time(failed_at_wall)}",
                         threshold=previous.threshold, unit=previous.unit, details=details,
                         measured_at=previous.measured_at)
    return carried(result, now_wall)


def deferred_too_long(name: str, reason: str, deferred_s: float, now_wall: float,
                      last: CheckResult | None) -> CheckResult:
    """Pure: a bandwidth test put off longer than ``probe.max_defer_s``: a warning saying since when and why."""
    since = iso_time(now_wall - deferred_s)
    why = reason.removeprefix("deferred: ")
    summary = f"bandwidth test deferred since {since} ({deferred_s / 3600:.1f} h): {why}"
    if last is not None and last.measured_at is not None:
        summary += f"; last measured {iso_time(last.measured_at)}"
    else:
        summary += "; never measured since the agent started"
    return CheckResult(name, Status.WARN, summary, details={"deferred_since": since, "reason": why})
