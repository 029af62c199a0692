"""net.ipv6_route: the kernel has a route to the MCU; which source address and interface it picks."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import NO_MCU, NO_MCU_CODE, mcu_resolution, mcu_route, skip
from agent.errors import NetworkError
from agent.result import CheckResult, Status

NAME = "net.ipv6_route"


def check_ipv6_route(ctx: CheckContext) -> CheckResult:
    resolution = mcu_resolution(ctx)
    if resolution is None:
        return skip(NAME, NO_MCU, NO_MCU_CODE)
    if not resolution.aaaa:
        return skip(NAME, f"{resolution.host} has no IPv6 address to route to (see net.dns_aaaa)",
                    "check.skipped.no_aaaa", host=resolution.host)
    destination = resolution.aaaa[0]
    route = mcu_route(ctx)
    if isinstance(route, NetworkError) or route is None:
        return CheckResult(NAME, Status.FAIL, str(route), details={"destination": destination},
                           code="net.ipv6_route.none", params={"destination": destination})
    via = f" via {route.interface}" if route.interface else ""
    return CheckResult(
        NAME,
        Status.OK,
        f"to {destination}{via} from {route.source}",
        details={
            "destination": destination,
            "source_address": route.source,
            "interface": route.interface,
        },
        code="net.ipv6_route.ok",
        params={"destination": destination, "interface": route.interface, "source": route.source},
    )
