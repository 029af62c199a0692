"""Every check result carries a stable code and the params its sentence names (pure assessments)."""

from __future__ import annotations

import re
from pathlib import Path

from agent.checks.base import Check, CheckContext, run_checks
from agent.checks.host_disk import assess_disk
from agent.checks.host_memory import assess_memory
from agent.checks.host_temperature import assess_temperature, read_hwmon
from agent.checks.mcu_icmp import assess_echo
from agent.checks.mcu_tcp import assess_tcp
from agent.checks.net_dns_aaaa import assess_resolution
from agent.checks.probe_bandwidth import assess_bandwidth
from agent.config import AgentConfig
from agent.net.icmp import EchoOutcome
from agent.net.resolve import Resolution
from agent.net.tcp import TcpOutcome
from agent.result import CheckResult, Status

CODE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _coded(result: CheckResult, code: str) -> dict:
    assert result.code == code, result
    assert CODE.match(result.code)
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in result.params.values())
    doc = result.to_json()
    assert doc["code"] == code and doc["params"] == result.params
    return result.params


def test_thresholds_name_observed_and_minimum(tmp_path: Path) -> None:
    params = _coded(assess_disk(9.9, 10**9, tmp_path, 10), "host.disk.too_low")
    assert params["observed"] == 9.9 and params["minimum"] == 10 and params["free_gb"] == 1.0
    _coded(assess_disk(50.0, 10**9, tmp_path, 10), "host.disk.ok")
    assert _coded(assess_memory(4 * 2**20, 100 * 2**20, 5), "host.memory.too_low")["minimum"] == 5


def test_temperature_codes(tmp_path: Path) -> None:
    _coded(assess_temperature(read_hwmon(tmp_path)), "host.temperature.no_sensors")


def test_network_codes() -> None:
    _coded(assess_echo(EchoOutcome("2001:db8::1", 3, 0, [])), "mcu.icmp.no_reply")
    assert _coded(assess_echo(EchoOutcome("2001:db8::1", 3, 3, [2.0, 1.5, 3.0])), "mcu.icmp.ok")["best_ms"] == 1.5
    failed = assess_tcp([TcpOutcome("2001:db8::1", 5061, False, 3000.0, "timed out")], "mcu.example")
    params = _coded(failed, "mcu.tcp.unreachable")
    assert params["failed"] == "[2001:db8::1]:5061" and params["error"] == "timed out"
    _coded(assess_tcp([TcpOutcome("2001:db8::1", 5061, True, 12.0)]), "mcu.tcp.ok")
    only_a = assess_resolution(Resolution("mcu.example", a=["192.0.2.1"]))
    assert _coded(only_a, "net.dns_aaaa.only_a")["a"] == "192.0.2.1"
    _coded(assess_resolution(Resolution("mcu.example", error="NXDOMAIN")), "net.dns_aaaa.unresolved")


def test_bandwidth_codes() -> None:
    slow = assess_bandwidth("probe.upload", 3.2, None, 10, "https://r.example", {})
    assert _coded(slow, "bandwidth.too_slow") == {
        "direction": "upload", "mbps": 3.2, "minimum": 10, "where": "https://r.example"}
    _coded(assess_bandwidth("probe.download", None, "refused", 10, "https://r.example", {}), "bandwidth.failed")


def test_runner_codes_skip_and_crash() -> None:
    def boom(ctx: CheckContext) -> CheckResult:
        raise RuntimeError("broken")

    def fail(ctx: CheckContext) -> CheckResult:
        return CheckResult("a.first", Status.FAIL, "bad", code="a.bad")

    checks = [Check("a.first", "host", fail), Check("a.second", "host", boom, requires=("a.first",)),
              Check("a.third", "host", boom)]
    first, second, third = run_checks(checks, CheckContext(AgentConfig()))
    assert _coded(second, "check.skipped.after_failure") == {"earlier": "a.first"}
    assert _coded(third, "check.crashed")["error"] == "RuntimeError: broken"
