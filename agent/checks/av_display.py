"""display.connected: is a front-of-room display plugged in, and which one?

Reads the DRM connectors (``status``, ``enabled``, the EDID's monitor name
and serial) and the HDMI/DP audio ELDs; opens no device. Fails when fewer
displays are connected than ``policy.min_displays``. With a room profile that
declares displays (``role = "display"``), a declared display that is not
connected fails the check like a declared camera that is gone, and a connected
display the profile does not name is a warning (drift: another monitor).
"""

from __future__ import annotations

from agent.av.display import Connector, Eld, read_connectors, read_elds
from agent.checks.base import CheckContext
from agent.checks.devices import equipment
from agent.devices.equipment import EquipmentReport
from agent.result import CheckResult, Status

NAME = "display.connected"


def assess_displays(connectors: list[Connector] | None, elds: list[Eld], minimum: int,
                    report: EquipmentReport | None = None) -> CheckResult:
    """Pure: the verdict from the connectors (None: no DRM at all), the ELDs and the room profile."""
    connected = [c for c in connectors or [] if c.connected]
    names = {c.edid.name.casefold() for c in connected if c.edid and c.edid.name}
    # A monitor the sound card sees that no DRM connector shows (a driver without DRM
    # status, or the monitor's name only in the ELD) still counts once.
    extra = [e for e in elds if e.monitor_present and (e.monitor_name or "").casefold() not in names]
    if connected:
        extra = [e for e in extra if e.monitor_name and e.monitor_name.casefold() not in names]
    texts = [c.text() for c in connected] + [f"{e.monitor_name or 'a monitor'} on HDMI/DP audio card {e.card}"
                                             for e in extra]
    count = len(texts)
    details = {"connectors": [c.to_json() for c in connectors or []],
               "eld": [{"card": e.card, "entry": e.entry, "monitor_present": e.monitor_present,
                        "monitor_name": e.monitor_name} for e in elds]}
    if connectors is None:
        details["drm"] = "absent"
    listing = ", ".join(texts)
    pairings, undeclared = report.of_kind("display") if report is not None else ([], [])
    if pairings:
        details["equipment"] = {"declared": [p.to_json() for p in pairings],
                                "undeclared": [d.id for d in undeclared]}
    missing = [p.missing_text() for p in pairings if p.device is None]
    drift = [f"undeclared display: {d.name} on {d.connector}, not in the room profile" for d in undeclared]
    if missing or (drift and count >= minimum):
        return _against_profile(missing, drift, count, minimum, listing, details)
    if count >= minimum:
        summary = listing if texts else "no display (none required)"
        return CheckResult(NAME, Status.OK, summary, observed=count, threshold=minimum, unit="count",
                           details=details, code="display.connected",
                           params={"count": count, "displays": listing})
    where = "no DRM display driver" if connectors is None else f"{len(connectors)} connectors, none connected"
    if count == 0:
        summary = f"no display connected ({where}): display off or unplugged from the PC?"
        code = "display.none"
    else:
        summary = f"missing display: {count} of {minimum} required ({listing})"
        code = "display.too_few"
    return CheckResult(NAME, Status.FAIL, summary, observed=count, threshold=minimum, unit="count",
                       details=details, code=code, params={"count": count, "minimum": minimum, "displays": listing})


def _against_profile(missing: list[str], drift: list[str], count: int, minimum: int, listing: str,
                     details: dict[str, object]) -> CheckResult:
    """A declared display gone (fail, whatever else is connected) or another one connected (warn)."""
    parts = [*missing]
    if count < minimum:
        parts.append(f"missing display: {count} of {minimum} required")
    parts.append(listing or "no display connected")
    parts += drift
    status = Status.FAIL if missing or count < minimum else Status.WARN
    code = "display.declared_missing" if missing else "display.undeclared"
    return CheckResult(NAME, status, "; ".join(parts), observed=count, threshold=minimum, unit="count",
                       details=details, code=code,
                       params={"count": count, "minimum": minimum, "displays": listing,
                               "missing": "; ".join(missing), "undeclared": "; ".join(drift)})


def check_display_connected(ctx: CheckContext) -> CheckResult:
    return assess_displays(read_connectors(ctx.paths.sys), read_elds(ctx.paths.proc),
                           ctx.config.policy.min_displays, equipment(ctx))
