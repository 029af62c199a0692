"""The state file in ``agent.runtime_dir``: what ``bridge-agent status`` shows.

Written atomically (no fsync: it lives in tmpfs and is rebuilt at start) and
readable by anyone: it holds no secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agent.daemon.fsutil import write_atomic
from agent.output import iso_utc

FILE_NAME = "status.json"


def state_path(runtime_dir: Path) -> Path:
    return runtime_dir / FILE_NAME


def iso(ts: float | None) -> str | None:
    return None if ts is None else iso_utc(ts)


def write_state(runtime_dir: Path, doc: dict[str, Any]) -> None:
    runtime_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(state_path(runtime_dir), json.dumps(doc, ensure_ascii=False, indent=1).encode(), durable=False, mode=0o644)


def read_state(runtime_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(runtime_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by the service user
    return True


def status_line(
    *,
    status: str | None,
    failing: list[str],
    seq: int,
    depth: int,
    delivered_at: float | None,
    error: str | None,
    failures: int,
) -> str:
    """The one-line STATUS= summary systemctl shows (pure)."""
    parts = [status or "starting"]
    if failing:
        parts[0] += " (" + ", ".join(failing[:3]) + (", ..." if len(failing) > 3 else "") + ")"
    parts.append(f"seq {seq}")
    parts.append(f"spool {depth}")
    if delivered_at is not None:
        parts.append(f"last delivery {iso(delivered_at)}")
    if failures and error:
        parts.append(f"not delivered ({failures} tries): {error[:160]}")
    return "; ".join(parts)
