"""mcu.tcp: a TCP connection over IPv6 to every ``mcu.tcp_ports`` on every AAAA of the MCU, each timed.

A room's endpoint may pick any of the MCU's addresses, so one broken AAAA
breaks some calls: every address is tried and the report names those that
fail.
"""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import NO_MCU, NO_MCU_CODE, mcu_resolution, skip
from agent.net.tcp import TcpOutcome, tcp_connect
from agent.result import CheckResult, Status

NAME = "mcu.tcp"


def assess_tcp(outcomes: list[TcpOutcome], host: str | None = None) -> CheckResult:
    failed = [o for o in outcomes if not o.ok]
    addresses = list(dict.fromkeys(o.address for o in outcomes))
    details = {
        "addresses": addresses,
        "failed_addresses": list(dict.fromkeys(o.address for o in failed)),
        "ports": {
            (str(o.port) if len(addresses) == 1 else f"[{o.address}]:{o.port}"): {"ok": o.ok, "ms": o.ms, "error": o.error}
            for o in outcomes
        },
    }
    slowest = max(o.ms for o in outcomes)
    if failed:
        summary = "; ".join(o.describe() for o in failed)
        if len(addresses) > 1:
            bad = len(details["failed_addresses"])
            summary += f" ({bad} of {len(addresses)} addresses of {host or 'the MCU'} fail)"
        return CheckResult(NAME, Status.FAIL, summary, observed=slowest, unit="ms", details=details,
                           code="mcu.tcp.unreachable",
                           params={"failed": ", ".join(f"[{o.address}]:{o.port}" for o in failed),
                                   "error": failed[0].error, "failed_addresses": len(details["failed_addresses"]),
                                   "addresses": len(addresses)})
    if len(outcomes) == 1:
        summary = outcomes[0].describe()
    else:
        parts = []
        for address in addresses:
            times = ", ".join(f"{o.port} in {o.ms:.0f} ms" for o in outcomes if o.address == address)
            parts.append(f"TCP to {address}: connected to {times}")
        summary = "; ".join(parts)
    return CheckResult(NAME, Status.OK, summary, observed=slowest, unit="ms", details=details,
                       code="mcu.tcp.ok", params={"connections": len(outcomes), "slowest_ms": round(slowest)})


def check_tcp(ctx: CheckContext) -> CheckResult:
    resolution = mcu_resolution(ctx)
    if resolution is None:
        return skip(NAME, NO_MCU, NO_MCU_CODE)
    if not resolution.aaaa:
        return CheckResult(NAME, Status.FAIL, f"no IPv6 address for {resolution.host}",
                           code="net.no_aaaa", params={"host": resolution.host})
    outcomes = [tcp_connect(a, port) for a in resolution.aaaa for port in ctx.config.mcu.tcp_ports]
    return assess_tcp(outcomes, resolution.host)
