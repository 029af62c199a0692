"""host.memory: memory available to start a meeting client without swapping."""

from __future__ import annotations

import psutil

from agent.checks.base import CheckContext
from agent.result import CheckResult, Status

NAME = "host.memory"


def assess_memory(available: int, total: int, min_available_pct: float) -> CheckResult:
    pct = 100.0 * available / total if total else 0.0
    ok = pct >= min_available_pct
    summary = f"{pct:.1f}% of memory available ({available / 2**20:.0f} of {total / 2**20:.0f} MiB)"
    if not ok:
        summary = f"memory nearly exhausted: {summary}, need at least {min_available_pct:g}%"
    return CheckResult(
        name=NAME,
        status=Status.OK if ok else Status.WARN,
        summary=summary,
        observed=round(pct, 1),
        threshold=min_available_pct,
        unit="%",
        details={"available_bytes": available, "total_bytes": total},
    )


def check_memory(ctx: CheckContext) -> CheckResult:
    memory = psutil.virtual_memory()
    return assess_memory(memory.available, memory.total, ctx.config.policy.min_available_memory_pct)
