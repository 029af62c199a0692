"""The check framework: what a check is, the context it reads, and the runner.

A check is a small function ``(CheckContext) -> CheckResult`` registered with
a stable dotted name in ``agent.checks.REGISTRY``. The runner never lets a
check kill the agent: an exception becomes a ``fail`` result naming it, and a
check whose earlier stage failed is skipped with that stage's name.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from agent.config import AgentConfig
from agent.paths import Paths
from agent.result import CheckResult, Status

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class CheckContext:
    """What checks read: configuration, host paths, and facts shared between checks."""

    config: AgentConfig
    paths: Paths = field(default_factory=Paths)
    # The reason the running configuration was not (re)loaded, reported by the ``config`` check.
    config_error: str | None = None
    # Where checks that judge over several runs keep their history (the service: agent.state_dir);
    # None in the one-shot commands, which judge what they measure now.
    state_dir: Path | None = None
    # Results so far in this run, by name; gating reads them.
    results: dict[str, CheckResult] = field(default_factory=dict)
    # Facts computed once per run and shared by several checks (the device inventory, ...).
    _memo: dict[str, Any] = field(default_factory=dict)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per run; later checks asking for ``key`` share the value."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


CheckFunc = Callable[[CheckContext], CheckResult]


@dataclass(frozen=True)
class Check:
    name: str
    area: str  # "config", "devices", "av", "net", "mcu", "probe", "host"
    run: CheckFunc
    # Earlier checks that must not have failed; the first failed one is named in the skip.
    requires: tuple[str, ...] = ()
    # A bandwidth test: heavy on the link, so it runs rarely and never during a meeting.
    bandwidth: bool = False
    # Reads the camera or microphone (or judges with them): rare, never while the room is in use.
    av: bool = False


def against_minimum(
    name: str,
    observed: float,
    minimum: float,
    unit: str,
    summary: str,
    shortfall: str,
    *,
    below: Status = Status.FAIL,
    details: dict[str, Any] | None = None,
    code: str | None = None,
    params: dict[str, Any] | None = None,
) -> CheckResult:
    """A measured value that must be at least ``minimum`` (a policy threshold).

    ``summary`` describes the observation; when it falls short, ``shortfall`` is
    put in front and the minimum is named, so the line says what is wrong and why.
    ``code`` is the check's stem: ``<code>.ok`` or ``<code>.too_low``, with ``params``
    plus ``observed`` and ``minimum``.
    """
    ok = observed >= minimum
    if not ok:
        summary = f"{shortfall}: {summary}, need at least {minimum:g}{'' if unit == 'count' else ' ' + unit}"
    return CheckResult(
        name=name,
        status=Status.OK if ok else below,
        summary=summary,
        observed=observed,
        threshold=minimum,
        unit=unit,
        details=details or {},
        code=f"{code or name}.{'ok' if ok else 'too_low'}",
        params={**(params or {}), "observed": observed, "minimum": minimum},
    )


def skipped(name: str, reason: str, code: str = "check.skipped", **params: Any) -> CheckResult:
    """A check not run; ``code``/``params`` name the reason when it is a known one."""
    return CheckResult(name=name, status=Status.SKIP, summary=f"skipped: {reason}", code=code,
                       params=params or {"reason": reason})


def run_checks(
    checks: Iterable[Check], ctx: CheckContext, skip: dict[str, str] | None = None
) -> list[CheckResult]:
    """Run ``checks`` in order; ``skip`` maps a check name to why it is not run now."""
    skip = skip or {}
    results: list[CheckResult] = []
    for check in checks:
        result = _run_one(check, ctx, skip)
        ctx.results[check.name] = result
        results.append(result)
    return results


def _run_one(check: Check, ctx: CheckContext, skip: dict[str, str]) -> CheckResult:
    if check.name in skip:
        return skipped(check.name, skip[check.name])
    for earlier in check.requires:
        previous = ctx.results.get(earlier)
        if previous is not None and previous.status is Status.FAIL:
            return skipped(check.name, f"{earlier} failed", "check.skipped.after_failure", earlier=earlier)
    started = time.monotonic()
    try:
        result = check.run(ctx)
    except Exception as exc:  # a broken check must never stop the others
        log.exception("check=%s crashed", check.name)
        result = CheckResult(
            name=check.name,
            status=Status.FAIL,
            summary=f"check crashed: {type(exc).__name__}: {exc}",
            code="check.crashed",
            params={"error": f"{type(exc).__name__}: {exc}"},
        )
    if result.name != check.name:
        raise AssertionError(f"check {check.name} returned a result named {result.name}")
    result.details.setdefault("duration_ms", round((time.monotonic() - started) * 1000, 1))
    return result
