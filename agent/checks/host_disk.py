"""host.disk: free space on the filesystem holding the state directory (spool, seq)."""

from __future__ import annotations

from pathlib import Path

import psutil

from agent.checks.base import CheckContext
from agent.result import CheckResult, Status

NAME = "host.disk"


def nearest_existing(path: Path) -> Path:
    """The path itself or its closest existing parent (the state dir may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def assess_disk(free_pct: float, free_bytes: int, where: Path, min_free_pct: float) -> CheckResult:
    free_gb = free_bytes / 1e9
    ok = free_pct >= min_free_pct
    summary = f"{free_pct:.1f}% free ({free_gb:.1f} GB) on the filesystem of {where}"
    if not ok:
        summary = f"disk almost full: {summary}, need at least {min_free_pct:g}%"
    return CheckResult(
        name=NAME,
        status=Status.OK if ok else Status.FAIL,
        summary=summary,
        observed=round(free_pct, 1),
        threshold=min_free_pct,
        unit="%",
        details={"path": str(where), "free_bytes": free_bytes},
    )


def check_disk(ctx: CheckContext) -> CheckResult:
    where = nearest_existing(ctx.config.agent.state_dir)
    usage = psutil.disk_usage(str(where))
    free_pct = 100.0 * usage.free / usage.total if usage.total else 0.0
    return assess_disk(free_pct, usage.free, where, ctx.config.policy.min_free_disk_pct)
