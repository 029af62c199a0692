"""What the camera and microphone checks share: which devices to read, ffmpeg, the input, the verdict.

A device is read only when it counts for the room (``[policy]`` counting or a
profile declaration) and is known to be idle: ``in_use`` True or None (the
agent could not tell) means it is not opened at all, whatever the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.av.capture import FFMPEG_KEY, INPUTS_KEY, find_ffmpeg
from agent.checks.base import CheckContext
from agent.checks.devices import counting, equipment, inventory
from agent.devices import Device
from agent.result import CheckResult, Status

NO_FFMPEG = "ffmpeg is not installed (apt install ffmpeg)"


def counted(ctx: CheckContext, kind: str) -> list[Device]:
    """The devices of ``kind`` the room counts, as the devices.* checks count them."""
    rules = counting(ctx)
    report = equipment(ctx)
    declared = {p.device.id for p in report.of_kind(kind)[0] if p.device is not None} if report else set()
    return [d for d in inventory(ctx).of_kind(kind) if rules.counts(d) or d.id in declared]


def ffmpeg(ctx: CheckContext) -> str | None:
    return ctx.memo(FFMPEG_KEY, find_ffmpeg)


def no_ffmpeg(name: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, f"skipped: {NO_FFMPEG}", code="av.no_ffmpeg")


def input_for(ctx: CheckContext, device: Device, default: list[str]) -> list[str]:
    """The ffmpeg input options for ``device``: the device itself unless the caller named another."""
    overrides: dict[str, list[str]] = ctx.memo(INPUTS_KEY, dict)
    return list(overrides.get(device.node, default))


@dataclass
class Outcome:
    """One device's verdict; the check's result is the worst of them."""

    device: Device
    status: Status
    code: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


def not_idle(device: Device, kind_code: str) -> Outcome | None:
    """An outcome for a device that must not be opened now, or None when it is idle."""
    if device.in_use is False:
        return None
    label = device.model or device.name
    if device.in_use:
        return Outcome(device, Status.SKIP, f"{kind_code}.in_use", f"{label}: not read, in use",
                       {"device": label})
    return Outcome(device, Status.SKIP, f"{kind_code}.in_use_unknown",
                   f"{label}: not read, cannot tell whether it is in use", {"device": label})


def combine(name: str, kind: str, outcomes: list[Outcome]) -> CheckResult:
    """The check result from per-device outcomes: worst status, its code and params, every device's text."""
    if not outcomes:
        return CheckResult(name, Status.SKIP, f"skipped: no {kind} to read", code=f"{kind}.none_to_read")
    measured = [o for o in outcomes if o.status is not Status.SKIP]
    worst = max(measured, key=lambda o: o.status.severity) if measured else outcomes[0]
    status = worst.status
    summary = "; ".join(o.text for o in outcomes)
    if status is Status.SKIP:
        summary = f"skipped: {summary}"
    return CheckResult(
        name, status, summary,
        code=worst.code, params=dict(worst.params),
        details={"devices": [{"id": o.device.id, "node": o.device.node, "status": o.status.value,
                              "code": o.code, **o.figures} for o in outcomes]},
    )
