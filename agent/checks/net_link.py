"""net.link: a non-loopback interface is administratively up and has carrier."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.net.links import Link, read_links
from agent.result import CheckResult, Status

NAME = "net.link"


def _state(link: Link) -> str:
    if not link.up:
        return "down"
    return "up" if link.carrier else "up, no carrier (cable unplugged?)"


def assess_links(links: list[Link]) -> CheckResult:
    candidates = [link for link in links if not link.loopback]
    live = [link.name for link in candidates if link.up and link.carrier]
    details = {"interfaces": {link.name: _state(link) for link in candidates}, "up": live}
    if live:
        return CheckResult(
            NAME,
            Status.OK,
            f"{', '.join(live)} up with carrier",
            observed=len(live),
            unit="count",
            details=details,
        )
    if not candidates:
        summary = "no network interface besides loopback"
    else:
        states = "; ".join(f"{link.name}: {_state(link)}" for link in candidates)
        summary = f"no network interface is up with carrier ({states})"
    return CheckResult(NAME, Status.FAIL, summary, observed=0, unit="count", details=details)


def check_link(ctx: CheckContext) -> CheckResult:
    return assess_links(read_links(ctx.paths.sys))
