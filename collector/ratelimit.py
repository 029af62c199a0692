"""Failed-login limits: at most N failures per key in a sliding window. Pure; the clock is passed in.

Kept in memory (per collector process): a restart forgets the failures, which
costs an attacker a restart they cannot cause, and keeps logins free of writes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_FAILURES = 5
WINDOW_S = 300.0
MAX_KEYS = 100_000  # a flood from many addresses must not grow memory without bound


@dataclass
class FailureLimiter:
    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until every key may try again; 0 when none is limited."""
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, times[-self.max_failures] + self.window_s - now)
        return wait

    def fail(self, keys: list[str], now: float) -> None:
        if len(self._failures) > MAX_KEYS:
            self._prune(now)
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window_s]:
            del self._failures[key]
        if len(self._failures) > MAX_KEYS:  # all recent: keep the newest half
            for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[:len(self._failures) // 2]:
                del self._failures[key]
