"""net.ipv6_address: a global or ULA IPv6 address that is usable (not tentative/deprecated)."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.net.addresses import Inet6Address, read_addresses
from agent.result import CheckResult, Status

NAME = "net.ipv6_address"


def assess_addresses(addresses: list[Inet6Address], require_ipv6: bool) -> CheckResult:
    own = [a for a in addresses if a.kind != "loopback"]
    routable = [a for a in own if a.routable]
    usable = [a for a in routable if not a.problems]
    listed = [f"{a} on {a.interface}" for a in usable]
    details = {
        "usable": [str(a.address) for a in usable],
        "all": [
            f"{a} on {a.interface}" + (f" ({', '.join(a.problems)})" if a.problems else "")
            for a in own
        ],
    }
    if usable:
        return CheckResult(
            NAME,
            Status.OK,
            ", ".join(listed),
            observed=[str(a.address) for a in usable],
            details=details,
        )
    if routable:
        why = "; ".join(f"{a} on {a.interface} is {' and '.join(a.problems)}" for a in routable)
        summary = f"no usable global IPv6 address: {why}"
    elif own:
        others = ", ".join(f"{a.address} on {a.interface}" for a in own)
        summary = f"no global IPv6 address on any interface (only {others}): no router advertisement or DHCPv6?"
    else:
        summary = "no IPv6 address on any interface"
    status = Status.FAIL if require_ipv6 else Status.WARN
    return CheckResult(NAME, status, summary, observed=[], details=details)


def check_ipv6_address(ctx: CheckContext) -> CheckResult:
    return assess_addresses(read_addresses(ctx.paths.proc), ctx.config.policy.require_ipv6)
