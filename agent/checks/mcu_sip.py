"""mcu.sip: SIP OPTIONS to ``mcu.sip_uri`` over UDP or TCP; any SIP response means reachable."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import NO_MCU, NO_MCU_CODE, bracket, host_address, skip
from agent.net.sip import SipOutcome, parse_sip_uri, sip_options
from agent.result import CheckResult, Status

NAME = "mcu.sip"


def assess_sip(outcome: SipOutcome) -> CheckResult:
    target = outcome.target
    where = (
        f"SIP OPTIONS over {target.transport.upper()} to {bracket(outcome.address)}:{target.port}"
    )
    details = {
        "transport": target.transport,
        "address": outcome.address,
        "port": target.port,
        "status_code": outcome.status,
        "reason": outcome.reason,
    }
    if outcome.ok:
        summary = f"{where}: {outcome.status} {outcome.reason} in {outcome.ms:.0f} ms".replace(
            "  ", " "
        )
        return CheckResult(
            NAME, Status.OK, summary, observed=outcome.ms, unit="ms", details=details, code="mcu.sip.ok",
            params={"status": outcome.status, "ms": round(outcome.ms)},
        )
    summary = f"{where}: {outcome.error} after {outcome.ms:.0f} ms"
    return CheckResult(NAME, Status.FAIL, summary, observed=outcome.ms, unit="ms", details=details,
                       code="mcu.sip.no_answer", params={"error": outcome.error, "ms": round(outcome.ms),
                                                         "transport": target.transport.upper()})


def check_sip(ctx: CheckContext) -> CheckResult:
    if not ctx.config.mcu.host:
        return skip(NAME, NO_MCU, NO_MCU_CODE)
    uri = ctx.config.mcu.sip_uri
    if not uri:
        return skip(NAME, "mcu.sip_uri not configured", "check.skipped.not_configured", key="mcu.sip_uri")
    target = parse_sip_uri(uri)
    if target.secure:
        return skip(
            NAME,
            f"{uri} is SIP over TLS (sips:), which this probe does not speak; mcu.tcp covers the port",
            "check.skipped.sips",
        )
    address = host_address(ctx, target.host)
    if address is None:
        return CheckResult(
            NAME, Status.FAIL, f"SIP host {target.host} from mcu.sip_uri has no IPv6 address",
            code="net.no_aaaa", params={"host": target.host},
        )
    return assess_sip(sip_options(target, address))
