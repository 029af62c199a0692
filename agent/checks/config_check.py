"""config: is the agent configured and enrolled? A failed reload is reported here."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.config import DEFAULT_CONFIG_PATH, enrolment_problems
from agent.result import CheckResult, Status

NAME = "config"
# policy.require_ipv6 = false once turned missing IPv6 into a warning, yet every later check
# still measured over IPv6 only: an IPv4 path was never allowed. The key stays readable.
IPV6_ONLY = (
    "policy.require_ipv6 = false has no effect: the city WAN is IPv6-only and every check"
    " measures over IPv6; remove the key"
)


def check_config(ctx: CheckContext) -> CheckResult:
    config = ctx.config
    if ctx.config_error:
        return CheckResult(
            NAME, Status.FAIL, f"new configuration rejected, still running the previous one: {ctx.config_error}",
            code="config.rejected", params={"error": ctx.config_error},
        )
    if config.source is None:
        return CheckResult(
            NAME, Status.WARN, f"no configuration file at {DEFAULT_CONFIG_PATH}: using built-in defaults",
            code="config.missing", params={"path": str(DEFAULT_CONFIG_PATH)},
        )
    problems = enrolment_problems(config)
    if problems:
        keys = ", ".join(sorted({p.key or "file" for p in problems}))
        return CheckResult(
            NAME,
            Status.WARN,
            f"{config.source} is valid but the room is not enrolled yet ({keys})",
            details={"problems": [str(p) for p in problems]},
            code="config.not_enrolled", params={"path": str(config.source), "keys": keys},
        )
    if not config.policy.require_ipv6:
        return CheckResult(NAME, Status.WARN, f"{config.source}: {IPV6_ONLY}", code="config.ipv6_not_required",
                           params={"path": str(config.source)})
    return CheckResult(NAME, Status.OK, f"{config.source} valid; room {config.room.id} enrolled",
                       code="config.ok", params={"path": str(config.source), "room": config.room.id})
