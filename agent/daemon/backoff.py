"""Exponential backoff with full jitter, from 1 s up to 5 min.

After the n-th failure in a row the wait is uniform(0, min(cap, base·2^(n-1))),
"full jitter": hundreds of rooms that lost the collector at the same moment
spread over the whole window instead of coming back in lockstep. A small
floor keeps a run of unlucky draws near zero from turning into a busy loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

BASE_S = 1.0
CAP_S = 300.0
FLOOR_S = 0.5


@dataclass
class Backoff:
    base: float = BASE_S
    cap: float = CAP_S
    floor: float = FLOOR_S
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def step(self, attempt: int) -> float:
        """The upper bound of the wait after ``attempt`` consecutive failures (1-based)."""
        return min(self.cap, self.base * 2 ** min(attempt - 1, 32))

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        self.failures += 1
        return min(self.cap, max(self.floor, self.rng.uniform(0, self.step(self.failures))))

    def reset(self) -> None:
        self.failures = 0
