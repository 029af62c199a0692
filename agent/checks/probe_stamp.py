"""probe.rtt, probe.jitter, probe.loss: one RFC 8762 STAMP session to the responder, three verdicts.

The session (``probe.stamp_packets`` packets, ``probe.stamp_interval_ms`` apart,
DSCP EF) runs once per chain; the three checks read its statistics. The
service judges each figure over the window of recent sessions with hysteresis
(``stamp_window``); the one-shot commands (netcheck, diagnose) have no history
and judge the session they just measured, and say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agent.checks.base import CheckContext
from agent.checks.net_common import bracket, host_address, progress, skip
from agent.checks.stamp_history import StampHistory
from agent.checks.stamp_window import (
    JITTER,
    LOSS,
    RTT,
    Figure,
    Judgement,
    SessionRecord,
    jitter_figure,
    judge,
    judge_now,
    loss_figure,
    rtt_figure,
)
from agent.net.route import os_error_words
from agent.net.stamp import StampStats, run_session
from agent.output import iso_utc
from agent.result import CheckResult, Status

NO_RESPONDER = "mcu.host not configured"  # nor probe.host: the path is not configured yet


@dataclass(frozen=True)
class Session:
    where: str  # "[address]:port" of the reflector
    stats: StampStats | None
    error: str | None = None  # why there was no session (skip or fail reason)
    failed: bool = False  # error is a failure, not merely "not configured"
    # The recorded sessions judged, oldest first, ending with this one; None in a one-shot run.
    window: list[SessionRecord] | None = None
    failing: frozenset[str] = field(default_factory=frozenset)  # verdicts that were fail before
    window_packets: int = 0  # policy.window_packets, with ``window``


def record_of(stats: StampStats, at: float) -> SessionRecord:
    return SessionRecord(at, stats.sent, stats.received, stats.rtt_avg_ms, stats.jitter_ms)


def _run(ctx: CheckContext) -> Session:
    target = ctx.config.probe_target
    if target is None:
        return Session("", None, NO_RESPONDER)
    probe = ctx.config.probe
    port = probe.stamp_port
    address = host_address(ctx, target.host)
    if address is None:
        return Session(f"{target.host}:{port}", None, f"responder {target.host} has no IPv6 address", failed=True)
    where = f"{bracket(address)}:{port}"
    report = progress(ctx)
    try:
        stats = run_session(
            address,
            port,
            probe.stamp_packets,
            probe.stamp_interval_ms / 1000,
            progress=lambda n, total: report("probe.rtt", f"STAMP {n}/{total} to {where}"),
        )
    except OSError as err:
        return Session(where, None, f"STAMP to {where}: {os_error_words(err)}", failed=True)
    history = history_of(ctx)
    if history is None:
        return Session(where, stats)
    failing = frozenset(history.failing)
    history.add(record_of(stats, time.time()), ctx.config.policy.window_packets)
    return Session(where, stats, window=list(history.sessions), failing=failing,
                   window_packets=ctx.config.policy.window_packets)


def history_of(ctx: CheckContext) -> StampHistory | None:
    """The recorded sessions, when this run keeps history (the service); else None."""
    state_dir = ctx.state_dir
    if state_dir is None:
        return None
    return ctx.memo("net.stamp.history", lambda: StampHistory.load(state_dir))


def session(ctx: CheckContext) -> Session:
    return ctx.memo("net.stamp", lambda: _run(ctx))


def _without_stats(name: str, current: Session) -> CheckResult:
    if current.failed:
        return CheckResult(name, Status.FAIL, current.error or "no STAMP session", code="stamp.failed",
                           params={"error": current.error or "no STAMP session"})
    return skip(name, current.error or "no STAMP session")


def _no_replies(current: Session) -> str:
    assert current.stats is not None
    return (
        f"no STAMP reply from {current.where} to {current.stats.sent} packets:"
        " responder down or UDP blocked on the way"
    )


def _no_reply_params(current: Session) -> dict[str, Any]:
    assert current.stats is not None
    return {"where": current.where, "sent": current.stats.sent}


def _figure_params(current: Session, verdict: Judgement, limit: float) -> dict[str, Any]:
    """What a STAMP figure's sentence names: the deciding value, the limit, the responder."""
    value = verdict.value
    return {"value": None if value is None else round(value, 2), "limit": limit, "where": current.where,
            "decided_by": verdict.decided_by}


def _judged(
    name: str,
    current: Session,
    figure_of: Callable[[list[SessionRecord], int], Figure],
    limit: float,
    hysteresis: float,
) -> tuple[Figure, Judgement]:
    """The figure and its verdict: over the window in the service, over this session one-shot."""
    assert current.stats is not None
    total_loss = current.stats.received == 0
    if current.window is None:
        figure = figure_of([record_of(current.stats, 0.0)], 0)
        if total_loss or figure.session is None:
            return figure, judge(figure, limit, hysteresis, False, total_loss=total_loss)
        return figure, judge_now(figure.session, limit)
    figure = figure_of(current.window, current.window_packets)
    return figure, judge(figure, limit, hysteresis, name in current.failing, total_loss=total_loss)


def _fmt(value: float | None, digits: int) -> str:
    return "none" if value is None else f"{value:.{digits}f}"


def _basis(
    figure: Figure, verdict: Judgement, limit: float, unit: str, digits: int, young: str = ""
) -> str:
    """Which figure decided, in words: "" for a one-shot run (the summary says "this session")."""
    if verdict.decided_by == "session":
        return ""
    since = iso_utc(figure.since) if figure.since else "?"
    text = (
        f"; over the last {figure.packets} packets ({figure.sessions} sessions since {since}):"
        f" {young}{_fmt(verdict.value, digits)}{unit}"
    )
    if verdict.status is Status.FAIL and verdict.mark < limit:
        text += f", ok again at or under {verdict.mark:g}{unit}"
    return text


def _window_details(figure: Figure, verdict: Judgement, limit: float) -> dict[str, Any]:
    return {
        "session_value": figure.session,
        "window_value": figure.window,
        "window_packets": figure.packets,
        "window_sessions": figure.sessions,
        "window_since": iso_utc(figure.since) if figure.since else None,
        "decided_by": verdict.decided_by,
        "limit": limit,
        "mark": verdict.mark,
    }


def _one_shot(current: Session) -> str:
    return " (this session only)" if current.window is None else ""


def assess_rtt(current: Session, max_rtt_ms: float, hysteresis: float = 0.8) -> CheckResult:
    name = RTT
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    figure, verdict = _judged(name, current, rtt_figure, max_rtt_ms, hysteresis)
    details: dict[str, Any] = {"sent": stats.sent, "received": stats.received}
    if stats.rtt_avg_ms is None:
        return CheckResult(name, Status.FAIL, _no_replies(current), threshold=max_rtt_ms, unit="ms",
                           details={**details, **_window_details(figure, verdict, max_rtt_ms)},
                           code="stamp.no_reply", params=_no_reply_params(current))
    summary = (
        f"RTT min/avg/p95 {stats.rtt_min_ms:.1f}/{stats.rtt_avg_ms:.1f}/{stats.rtt_p95_ms:.1f} ms"
        f" to {current.where} ({stats.received} of {stats.sent} answered){_one_shot(current)}"
        f"{_basis(figure, verdict, max_rtt_ms, ' ms average', 1)}"
    )
    if verdict.status is Status.FAIL:
        summary = f"round trip too long: {summary}, limit {max_rtt_ms:g} ms"
    return CheckResult(
        name,
        verdict.status,
        summary,
        observed=verdict.value,
        threshold=max_rtt_ms,
        unit="ms",
        code="probe.rtt.too_long" if verdict.status is Status.FAIL else "probe.rtt.ok",
        params={**_figure_params(current, verdict, max_rtt_ms), "avg_ms": round(stats.rtt_avg_ms, 1),
                "p95_ms": round(stats.rtt_p95_ms, 1) if stats.rtt_p95_ms is not None else None,
                "received": stats.received, "sent": stats.sent},
        details={
            "rtt_min_ms": stats.rtt_min_ms,
            "rtt_avg_ms": stats.rtt_avg_ms,
            "rtt_p95_ms": stats.rtt_p95_ms,
            **details,
            **_window_details(figure, verdict, max_rtt_ms),
        },
    )


def assess_jitter(current: Session, max_jitter_ms: float, hysteresis: float = 0.8) -> CheckResult:
    name = JITTER
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    figure, verdict = _judged(name, current, jitter_figure, max_jitter_ms, hysteresis)
    if stats.received == 0 or verdict.value is None:  # no replies: probe.loss carries the failure
        return skip(name, f"too few STAMP replies from {current.where} to estimate jitter",
                    "check.skipped.too_few_replies", where=current.where)
    session_words = (
        f"jitter {stats.jitter_ms:.2f} ms (RFC 3550 estimator over {stats.received} replies)"
        if stats.jitter_ms is not None
        else f"too few replies ({stats.received}) in this session to estimate jitter"
    )
    summary = f"{session_words}{_one_shot(current)}{_basis(figure, verdict, max_jitter_ms, ' ms', 2)}"
    if verdict.status is Status.FAIL:
        summary = f"jitter too high: {summary}, limit {max_jitter_ms:g} ms"
    return CheckResult(
        name, verdict.status, summary, observed=verdict.value, threshold=max_jitter_ms, unit="ms",
        details={"jitter_ms": stats.jitter_ms, **_window_details(figure, verdict, max_jitter_ms)},
        code="probe.jitter.too_high" if verdict.status is Status.FAIL else "probe.jitter.ok",
        params=_figure_params(current, verdict, max_jitter_ms),
    )


def assess_loss(current: Session, max_loss_pct: float, hysteresis: float = 0.8) -> CheckResult:
    name = LOSS
    stats = current.stats
    if stats is None:
        return _without_stats(name, current)
    figure, verdict = _judged(name, current, loss_figure, max_loss_pct, hysteresis)
    loss = round(stats.loss_pct, 2)
    unit, young = "% lost", ""
    if current.window is not None and figure.packets < current.window_packets:
        # A young window: its losses count against the full window (see stamp_window).
        lost = sum(r.sent - r.received for r in current.window)
        unit, young = f"% of a {current.window_packets}-packet window", f"{lost} lost, "
    summary = (
        f"{loss:g}% lost ({stats.lost} of {stats.sent}), {stats.duplicates} duplicated,"
        f" {stats.reordered} reordered{_one_shot(current)}{_basis(figure, verdict, max_loss_pct, unit, 2, young)}"
    )
    if stats.received == 0:
        summary = _no_replies(current)
    elif verdict.status is Status.FAIL:
        summary = f"packet loss too high: {summary}, limit {max_loss_pct:g}%"
    observed = round(verdict.value, 2) if verdict.value is not None else None
    return CheckResult(
        name,
        verdict.status,
        summary,
        observed=observed,
        threshold=max_loss_pct,
        unit="%",
        code=("stamp.no_reply" if stats.received == 0
              else "probe.loss.too_high" if verdict.status is Status.FAIL else "probe.loss.ok"),
        params=(_no_reply_params(current) if stats.received == 0
                else {**_figure_params(current, verdict, max_loss_pct), "lost": stats.lost, "sent": stats.sent}),
        details={
            "sent": stats.sent,
            "lost": stats.lost,
            "duplicates": stats.duplicates,
            "reordered": stats.reordered,
            "loss_pct": loss,
            **_window_details(figure, verdict, max_loss_pct),
        },
    )


def _remember(ctx: CheckContext, result: CheckResult) -> CheckResult:
    """Keep the verdict for the next run's hysteresis (the service only)."""
    history = history_of(ctx)
    if history is not None and session(ctx).window is not None and result.status is not Status.SKIP:
        history.set_failing(result.name, result.status is Status.FAIL)
    return result


def check_rtt(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return _remember(ctx, assess_rtt(session(ctx), policy.max_rtt_ms, policy.hysteresis))


def check_jitter(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return _remember(ctx, assess_jitter(session(ctx), policy.max_jitter_ms, policy.hysteresis))


def check_loss(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return _remember(ctx, assess_loss(session(ctx), policy.max_loss_pct, policy.hysteresis))
