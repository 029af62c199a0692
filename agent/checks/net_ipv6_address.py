"""net.ipv6_address: a global or ULA IPv6 address that is usable (not tentative/deprecated).

When the route to the MCU is known, the address must be on the interface
that route leaves by: a global address on a VPN or Docker interface does not
carry the meeting. The city WAN is IPv6-only, so no usable address fails.
"""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import towards_mcu
from agent.net.addresses import Inet6Address, read_addresses
from agent.result import CheckResult, Status

NAME = "net.ipv6_address"


def assess_addresses(addresses: list[Inet6Address], interface: str | None = None) -> CheckResult:
    """``interface``: the one the route to the MCU uses, when known; only its addresses count."""
    own = [a for a in addresses if a.kind != "loopback"]
    if interface is not None and any(a.interface == interface for a in addresses):
        if all(a.kind == "loopback" for a in addresses if a.interface == interface):
            # The MCU is this host (a test bench): loopback is the path.
            loopback = [a for a in addresses if a.interface == interface]
            return CheckResult(NAME, Status.OK, f"{loopback[0]} on {interface} (the MCU is this host)",
                               observed=[str(a.address) for a in loopback],
                               details={"usable": [str(a.address) for a in loopback], "all": []},
                               code="net.ipv6_address.loopback",
                               params={"address": str(loopback[0]), "interface": interface})
    considered = [a for a in own if interface is None or a.interface == interface]
    routable = [a for a in considered if a.routable]
    usable = [a for a in routable if not a.problems]
    listed = [f"{a} on {a.interface}" for a in usable]
    details = {
        "usable": [str(a.address) for a in usable],
        "all": [
            f"{a} on {a.interface}" + (f" ({', '.join(a.problems)})" if a.problems else "")
            for a in own
        ],
        "interface": interface,
    }
    if usable:
        return CheckResult(
            NAME,
            Status.OK,
            ", ".join(listed),
            observed=[str(a.address) for a in usable],
            details=details,
            code="net.ipv6_address.ok",
            params={"addresses": ", ".join(listed)},
        )
    where = f"on {interface}, the interface towards the MCU" if interface else "on any interface"
    elsewhere = [a for a in own if a.routable and not a.problems and a not in considered]
    if routable:
        why = "; ".join(f"{a} on {a.interface} is {' and '.join(a.problems)}" for a in routable)
        summary = f"no usable global IPv6 address{' ' + where if interface else ''}: {why}"
        code, params = "net.ipv6_address.unusable", {"problems": why}
    elif considered:
        others = ", ".join(f"{a.address} on {a.interface}" for a in considered)
        summary = f"no global IPv6 address {where} (only {others}): no router advertisement or DHCPv6?"
        code, params = "net.ipv6_address.no_global", {"others": others}
    else:
        summary = f"no IPv6 address {where}"
        code, params = "net.ipv6_address.none", {}
    params["interface"] = interface
    if elsewhere:
        summary += f"; {', '.join(f'{a} on {a.interface}' for a in elsewhere)} does not carry the meeting"
    return CheckResult(NAME, Status.FAIL, summary, observed=[], details=details, code=code, params=params)


def check_ipv6_address(ctx: CheckContext) -> CheckResult:
    route = towards_mcu(ctx)
    return assess_addresses(read_addresses(ctx.paths.proc), route.interface if route else None)
