"""probe.rtt, probe.jitter, probe.loss: one RFC 8762 STAMP session to the responder, three verdicts.

The session (100 packets, 20 ms apart, DSCP EF) runs once per chain; the three
checks read its statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.checks.base import CheckContext
from agent.checks.net_common import NO_MCU, bracket, host_address, progress, skip
from agent.net.route import os_error_words
from agent.net.stamp import StampStats, run_session
from agent.result import CheckResult, Status

PACKETS = 100
INTERVAL_S = 0.020


@dataclass(frozen=True)
class Session:
    where: str  # "[address]:port" of the reflector
    stats: StampStats | None
    error: str | None = None  # why there was no session (skip or fail reason)
    failed: bool = False  # error is a failure, not merely "not configured"


def _run(ctx: CheckContext) -> Session:
    host = ctx.config.probe_host
    if not host:
        return Session("", None, NO_MCU)
    port = ctx.config.probe.stamp_port
    address = host_address(ctx, host)
    if address is None:
        return Session(f"{host}:{port}", None, f"responder {host} has no IPv6 address", failed=True)
    where = f"{bracket(address)}:{port}"
    report = progress(ctx)
    try:
        stats = run_session(
            address,
            port,
            PACKETS,
            INTERVAL_S,
            progress=lambda n, total: report("probe.rtt", f"STAMP {n}/{total} to {where}"),
        )
    except OSError as err:
        return Session(where, None, f"STAMP to {where}: {os_error_words(err)}", failed=True)
    return Session(where, stats)


def session(ctx: CheckContext) -> Session:
    return ctx.memo("net.stamp", lambda: _run(ctx))


def _without_stats(name: str, current: Session) -> CheckResult:
    if current.failed:
        return CheckResult(name, Status.FAIL, current.error or "no STAMP session")
    return skip(name, current.error or "no STAMP session")


def _no_replies(current: Session) -> str:
    assert current.stats is not None
    return (
        f"no STAMP reply from {current.where} to {current.stats.sent} packets:"
        " responder down or UDP blocked on the way"
    )


def _verdict(value: float, limit: float) -> Status:
    return Status.OK if value <= limit else Status.FAIL


def assess_rtt(current: Session, max_rtt_ms: float) -> CheckResult:
    name = "probe.rtt"
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    if stats.rtt_avg_ms is None:
        return CheckResult(
            name,
            Status.FAIL,
            _no_replies(current),
            threshold=max_rtt_ms,
            unit="ms",
            details={"sent": stats.sent, "received": 0},
        )
    summary = (
        f"RTT min/avg/p95 {stats.rtt_min_ms:.1f}/{stats.rtt_avg_ms:.1f}/{stats.rtt_p95_ms:.1f} ms"
        f" to {current.where} ({stats.received} of {stats.sent} answered)"
    )
    status = _verdict(stats.rtt_avg_ms, max_rtt_ms)
    if status is Status.FAIL:
        summary = f"round trip too long: {summary}, limit {max_rtt_ms:g} ms"
    return CheckResult(
        name,
        status,
        summary,
        observed=stats.rtt_avg_ms,
        threshold=max_rtt_ms,
        unit="ms",
        details={
            "rtt_min_ms": stats.rtt_min_ms,
            "rtt_avg_ms": stats.rtt_avg_ms,
            "rtt_p95_ms": stats.rtt_p95_ms,
            "sent": stats.sent,
            "received": stats.received,
        },
    )


def assess_jitter(current: Session, max_jitter_ms: float) -> CheckResult:
    name = "probe.jitter"
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    if stats.jitter_ms is None:
        return skip(name, f"too few STAMP replies from {current.where} to estimate jitter")
    summary = f"jitter {stats.jitter_ms:.2f} ms (RFC 3550 estimator over {stats.received} replies)"
    status = _verdict(stats.jitter_ms, max_jitter_ms)
    if status is Status.FAIL:
        summary = f"jitter too high: {summary}, limit {max_jitter_ms:g} ms"
    return CheckResult(
        name, status, summary, observed=stats.jitter_ms, threshold=max_jitter_ms, unit="ms"
    )


def assess_loss(current: Session, max_loss_pct: float) -> CheckResult:
    name = "probe.loss"
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    loss = round(stats.loss_pct, 2)
    summary = (
        f"{loss:g}% lost ({stats.lost} of {stats.sent}), {stats.duplicates} duplicated,"
        f" {stats.reordered} reordered"
    )
    status = _verdict(loss, max_loss_pct)
    if stats.received == 0:
        summary = _no_replies(current)
    elif status is Status.FAIL:
        summary = f"packet loss too high: {summary}, limit {max_loss_pct:g}%"
    return CheckResult(
        name,
        status,
        summary,
        observed=loss,
        threshold=max_loss_pct,
        unit="%",
        details={
            "sent": stats.sent,
            "lost": stats.lost,
            "duplicates": stats.duplicates,
            "reordered": stats.reordered,
        },
    )


def check_rtt(ctx: CheckContext) -> CheckResult:
    return assess_rtt(session(ctx), ctx.config.policy.max_rtt_ms)


def check_jitter(ctx: CheckContext) -> CheckResult:
    return assess_jitter(session(ctx), ctx.config.policy.max_jitter_ms)


def check_loss(ctx: CheckContext) -> CheckResult:
    return assess_loss(session(ctx), ctx.config.policy.max_loss_pct)
