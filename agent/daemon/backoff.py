"""Exponential backoff with jitter, from 1 s up to 5 min.

The delay doubles per failure; the jitter spreads it over the upper quarter
of the step ([0.75·d, d], never below the base), so hundreds of rooms that
lost the collector at the same moment do not come back in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

BASE_S = 1.0
CAP_S = 300.0


@dataclass
class Backoff:
    base: float = BASE_S
    cap: float = CAP_S
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def step(self, attempt: int) -> float:
        """The un-jittered delay after ``attempt`` consecutive failures (1-based)."""
        return min(self.cap, self.base * 2 ** min(attempt - 1, 32))

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        self.failures += 1
        step = self.step(self.failures)
        return self.rng.uniform(max(self.base, 0.75 * step), step)

    def reset(self) -> None:
        self.failures = 0
