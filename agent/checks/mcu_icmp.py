"""mcu.icmp: ICMPv6 echo to the MCU (a raw socket: needs CAP_NET_RAW, which the service has)."""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.checks.net_common import mcu_address, skip
from agent.net.icmp import EchoOutcome, NoRawSocket, ping
from agent.result import CheckResult, Status

NAME = "mcu.icmp"


def assess_echo(outcome: EchoOutcome) -> CheckResult:
    details = {"sent": outcome.sent, "received": outcome.received, "rtts_ms": outcome.rtts_ms}
    if not outcome.ok:
        # Echo may be filtered on the way (against RFC 4890); TCP and SIP stages say more.
        summary = f"no ICMPv6 echo reply from {outcome.address} ({outcome.sent} sent): filtered or host down"
        return CheckResult(NAME, Status.WARN, summary, details=details, code="mcu.icmp.no_reply",
                           params={"address": outcome.address, "sent": outcome.sent})
    best = min(outcome.rtts_ms)
    summary = f"echo reply from {outcome.address}: {outcome.received}/{outcome.sent} answered, best {best:.1f} ms"
    return CheckResult(NAME, Status.OK, summary, observed=best, unit="ms", details=details, code="mcu.icmp.ok",
                       params={"address": outcome.address, "received": outcome.received, "sent": outcome.sent,
                               "best_ms": round(best, 1)})


def check_icmp(ctx: CheckContext) -> CheckResult:
    address = mcu_address(ctx, NAME)
    if isinstance(address, CheckResult):
        return address
    try:
        outcome = ping(address)
    except NoRawSocket:
        return skip(NAME, "ICMPv6 echo needs CAP_NET_RAW (the service has it; run as root on site)",
                    "check.skipped.no_raw_socket")
    return assess_echo(outcome)
