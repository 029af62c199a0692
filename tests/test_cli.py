"""The bridge-agent command line as a technician runs it: real processes, real output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from agent import __version__
from tests.conftest import REPO, run_agent

FIXTURES = REPO / "tests" / "fixtures"


def test_version() -> None:
    result = run_agent("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"bridge-agent {__version__}"


def test_diagnose_json_has_room_checks_and_exit_code(enrolled_config: Path) -> None:
    result = run_agent("diagnose", "--json", "--no-bandwidth", "--config", str(enrolled_config))
    document = json.loads(result.stdout)
    assert set(document) >= {"status", "room", "checks"}
    assert document["room"]["id"] == "hn-test-1"
    names = [c["name"] for c in document["checks"]]
    assert {"config", "host.disk", "host.memory", "host.temperature", "host.clock"} <= set(names)
    for check in document["checks"]:
        assert check["status"] in ("ok", "warn", "fail", "skip")
        assert set(check) >= {"name", "status", "summary", "observed", "threshold", "unit"}
    assert result.returncode == {"ok": 0, "warn": 1, "fail": 2}[document["status"]]


def test_config_before_or_after_subcommand(enrolled_config: Path) -> None:
    before = run_agent("--config", str(enrolled_config), "diagnose", "--json")
    after = run_agent("diagnose", "--json", "--config", str(enrolled_config))
    assert json.loads(before.stdout)["room"] == json.loads(after.stdout)["room"]
    via_env = run_agent("diagnose", "--json", env={"BRIDGE_AGENT_CONFIG": str(enrolled_config)})
    assert json.loads(via_env.stdout)["room"]["id"] == "hn-test-1"


def test_exit_code_follows_worst_check(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[policy]\nmin_free_disk_pct = 100\nrequire_clock_sync = false\n")
    result = run_agent("diagnose", "--json", "--config", str(config), "--root", str(FIXTURES / "hwmon-hot"))
    document = json.loads(result.stdout)
    disk = next(c for c in document["checks"] if c["name"] == "host.disk")
    assert disk["status"] == "fail"
    assert document["status"] == "fail" and result.returncode == 2
    temperature = next(c for c in document["checks"] if c["name"] == "host.temperature")
    assert temperature["status"] == "warn" and temperature["observed"] == 88.0


def test_usage_errors_exit_64() -> None:
    assert run_agent("frobnicate").returncode == 64
    assert run_agent("diagnose", "--bogus").returncode == 64
    assert run_agent().returncode == 64
    assert run_agent("config").returncode in (0, 64)


def test_human_output_plain_when_piped(enrolled_config: Path) -> None:
    result = run_agent("diagnose", "--config", str(enrolled_config))
    assert "\033[" not in result.stdout
    assert "room hn-test-1 (Phòng họp thử)" in result.stdout
    assert "host.disk" in result.stdout and "overall:" in result.stdout


def _run_on_tty(args: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agent", *args], stdout=follower, stderr=subprocess.DEVNULL,
                            env=env, cwd=REPO)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_only_on_tty_and_never_with_no_color(enrolled_config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    args = ["diagnose", "--config", str(enrolled_config)]
    assert "\033[" in _run_on_tty(args, env)
    assert "\033[" not in _run_on_tty(args, {**env, "NO_COLOR": "1"})
