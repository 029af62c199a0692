"""devices.cameras, devices.microphones, devices.speakers: what the room has against ``[policy]``.

The three checks share one inventory per run (``ctx.memo("devices")``).
Virtual devices (v4l2loopback, snd-aloop) are listed but count only with
``policy.count_virtual``. Reading devices from sysfs because udev is not
available is a warning: names and capture capability are then guesses.
"""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.devices import Inventory, scan
from agent.devices.model import PLURAL
from agent.result import CheckResult, Status


def inventory(ctx: CheckContext) -> Inventory:
    return ctx.memo("devices", lambda: scan(ctx.paths))


def _noun(kind: str, count: int) -> str:
    return kind if count == 1 else PLURAL[kind]


def assess_devices(kind: str, inv: Inventory, minimum: int, count_virtual: bool) -> CheckResult:
    """The check result for one kind of device; pure, so fixture inventories test it."""
    name = f"devices.{PLURAL[kind]}"
    devices = inv.of_kind(kind)
    counted = [d for d in devices if count_virtual or not d.virtual]
    ignored = len(devices) - len(counted)
    listed = ", ".join(d.name + (" (in use)" if d.in_use else "") for d in counted)
    if len(counted) < minimum:
        status = Status.FAIL
        head = f"no {kind}" if not counted else f"missing {_noun(kind, minimum - len(counted))}"
        summary = f"{head}: {len(counted)} of {minimum} required"
        if counted:
            summary += f" ({listed})"
    else:
        status = Status.OK
        if counted:
            summary = f"{len(counted)} {_noun(kind, len(counted))}: {listed}"
        else:
            summary = f"no {kind} (none required)"
    if ignored:
        summary += f"; {ignored} virtual {_noun(kind, ignored)} not counted (policy.count_virtual = false)"
    if inv.warnings and status is Status.OK:
        status = Status.WARN
        summary += f"; {inv.warnings[0]}"
    return CheckResult(
        name=name,
        status=status,
        summary=summary,
        observed=len(counted),
        threshold=minimum,
        unit="count",
        details={
            "source": inv.source,
            "devices": [d.to_json() for d in devices],
            **({"warnings": list(inv.warnings)} if inv.warnings else {}),
        },
    )


def check_cameras(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return assess_devices("camera", inventory(ctx), policy.min_cameras, policy.count_virtual)


def check_microphones(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return assess_devices("microphone", inventory(ctx), policy.min_microphones, policy.count_virtual)


def check_speakers(ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return assess_devices("speaker", inventory(ctx), policy.min_speakers, policy.count_virtual)
