"""net.dns_aaaa: ``mcu.host`` resolves to an IPv6 address (AAAA), timed."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import NO_MCU, NO_MCU_CODE, mcu_resolution, skip
from agent.net.resolve import Resolution
from agent.result import CheckResult, Status

NAME = "net.dns_aaaa"


def assess_resolution(resolution: Resolution) -> CheckResult:
    host = resolution.host
    details = {"host": host, "aaaa": resolution.aaaa, "a": resolution.a}
    if resolution.literal:
        return skip(NAME, f"mcu.host {host} is an IPv6 address, no lookup needed", "check.skipped.literal", host=host)
    if resolution.aaaa:
        return CheckResult(
            NAME,
            Status.OK,
            f"{host} → {', '.join(resolution.aaaa)} in {resolution.ms:.0f} ms",
            observed=resolution.ms,
            unit="ms",
            details=details,
            code="net.dns_aaaa.ok",
            params={"host": host, "addresses": ", ".join(resolution.aaaa), "ms": round(resolution.ms)},
        )
    if resolution.a:
        summary = f"{host} has only A records ({', '.join(resolution.a)}): the MCU is not reachable over IPv6"
        code, params = "net.dns_aaaa.only_a", {"host": host, "a": ", ".join(resolution.a)}
    else:
        summary = f"{host} does not resolve: {resolution.error or 'no address'}"
        code, params = "net.dns_aaaa.unresolved", {"host": host, "error": resolution.error or "no address"}
    return CheckResult(NAME, Status.FAIL, summary, observed=resolution.ms, unit="ms", details=details,
                       code=code, params=params)


def check_dns_aaaa(ctx: CheckContext) -> CheckResult:
    resolution = mcu_resolution(ctx)
    if resolution is None:
        return skip(NAME, NO_MCU, NO_MCU_CODE)
    return assess_resolution(resolution)
