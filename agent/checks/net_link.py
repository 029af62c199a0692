"""net.link: the interface the route to the MCU leaves by is up and has carrier.

Another interface being up proves nothing (a VPN, a Docker bridge, Wi-Fi the
meeting does not use): when the route to the MCU is known, only its interface
is judged. Without one (no ``mcu.host``, no route yet) any non-loopback
interface up with carrier will do, and the result says so.
"""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import towards_mcu
from agent.net.links import Link, read_links
from agent.result import CheckResult, Status

NAME = "net.link"


def _state(link: Link) -> str:
    if not link.up:
        return "down"
    return "up" if link.carrier else "up, no carrier (cable unplugged?)"


def assess_links(links: list[Link], via: str | None = None, destination: str | None = None) -> CheckResult:
    """``via``: the interface the route to the MCU (``destination``) uses, when known."""
    candidates = [link for link in links if not link.loopback]
    live = [link.name for link in candidates if link.up and link.carrier]
    details = {"interfaces": {link.name: _state(link) for link in candidates}, "up": live, "towards_mcu": via}
    chosen = next((link for link in links if link.name == via), None) if via else None
    if chosen is not None:
        towards = f"the interface towards the MCU {destination}" if destination else "the interface towards the MCU"
        if chosen.loopback or (chosen.up and chosen.carrier):
            return CheckResult(NAME, Status.OK, f"{chosen.name} ({towards}) up with carrier",
                               observed=len(live), unit="count", details=details,
                               code="net.link.ok", params={"interfaces": chosen.name})
        others = [name for name in live if name != chosen.name]
        summary = f"{chosen.name} ({towards}) is {_state(chosen)}"
        if others:
            summary += f"; {', '.join(others)} up, but the MCU is not reached through them"
        code = "net.link.no_carrier" if chosen.up else "net.link.down"
        return CheckResult(NAME, Status.FAIL, summary, observed=len(live), unit="count", details=details,
                           code=code, params={"interface": chosen.name, "others": ", ".join(others)})
    if live:
        return CheckResult(
            NAME,
            Status.OK,
            f"{', '.join(live)} up with carrier (route to the MCU not known: any interface counts)",
            observed=len(live),
            unit="count",
            details=details,
            code="net.link.ok",
            params={"interfaces": ", ".join(live)},
        )
    if not candidates:
        summary = "no network interface besides loopback"
        code, params = "net.link.no_interface", {}
    else:
        states = "; ".join(f"{link.name}: {_state(link)}" for link in candidates)
        summary = f"no network interface is up with carrier ({states})"
        code, params = "net.link.none_up", {"interfaces": ", ".join(link.name for link in candidates)}
    return CheckResult(NAME, Status.FAIL, summary, observed=0, unit="count", details=details,
                       code=code, params=params)


def check_link(ctx: CheckContext) -> CheckResult:
    route = towards_mcu(ctx)
    links = read_links(ctx.paths.sys)
    if route is None:
        return assess_links(links)
    return assess_links(links, route.interface, route.destination)
