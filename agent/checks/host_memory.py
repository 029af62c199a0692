"""host.memory: memory available to start a meeting client without swapping."""

from __future__ import annotations

import psutil

from agent.checks.base import CheckContext, against_minimum
from agent.result import CheckResult, Status

NAME = "host.memory"


def assess_memory(available: int, total: int, min_available_pct: float) -> CheckResult:
    pct = 100.0 * available / total if total else 0.0
    return against_minimum(
        NAME,
        round(pct, 1),
        min_available_pct,
        "%",
        f"{pct:.1f}% of memory available ({available / 2**20:.0f} of {total / 2**20:.0f} MiB)",
        "memory nearly exhausted",
        below=Status.WARN,
        details={"available_bytes": available, "total_bytes": total},
    )


def check_memory(ctx: CheckContext) -> CheckResult:
    memory = psutil.virtual_memory()
    return assess_memory(memory.available, memory.total, ctx.config.policy.min_available_memory_pct)
