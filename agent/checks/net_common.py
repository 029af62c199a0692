"""What the network checks share: the gate, the MCU and responder addresses, progress.

Name lookups happen once per run (memoised in the context) so every stage
talks about the same address.
"""

from __future__ import annotations

from typing import Callable

from agent.checks.base import CheckContext, skipped
from agent.errors import NetworkError
from agent.net.addresses import read_addresses
from agent.net.resolve import Resolution, resolve
from agent.net.route import Route, route_source
from agent.paths import Paths
from agent.result import CheckResult, Status

# Stages 1-4: a failure here skips every later network check.
GATE = ("net.link", "net.ipv6_address", "net.ipv6_route", "net.dns_aaaa")
NO_MCU = "mcu.host not configured"
NO_MCU_CODE = "check.skipped.no_mcu"
# The command that runs the chain may register a progress callback under this key.
PROGRESS_KEY = "net.progress"

Progress = Callable[[str, str], None]  # (check name, what is happening)


skip = skipped


def mcu_resolution(ctx: CheckContext) -> Resolution | None:
    """The MCU's lookup, shared by every stage; None when ``mcu.host`` is not set."""
    host = ctx.config.mcu.host
    if not host:
        return None
    return ctx.memo(f"net.resolve:{host}", lambda: resolve(host))


def mcu_address(ctx: CheckContext, name: str) -> str | CheckResult:
    """The MCU's IPv6 address, or the result ``name`` reports when there is none."""
    resolution = mcu_resolution(ctx)
    if resolution is None:
        return skip(name, NO_MCU, NO_MCU_CODE)
    if not resolution.aaaa:
        return CheckResult(name, Status.FAIL, f"no IPv6 address for {resolution.host}",
                           code="net.no_aaaa", params={"host": resolution.host})
    return resolution.aaaa[0]


def mcu_route(ctx: CheckContext) -> Route | NetworkError | None:
    """The kernel's route to the MCU's first IPv6 address, looked up once per run.

    None when there is nothing to route to (no ``mcu.host``, no AAAA); the
    NetworkError when there is no route.
    """
    resolution = mcu_resolution(ctx)
    if resolution is None or not resolution.aaaa:
        return None
    destination = resolution.aaaa[0]

    def lookup() -> Route | NetworkError:
        try:
            return route_source(destination, read_addresses(ctx.paths.proc))
        except NetworkError as err:
            return err

    return ctx.memo(f"net.route:{destination}", lookup)


def towards_mcu(ctx: CheckContext) -> Route | None:
    """The route to the MCU when there is one with a known interface: the link the room depends on.

    None on a recorded tree (``--root``): the running kernel's routes say nothing about it.
    """
    if ctx.paths.sys != Paths().sys:
        return None
    route = mcu_route(ctx)
    return route if isinstance(route, Route) and route.interface else None


def host_address(ctx: CheckContext, host: str) -> str | None:
    """The first IPv6 address of ``host`` (a literal or a name), looked up once per run."""
    resolution = ctx.memo(f"net.resolve:{host}", lambda: resolve(host))
    return resolution.aaaa[0] if resolution.aaaa else None


def progress(ctx: CheckContext) -> Progress:
    """The registered progress callback, or one that does nothing."""
    return ctx.memo(PROGRESS_KEY, lambda: _quiet)


def _quiet(name: str, text: str) -> None:
    return None


def bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address
