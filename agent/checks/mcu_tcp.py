"""mcu.tcp: a TCP connection over IPv6 to every ``mcu.tcp_ports``, each timed."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import mcu_address
from agent.net.tcp import TcpOutcome, tcp_connect
from agent.result import CheckResult, Status

NAME = "mcu.tcp"


def assess_tcp(outcomes: list[TcpOutcome]) -> CheckResult:
    failed = [o for o in outcomes if not o.ok]
    details = {"ports": {str(o.port): {"ok": o.ok, "ms": o.ms, "error": o.error} for o in outcomes}}
    slowest = max(o.ms for o in outcomes)
    if failed:
        return CheckResult(
            NAME,
            Status.FAIL,
            "; ".join(o.describe() for o in failed),
            observed=slowest,
            unit="ms",
            details=details,
        )
    if len(outcomes) == 1:
        summary = outcomes[0].describe()
    else:
        times = ", ".join(f"{o.port} in {o.ms:.0f} ms" for o in outcomes)
        summary = f"TCP to {outcomes[0].address}: connected to {times}"
    return CheckResult(NAME, Status.OK, summary, observed=slowest, unit="ms", details=details)


def check_tcp(ctx: CheckContext) -> CheckResult:
    address = mcu_address(ctx, NAME)
    if isinstance(address, CheckResult):
        return address
    return assess_tcp([tcp_connect(address, port) for port in ctx.config.mcu.tcp_ports])
