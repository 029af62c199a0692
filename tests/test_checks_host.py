"""Host checks and the check runner, on real files and the real host."""

from __future__ import annotations

import json
from pathlib import Path

from agent.checks import REGISTRY, CheckContext, run_checks, select
from agent.checks.base import Check
from agent.checks.host_clock import STA_UNSYNC, TIME_ERROR, ClockState, assess_clock, read_clock
from agent.checks.host_disk import assess_disk, check_disk, nearest_existing
from agent.checks.host_memory import assess_memory
from agent.checks.host_temperature import assess_temperature, read_hwmon
from agent.config import AgentConfig, parse_config
from agent.paths import Paths
from agent.result import CheckResult, Status, overall_status
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def test_disk_threshold_from_policy(tmp_path: Path) -> None:
    assert assess_disk(9.9, 10**9, tmp_path, 10).status is Status.FAIL
    ok = assess_disk(10.0, 10**9, tmp_path, 10)
    assert ok.status is Status.OK and ok.unit == "%" and ok.threshold == 10


def test_disk_check_on_missing_state_dir_uses_parent(tmp_path: Path) -> None:
    config = parse_config(f'[agent]\nstate_dir = "{tmp_path}/not/yet"\n[policy]\nmin_free_disk_pct = 0\n')
    result = check_disk(CheckContext(config))
    assert result.status is Status.OK
    assert result.details["path"] == str(tmp_path)
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    strict = parse_config(f'[agent]\nstate_dir = "{tmp_path}"\n[policy]\nmin_free_disk_pct = 100\n')
    assert check_disk(CheckContext(strict)).status is Status.FAIL


def test_memory_warns_below_policy() -> None:
    assert assess_memory(4 * 2**20, 100 * 2**20, 5).status is Status.WARN
    assert assess_memory(50 * 2**20, 100 * 2**20, 5).status is Status.OK


def test_temperature_from_hwmon_fixture() -> None:
    sensors = read_hwmon(FIXTURES / "hwmon-hot" / "sys")
    assert [(s.chip, s.label, s.celsius) for s in sensors] == [
        ("coretemp", "Package id 0", 52.0),
        ("coretemp", "Core 1", 88.0),
        ("nvme", "Composite", 41.85),
    ]
    result = assess_temperature(sensors)
    assert result.status is Status.WARN
    assert result.observed == 88.0 and result.threshold == 84.0
    assert "coretemp Core 1" in result.summary


def test_temperature_without_sensors_is_skipped(tmp_path: Path) -> None:
    assert assess_temperature(read_hwmon(tmp_path)).status is Status.SKIP


def test_clock_assessment() -> None:
    synced = ClockState(state=0, status=0, maxerror_us=1000, esterror_us=500)
    assert assess_clock(synced, True).status is Status.OK
    unsynced = ClockState(state=TIME_ERROR, status=STA_UNSYNC, maxerror_us=16_000_000, esterror_us=16_000_000)
    assert assess_clock(unsynced, True).status is Status.FAIL
    assert assess_clock(unsynced, False).status is Status.WARN


def test_clock_reads_the_kernel() -> None:
    clock = read_clock()
    assert 0 <= clock.state <= 5
    assert clock.maxerror_us >= 0


def test_crashing_check_becomes_fail_and_others_still_run() -> None:
    def boom(ctx: CheckContext) -> CheckResult:
        raise RuntimeError("sensor bus gone")

    def fine(ctx: CheckContext) -> CheckResult:
        return CheckResult("t.fine", Status.OK, "fine")

    results = run_checks([Check("t.boom", "host", boom), Check("t.fine", "host", fine)], CheckContext(AgentConfig()))
    assert results[0].status is Status.FAIL
    assert "RuntimeError: sensor bus gone" in results[0].summary
    assert results[1].status is Status.OK


def test_failed_stage_skips_the_stages_that_require_it() -> None:
    calls: list[str] = []

    def make(name: str, status: Status):
        def run(ctx: CheckContext) -> CheckResult:
            calls.append(name)
            return CheckResult(name, status, name)

        return run

    chain = [
        Check("a", "net", make("a", Status.OK)),
        Check("b", "net", make("b", Status.FAIL), requires=("a",)),
        Check("c", "net", make("c", Status.OK), requires=("a", "b")),
        Check("d", "net", make("d", Status.OK), requires=("a", "b", "c")),
        Check("e", "probe", make("e", Status.OK), requires=("a",)),
    ]
    results = run_checks(chain, CheckContext(AgentConfig()), skip={"e": "deferred: room in use"})
    assert calls == ["a", "b"]
    assert [(r.name, r.status.value, r.summary) for r in results[2:]] == [
        ("c", "skip", "skipped: b failed"),
        ("d", "skip", "skipped: b failed"),
        ("e", "skip", "skipped: deferred: room in use"),
    ]
    assert overall_status(results) is Status.FAIL


def test_registry_names_are_unique_and_known() -> None:
    names = [c.name for c in REGISTRY]
    assert len(names) == len(set(names))
    allowed = {
        "devices.cameras", "devices.microphones", "devices.speakers", "net.link", "net.ipv6_address",
        "net.ipv6_route", "net.dns_aaaa", "mcu.tcp", "mcu.sip", "mcu.icmp", "probe.rtt", "probe.jitter",
        "probe.loss", "probe.upload", "probe.download", "host.disk", "host.memory", "host.clock",
        "host.temperature", "config", "display.connected", "camera.frames", "microphone.level",
    }
    assert set(names) <= allowed
    assert all(not c.bandwidth for c in select(bandwidth=False))
    assert all(not c.av for c in select(av=False))


def test_host_checks_run_on_this_machine() -> None:
    results = run_checks(select("host"), CheckContext(AgentConfig(), Paths()))
    assert [r.name for r in results] == ["host.disk", "host.memory", "host.temperature", "host.clock"]
    for r in results:
        json.dumps(r.to_json())
        assert r.status in (Status.OK, Status.WARN, Status.FAIL, Status.SKIP)
        assert "crashed" not in r.summary
