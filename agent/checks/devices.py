"""devices.cameras, devices.microphones, devices.speakers: what the room has against ``[policy]`` and its profile.

The three checks share one inventory per run (``ctx.memo("devices")``).
Virtual devices (v4l2loopback, snd-aloop) are listed but count only with
``policy.count_virtual``; onboard (PCI/platform) audio only with
``policy.count_onboard_audio`` or when the profile declares it. With a room
profile (``[[equipment]]``), a declared device that is not there fails the
check by its label and model, and a counted device of a declared role that
the profile does not name is a warning (drift). Reading devices from sysfs
because udev is not available is a warning: names and capture capability
are then guesses.
"""

from __future__ import annotations

from agent.checks.base import CheckContext
from agent.devices import Device, Inventory, scan
from agent.devices.equipment import Counting, EquipmentReport, match, onboard_audio, usb_id
from agent.devices.model import PLURAL
from agent.result import CheckResult, Status


def inventory(ctx: CheckContext) -> Inventory:
    return ctx.memo("devices", lambda: scan(ctx.paths))


def counting(ctx: CheckContext) -> Counting:
    return Counting(ctx.config.policy.count_virtual, ctx.config.policy.count_onboard_audio)


def equipment(ctx: CheckContext) -> EquipmentReport | None:
    """The profile against this run's inventory; None without a profile."""
    if not ctx.config.equipment:
        return None
    return ctx.memo("equipment", lambda: match(ctx.config.equipment, inventory(ctx), counting(ctx)))


def _noun(kind: str, count: int) -> str:
    return kind if count == 1 else PLURAL[kind]


def _undeclared_text(device: Device) -> str:
    ids = usb_id(device)
    return f"undeclared {device.kind}: {device.name}" + (f" ({ids})" if ids else "") + ", not in the room profile"


def assess_devices(kind: str, inv: Inventory, minimum: int, count_virtual: bool,
                   count_onboard_audio: bool = False, report: EquipmentReport | None = None) -> CheckResult:
    """The check result for one kind of device; pure, so fixture inventories test it."""
    name = f"devices.{PLURAL[kind]}"
    devices = inv.of_kind(kind)
    rules = Counting(count_virtual, count_onboard_audio)
    pairings, undeclared = report.of_kind(kind) if report is not None else ([], [])
    declared = {p.device.id for p in pairings if p.device is not None}
    counted = [d for d in devices if rules.counts(d) or d.id in declared]
    left_out = [d for d in devices if d not in counted]
    virtual = sum(1 for d in left_out if d.virtual)
    onboard = sum(1 for d in left_out if onboard_audio(d))
    listed = ", ".join(d.name + (" (in use)" if d.in_use else "") for d in counted)
    missing = [p.missing_text() for p in pairings if p.device is None]
    parts = list(missing)
    if len(counted) < minimum:
        head = f"no {kind}" if not counted else f"missing {_noun(kind, minimum - len(counted))}"
        parts.append(f"{head}: {len(counted)} of {minimum} required" + (f" ({listed})" if counted else ""))
    elif counted:
        parts.append(f"{len(counted)} {_noun(kind, len(counted))}: {listed}")
    elif not missing:
        parts.append(f"no {kind} (none required)")
    status = Status.FAIL if missing or len(counted) < minimum else Status.OK
    parts += [_undeclared_text(d) for d in undeclared]
    if virtual:
        parts.append(f"{virtual} virtual {_noun(kind, virtual)} not counted (policy.count_virtual = false)")
    if onboard:
        parts.append(f"{onboard} onboard {_noun(kind, onboard)} not counted (policy.count_onboard_audio)")
    if undeclared and status is Status.OK:
        status = Status.WARN
    if inv.warnings and status is Status.OK:
        status = Status.WARN
        parts.append(inv.warnings[0])
    # The code names the worst finding: a declared device gone, too few, drift, a guess.
    if missing:
        code = "devices.declared_missing"
    elif len(counted) < minimum:
        code = "devices.too_few"
    elif undeclared:
        code = "devices.undeclared"
    elif inv.warnings:
        code = "devices.guessed"
    else:
        code = "devices.ok"
    return CheckResult(
        name=name,
        status=status,
        summary="; ".join(parts),
        code=code,
        params={"kind": kind, "count": len(counted), "minimum": minimum, "missing": "; ".join(missing),
                "undeclared": ", ".join(d.name for d in undeclared)},
        observed=len(counted),
        threshold=minimum,
        unit="count",
        details={
            "source": inv.source,
            "devices": [d.to_json() for d in devices],
            **({"warnings": list(inv.warnings)} if inv.warnings else {}),
            **({"equipment": {"declared": [p.to_json() for p in pairings],
                              "undeclared": [d.id for d in undeclared]}} if report is not None else {}),
        },
    )


def _check(kind: str, minimum: int, ctx: CheckContext) -> CheckResult:
    policy = ctx.config.policy
    return assess_devices(kind, inventory(ctx), minimum, policy.count_virtual, policy.count_onboard_audio,
                          equipment(ctx))


def check_cameras(ctx: CheckContext) -> CheckResult:
    return _check("camera", ctx.config.policy.min_cameras, ctx)


def check_microphones(ctx: CheckContext) -> CheckResult:
    return _check("microphone", ctx.config.policy.min_microphones, ctx)


def check_speakers(ctx: CheckContext) -> CheckResult:
    return _check("speaker", ctx.config.policy.min_speakers, ctx)
