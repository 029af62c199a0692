"""Shared test helpers: run the real ``bridge-agent`` command and write config files."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None) -> Completed:
    """Run ``python -m agent ARGS`` as a real process, as a technician would run bridge-agent."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("BRIDGE_AGENT_CONFIG", "NO_COLOR")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd or REPO,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root for {what}; CI runs as root")


@pytest.fixture
def enrolled_config(tmp_path: Path) -> Path:
    """A complete, valid configuration with a token file, in a temp dir."""
    token = tmp_path / "token"
    token.write_text("s3cr3t-token-value\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[room]
id = "hn-test-1"
name = "Phòng họp thử"
unit = "UBND phường Thử"

[central]
url = "https://collector.example.vn/api/v1/heartbeat"
token_file = "{token}"

[mcu]
host = "2001:db8::10"

[agent]
state_dir = "{tmp_path / 'state'}"
runtime_dir = "{tmp_path / 'run'}"
"""
    )
    return config
