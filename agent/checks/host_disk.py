"""host.disk: free space on the filesystem holding the state directory (spool, seq)."""

from __future__ import annotations

from pathlib import Path

import psutil

from agent.checks.base import CheckContext, against_minimum
from agent.result import CheckResult

NAME = "host.disk"


def nearest_existing(path: Path) -> Path:
    """The path itself or its closest existing parent (the state dir may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def assess_disk(free_pct: float, free_bytes: int, where: Path, min_free_pct: float) -> CheckResult:
    return against_minimum(
        NAME,
        round(free_pct, 1),
        min_free_pct,
        "%",
        f"{free_pct:.1f}% free ({free_bytes / 1e9:.1f} GB) on the filesystem of {where}",
        "disk almost full",
        details={"path": str(where), "free_bytes": free_bytes},
        params={"path": str(where), "free_gb": round(free_bytes / 1e9, 1)},
    )


def check_disk(ctx: CheckContext) -> CheckResult:
    where = nearest_existing(ctx.config.agent.state_dir)
    usage = psutil.disk_usage(str(where))
    free_pct = 100.0 * usage.free / usage.total if usage.total else 0.0
    return assess_disk(free_pct, usage.free, where, ctx.config.policy.min_free_disk_pct)
